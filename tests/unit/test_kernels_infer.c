/* The packed-weight decoder against the fake-quant training forward pass.
 *
 * A tiny model is quantized with core/quant (RTN at each ParetoQ bit width: the
 * checkpoint holds the codes and scales, the model holds α·q̂), then decoded one
 * token at a time with the KV cache; the logits at every position must match
 * pq_model_logits on the whole sequence:
 *   fp32 activations: |Δ| ≤ 1e-4 · (1 + max|logit|)
 *   int8 activations: |Δ| ≤ 0.15 · (1 + max|logit|) and the same argmax at ≥ 75% of positions
 *   (per-token int8 rounding of every linear's input, compounded over the layers
 *   of a model with deliberately large weights, measured at 6-11%; the int8
 *   kernels themselves are tested bit-exact in test_kernels_gemv.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "kernels/infer.h"
#include "model/model.h"
#include "quant/ptq.h"

#define T 12
#define LONG_T 90 /* attention scores go 64 positions at a time, then 16 at a time: both, and a partial pass */

static const pq_model_config tiny = PQ_MODEL_SHAPE(64, 2, 4, 2, 96, 300, 96);

static void tokens_for(uint16_t *tok, int n) {
    for (int t = 0; t < n; t++) tok[t] = (uint16_t)((t * 37 + 11) % tiny.vocab);
}

/* Max |Δ| / (1 + max|ref|) over the first n positions, and the fraction of equal argmax. */
static void compare(pq_infer *inf, const float *ref, int n, double *err, double *agree) {
    uint16_t tok[LONG_T];
    tokens_for(tok, n);
    pq_infer_reset(inf);
    *err = 0, *agree = 0;
    int V = tiny.vocab;
    for (int t = 0; t < n; t++) {
        const float *lg = pq_infer_step(inf, tok[t]);
        cr_assert_not_null(lg, "%s", pq_error());
        const float *r = ref + (size_t)t * V;
        double mx = 0, d = 0;
        int a1 = 0, a2 = 0;
        for (int v = 0; v < V; v++) {
            mx = fmax(mx, fabs(r[v]));
            d = fmax(d, fabs(r[v] - lg[v]));
            if (r[v] > r[a1]) a1 = v;
            if (lg[v] > lg[a2]) a2 = v;
        }
        *err = fmax(*err, d / (1 + mx));
        *agree += (a1 == a2) / (double)n;
    }
}

static void check_bits(const char *bits_text) {
    pq_model *m = pq_model_new(&tiny);
    pq_model_init(m, 42);
    /* bigger-than-init weights so the logits are not all near zero */
    for (int64_t i = 0; i < m->n_params; i++) m->params[i] *= 4.0f;
    pq_qbits bits;
    cr_assert_eq(pq_qbits_parse(bits_text, &bits), 0);
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "paretoq", bits), 0, "%s", pq_error());
    pq_ckpt *c = pq_ptq_rtn(m, &q, NULL); /* m now holds the fake-quant weights */
    cr_assert_not_null(c, "%s", pq_error());
    pq_acts *a = pq_acts_new(&tiny, 1, T);
    uint16_t tok[T];
    tokens_for(tok, T);
    float *ref = pq_malloc((size_t)T * tiny.vocab * sizeof(float));
    pq_model_logits(m, a, tok, T, ref);

    for (int act = 0; act < 2; act++)
        for (int t16 = 0; t16 <= (q.levels == 3); t16++) {
            pq_infer_options o = pq_infer_defaults();
            o.act = (pq_act_kind)act;
            o.ternary_1_6 = t16;
            pq_infer *inf = pq_infer_from_ckpt(c, "tiny", &o);
            cr_assert_not_null(inf, "%s", pq_error());
            cr_assert_neq(strcmp(pq_infer_format(inf), "f32"), 0, "the linears must be packed");
            double err, agree;
            compare(inf, ref, T, &err, &agree);
            if (act == PQ_ACT_F32) {
                cr_assert(err <= 1e-4, "%s bits, %s, fp32 activations: error %g", bits_text, pq_infer_format(inf), err);
            } else {
                cr_assert(err <= 0.15, "%s bits, %s, int8 activations: error %g", bits_text, pq_infer_format(inf), err);
                cr_assert(agree >= 0.75, "%s bits: argmax agrees at %.0f%% of positions", bits_text, 100 * agree);
            }
            pq_infer_free(inf);
        }
    free(ref);
    pq_acts_free(a);
    pq_ckpt_free(c);
    pq_model_free(m);
}

