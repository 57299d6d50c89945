/* The evaluator's KV-shared forward against the engine's own forward.
 *
 * A small random model (weights scaled up so attention is sharp and every
 * log-prob depends strongly on position and context) scores groups of
 * (prefix, continuations); each log-prob must equal the log-softmax of
 * pq_model_forward's logits on the full sequence prefix + continuation. */
#include <criterion/criterion.h>
#include <math.h>

#include "base/util.h"
#include "eval/model_lm.h"
#include "quant/qexport.h"

#include <stdio.h>
#include <unistd.h>

static pq_model_config cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48, .vocab = 50, .ctx = 16};

static pq_model *make_model(void) {
    cr_assert_eq(pq_model_config_check(&cfg), 0, "%s", pq_error());
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 1234);
    for (int64_t i = 0; i < m->n_params; i++) m->params[i] *= 6.0f;
    return m;
}

/* Reference: log P(seq[t] | seq[<t]) from the training forward. */
static void reference(pq_model *m, const int32_t *seq, int n, double *logp) {
    pq_acts *a = pq_acts_new(&m->cfg, 1, n);
    uint16_t tok[64];
    for (int i = 0; i < n; i++) tok[i] = (uint16_t)seq[i];
    pq_model_forward(m, a, tok, NULL, 1, n, 0, 0.0f);
    for (int t = 1; t < n; t++) {
        const float *row = a->logits + (size_t)(t - 1) * m->cfg.vocab;
        double mx = row[0], s = 0;
        for (int v = 1; v < m->cfg.vocab; v++) mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < m->cfg.vocab; v++) s += exp(row[v] - mx);
        logp[t] = row[seq[t]] - mx - log(s);
    }
    pq_acts_free(a);
}

static void groups_match_full_forward(void) {
    pq_model *m = make_model();
    pq_lm lm;
    pq_model_lm_init(&lm, m);
    cr_assert_eq(lm.max_len, 16);
    /* Three groups in one call: prefixes of 1, 5 and 9 tokens; continuations of
     * 1..7 tokens, the longest reaching the context length exactly. */
    int32_t p0[] = {3}, p1[] = {49, 7, 7, 12, 0}, p2[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    int32_t c00[] = {4, 5, 6}, c10[] = {8}, c11[] = {8, 9, 10, 11}, c12[] = {30, 31}, c20[] = {10, 11, 12, 13, 14, 15, 16};
    const int32_t *cont0[] = {c00}, *cont1[] = {c10, c11, c12}, *cont2[] = {c20};
    int len0[] = {3}, len1[] = {1, 4, 2}, len2[] = {7};
    double o00[3], o10[1], o11[4], o12[2], o20[7];
    double *lp0[] = {o00}, *lp1[] = {o10, o11, o12}, *lp2[] = {o20};
    pq_lm_group g[3] = {{p0, 1, 1, cont0, len0, lp0}, {p1, 5, 3, cont1, len1, lp1}, {p2, 9, 1, cont2, len2, lp2}};
    cr_assert_eq(lm.score(lm.impl, 3, g), 0, "%s", pq_error());
    double spread_lo = 0, spread_hi = -100;
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < g[k].n_cont; j++) {
            int32_t seq[32];
            int n = g[k].n_prefix + g[k].cont_len[j];
            memcpy(seq, g[k].prefix, sizeof(int32_t) * g[k].n_prefix);
            memcpy(seq + g[k].n_prefix, g[k].cont[j], sizeof(int32_t) * g[k].cont_len[j]);
            double ref[32];
            reference(m, seq, n, ref);
            for (int t = 0; t < g[k].cont_len[j]; t++) {
                double got = g[k].logp[j][t], want = ref[g[k].n_prefix + t];
                cr_assert(fabs(got - want) < 2e-4 * (1 + fabs(want)), "group %d cont %d token %d: %.6f vs %.6f", k, j, t,
                          got, want);
                spread_lo = fmin(spread_lo, want), spread_hi = fmax(spread_hi, want);
            }
        }
    /* The model is far from uniform (ln 50 = 3.9): the comparison means something. */
    cr_assert(spread_hi - spread_lo > 3.0, "log-probs span only %.3f", spread_hi - spread_lo);
    lm.free(lm.impl);
    pq_model_free(m);
}

Test(eval_model, kv_shared_groups_match_full_forward) { groups_match_full_forward(); }