Test(kernels_infer, matches_fake_quant_forward_1bit) { check_bits("1"); }
Test(kernels_infer, matches_fake_quant_forward_ternary) { check_bits("1.58"); }
Test(kernels_infer, matches_fake_quant_forward_2bit) { check_bits("2"); }
Test(kernels_infer, matches_fake_quant_forward_3bit) { check_bits("3"); }
Test(kernels_infer, matches_fake_quant_forward_4bit) { check_bits("4"); }

/* A full-precision checkpoint of a model built from cfg, after checking that
 * its fp32 decode matches the forward over LONG_T positions (attention has
 * register paths for head dimensions 32, 64 and 128, and a generic one). */
static pq_ckpt *checked_fp32_ckpt(const pq_model_config *cfg) {
    pq_model *m = pq_model_new(cfg);
    pq_model_init(m, 7);
    pq_ckpt *c = pq_ckpt_new();
    pq_model_to_ckpt(m, c);
    pq_acts *a = pq_acts_new(cfg, 1, LONG_T);
    uint16_t tok[LONG_T];
    tokens_for(tok, LONG_T);
    float *ref = pq_malloc((size_t)LONG_T * cfg->vocab * sizeof(float));
    pq_model_logits(m, a, tok, LONG_T, ref);
    pq_infer *inf = pq_infer_from_ckpt(c, "fp", NULL);
    cr_assert_not_null(inf, "%s", pq_error());
    cr_assert_str_eq(pq_infer_format(inf), "f32");
    double err, agree;
    compare(inf, ref, LONG_T, &err, &agree);
    cr_assert(err <= 1e-4, "head dim %d: fp32 decode error %g over %d positions", cfg->dim / cfg->n_heads, err, LONG_T);
    pq_infer_free(inf);
    free(ref);
    pq_acts_free(a);
    pq_model_free(m);
    return c;
}

Test(kernels_infer, fp32_decode_matches_forward_at_each_head_dim) {
    const pq_model_config cfgs[] = {PQ_MODEL_SHAPE(128, 2, 4, 2, 256, 300, 96), PQ_MODEL_SHAPE(128, 2, 2, 1, 256, 300, 96),
                                    PQ_MODEL_SHAPE(256, 2, 2, 1, 512, 300, 96)};
    for (size_t i = 0; i < PQ_COUNT(cfgs); i++) pq_ckpt_free(checked_fp32_ckpt(&cfgs[i])); /* head dims 32, 64, 128 */
}

Test(kernels_infer, full_precision_checkpoint_and_errors) {
    pq_ckpt *c = checked_fp32_ckpt(&tiny);
    pq_infer *inf = pq_infer_from_ckpt(c, "fp", NULL);
    cr_assert_not_null(inf, "%s", pq_error());
    /* the context fills up; a bad token is refused */
    cr_assert_null(pq_infer_step(inf, tiny.vocab));
    cr_assert(strstr(pq_error(), "outside the vocabulary") != NULL);
    while (pq_infer_pos(inf) < tiny.ctx) cr_assert_not_null(pq_infer_step(inf, 1));
    cr_assert_null(pq_infer_step(inf, 1));
    cr_assert(strstr(pq_error(), "context") != NULL, "%s", pq_error());
    pq_infer_free(inf);
    /* a checkpoint missing a tensor names it */
    pq_ckpt *bad = pq_ckpt_new();
    json_object_set_new(bad->meta, "model", json_object_get(c->meta, "model") ? json_deep_copy(json_object_get(c->meta, "model")) : json_null());
    for (int i = 0; i < c->count; i++)
        if (strcmp(c->tensors[i].name, "layers.1.w_up") != 0)
            pq_ckpt_add(bad, c->tensors[i].name, c->tensors[i].dtype, c->tensors[i].ndim, c->tensors[i].dims, c->tensors[i].data);
    cr_assert_null(pq_infer_from_ckpt(bad, "bad.ckpt", NULL));
    cr_assert(strstr(pq_error(), "bad.ckpt") && strstr(pq_error(), "layers.1.w_up"), "%s", pq_error());
    pq_ckpt_free(bad);
    pq_ckpt_free(c);
}

/* A copy of c (metadata and every tensor). */
static pq_ckpt *copy_ckpt(const pq_ckpt *c) {
    pq_ckpt *d = pq_ckpt_new();
    json_object_update(d->meta, c->meta);
    for (int i = 0; i < c->count; i++)
        pq_ckpt_add(d, c->tensors[i].name, c->tensors[i].dtype, c->tensors[i].ndim, c->tensors[i].dims, c->tensors[i].data);
    return d;
}

/* pq_infer_take_ckpt builds the decoder pq_infer_from_ckpt builds (the same logits,
 * bit for bit, at every position) and leaves no tensor data in the checkpoint. */
static void take_matches_copy(pq_ckpt *c, const char *what) {
    pq_ckpt *d = copy_ckpt(c);
    pq_infer *copied = pq_infer_from_ckpt(c, what, NULL), *taken = pq_infer_take_ckpt(d, what, NULL);
    cr_assert(copied && taken, "%s", pq_error());
    cr_expect_str_eq(pq_infer_format(copied), pq_infer_format(taken));
    cr_expect_eq(pq_infer_head_b8(copied), pq_infer_head_b8(taken));
    for (int i = 0; i < d->count; i++)
        cr_expect(d->tensors[i].numel == 0 && d->tensors[i].data == NULL, "%s: '%s' left in the checkpoint", what,
                  d->tensors[i].name);
    cr_expect_neq(json_object_get(d->meta, "model"), NULL, "%s: the metadata stays", what);
    uint16_t tok[LONG_T];
    tokens_for(tok, LONG_T);
    for (int t = 0; t < LONG_T; t++) {
        const float *a = pq_infer_step(copied, tok[t]), *b = pq_infer_step(taken, tok[t]);
        cr_assert(a && b, "%s", pq_error());
        cr_assert_eq(memcmp(a, b, sizeof(float) * tiny.vocab), 0, "%s: logits differ at position %d", what, t);
    }
    pq_infer_free(copied), pq_infer_free(taken);
    pq_ckpt_free(d);
}

Test(kernels_infer, take_ckpt_is_the_same_decoder) {
    pq_ckpt *fp = checked_fp32_ckpt(&tiny);
    take_matches_copy(fp, "fp32");
    pq_model *m = pq_model_new(&tiny);
    pq_model_init(m, 42);
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "paretoq", PQ_BITS_2), 0, "%s", pq_error());
    pq_ckpt *c2 = pq_ptq_rtn(m, &q, NULL);
    cr_assert_not_null(c2, "%s", pq_error());
    take_matches_copy(c2, "2-bit");
    pq_ckpt_free(c2), pq_ckpt_free(fp);
    pq_model_free(m);
}

/* Random models: the int8 head and the decode measurement work. */
Test(kernels_infer, random_model_decodes) {
    pq_infer_options o = pq_infer_defaults();
    o.head_b8 = 1;
    pq_infer *inf = pq_infer_random(&tiny, PQ_FMT_B2, &o, 3);
    cr_assert_not_null(inf);
    json_t *r = pq_infer_measure(inf, 4, 4);
    cr_assert(json_real_value(json_object_get(r, "tokens_per_s")) > 0);
    cr_assert_str_eq(json_string_value(json_object_get(r, "head")), "b8");
    json_decref(r);
    pq_infer_free(inf);
}