/* An imported model's optional fields (issue 19): the evaluator reads theta, eps and the
 * untied head from the config as the training forward does. */
Test(eval_model, imported_fields_match_full_forward) {
    cfg.rope_theta = 500, cfg.norm_eps = 1e-3, cfg.untied_head = 1;
    cfg.rope_llama3_factor = 4, cfg.rope_llama3_low = 1, cfg.rope_llama3_high = 4, cfg.rope_llama3_orig_ctx = 8;
    groups_match_full_forward();
}

Test(eval_model, rejects_out_of_range_input) {
    pq_model *m = make_model();
    pq_lm lm;
    pq_model_lm_init(&lm, m);
    int32_t p[] = {1, 2}, c[] = {50};
    const int32_t *cont[] = {c};
    int len[] = {1};
    double o[1];
    double *lp[] = {o};
    pq_lm_group g = {p, 2, 1, cont, len, lp};
    cr_assert_eq(lm.score(lm.impl, 1, &g), -1);
    cr_assert(strstr(pq_error(), "vocabulary"), "%s", pq_error());
    int32_t longc[16] = {0};
    const int32_t *cont2[] = {longc};
    int len2[] = {16};
    double o2[16];
    double *lp2[] = {o2};
    pq_lm_group g2 = {p, 2, 1, cont2, len2, lp2};
    cr_assert_eq(lm.score(lm.impl, 1, &g2), -1);
    cr_assert(strstr(pq_error(), "context length"), "%s", pq_error());
    lm.free(lm.impl);
    pq_model_free(m);
}

/* A quantized checkpoint (quant/qexport.h) loads as the dequantized model, and
 * one whose codes disagree with its weights is refused. */
Test(eval_model, quantized_checkpoint_loads_and_is_verified) {
    pq_model *m = make_model();
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "seq", PQ_BITS_2), 0, "%s", pq_error());
    pq_ckpt *c = pq_ckpt_new();
    json_object_set_new(c->meta, "kind", json_string("model"));
    pq_model_to_ckpt(m, c);
    char names[PQ_LIN_COUNT * 2][64];
    const char *name_ptrs[PQ_LIN_COUNT * 2];
    int n = 0;
    for (int l = 0; l < cfg.n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int rows, cols;
            float *grad;
            float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, &grad);
            float *alpha = pq_malloc(sizeof(float) * rows);
            pq_quant_init_scales(&q, W, rows, cols, alpha);
            snprintf(names[n], sizeof names[n], "layers.%d.%s", l, pq_linear_name((pq_linear_id)w));
            pq_qexport_linear(c, names[n], &q, W, alpha, rows, cols);
            name_ptrs[n] = names[n];
            n++;
            free(alpha);
        }
    pq_qexport_finish(c, &q, name_ptrs, n);
    char path[128];
    snprintf(path, sizeof path, "/tmp/pq-test-evalq-%d.ckpt", (int)getpid());
    cr_assert_eq(pq_ckpt_save(c, path, 0), 0, "%s", pq_error());
    json_t *meta;
    pq_model *qm = pq_eval_load_model(path, &meta);
    cr_assert(qm, "%s", pq_error());
    cr_assert(json_object_get(meta, "quant"));
    /* The loaded block weights are the dequantized ones, not the latent ones. */
    const pq_tensor *t = pq_ckpt_find(c, "layers.0.wq");
    int rows, cols;
    float *grad;
    const float *wq = pq_model_linear(qm, 0, PQ_LIN_Q, &rows, &cols, &grad);
    cr_assert_eq(memcmp(wq, t->data, sizeof(float) * rows * cols), 0);
    int differs = memcmp(wq, pq_model_linear(m, 0, PQ_LIN_Q, &rows, &cols, &grad), sizeof(float) * rows * cols) != 0;
    cr_assert(differs);
    json_decref(meta);
    pq_model_free(qm);
    /* Tamper with one packed code byte. */
    pq_tensor *codes = (pq_tensor *)pq_ckpt_find(c, "layers.1.w_up.qcodes");
    cr_assert(codes);
    ((uint8_t *)codes->data)[3] ^= 0x1;
    cr_assert_eq(pq_ckpt_save(c, path, 0), 0);
    cr_assert_null(pq_eval_load_model(path, NULL));
    cr_assert(strstr(pq_error(), path), "%s", pq_error());
    remove(path);
    pq_ckpt_free(c);
    pq_model_free(m);
}