/* Threads split rows of the GEMVs and KV heads of attention: every output is
 * still computed by one thread in one order, so logits are bitwise equal. A
 * model large enough that its GEMVs do split (PQ_PAR_MIN_BYTES). */
Test(kernels_infer, threads_do_not_change_logits) {
    const pq_model_config wide = PQ_MODEL_SHAPE(384, 2, 6, 3, 1024, 300, 32);
    pq_infer_options o = pq_infer_defaults();
    pq_infer *a = pq_infer_random(&wide, PQ_FMT_B8, &o, 5), *b = pq_infer_random(&wide, PQ_FMT_B8, &o, 5);
    cr_assert(a && b, "%s", pq_error());
    pq_infer_set_threads(a, 1);
    pq_infer_set_threads(b, 3);
    for (int t = 0; t < 20; t++) {
        const float *la = pq_infer_step(a, (t * 7 + 1) % wide.vocab), *lb = pq_infer_step(b, (t * 7 + 1) % wide.vocab);
        cr_assert(la && lb);
        cr_assert(memcmp(la, lb, wide.vocab * sizeof(float)) == 0, "step %d: logits differ with 3 threads", t);
    }
    pq_infer_free(a);
    pq_infer_free(b);
}

/* The int8 head is the default where the decode already runs int8 activations
 * through packed linears; fp32 activations keep the exact fp32 head. */
Test(kernels_infer, head_default_follows_the_activations) {
    pq_infer_options o = pq_infer_defaults();
    cr_assert_eq(o.head_b8, -1);
    pq_infer *q8 = pq_infer_random(&tiny, PQ_FMT_B2, &o, 3);
    o.act = PQ_ACT_F32;
    pq_infer *f32 = pq_infer_random(&tiny, PQ_FMT_B2, &o, 3);
    pq_infer *fp = pq_infer_random(&tiny, -1, NULL, 3);
    o.act = PQ_ACT_Q8, o.head_b8 = 0;
    pq_infer *asked = pq_infer_random(&tiny, PQ_FMT_B2, &o, 3);
    cr_assert(q8 && f32 && fp && asked);
    cr_assert_eq(pq_infer_head_b8(q8), 1);
    cr_assert_eq(pq_infer_head_b8(f32), 0);
    cr_assert_eq(pq_infer_head_b8(fp), 0, "an fp32 checkpoint decodes exactly");
    cr_assert_eq(pq_infer_head_b8(asked), 0);
    pq_infer_free(q8), pq_infer_free(f32), pq_infer_free(fp), pq_infer_free(asked);
}

/* The head check compares the two heads on the same hidden states and leaves the head as it was. */
Test(kernels_infer, head_accuracy_reports_and_restores) {
    pq_infer_options o = pq_infer_defaults();
    o.head_b8 = 0;
    pq_infer *m = pq_infer_random(&tiny, PQ_FMT_B4, &o, 9);
    cr_assert_not_null(m);
    int32_t text[150]; /* longer than the context of 96: two windows */
    for (int i = 0; i < 150; i++) text[i] = (i * 53 + 7) % tiny.vocab;
    json_t *a = pq_infer_head_accuracy(m, text, 150);
    cr_assert_not_null(a, "%s", pq_error());
    cr_assert_eq(json_integer_value(json_object_get(a, "positions")), 150);
    cr_assert_eq(json_integer_value(json_object_get(a, "next_tokens_scored")), 148);
    double agree = json_real_value(json_object_get(a, "top1_agreement"));
    double rel = json_real_value(json_object_get(a, "max_logit_diff_over_max_logit"));
    cr_assert(agree >= 0.5 && agree <= 1.0, "agreement %g", agree);
    cr_assert(rel > 0.0 && rel < 0.05, "int8 head: max difference %g of the largest logit", rel);
    cr_assert_eq(pq_infer_head_b8(m), 0);
    json_decref(a);
    text[3] = tiny.vocab; /* outside the vocabulary */
    cr_assert_null(pq_infer_head_accuracy(m, text, 10));
    cr_assert_eq(pq_infer_head_b8(m), 0);
    pq_infer_free(m);
}
