/* QAT hook tests: the model under the hook computes with α·q̂(W/α) in every
 * block linear (and nothing else), the hook's gradients are the quantizer's
 * backward applied to the model's exact dL/dW_eff, dL/dα matches a finite
 * difference through the whole model, and the export reproduces the forward. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/model.h"
#include "quant/qat.h"
#include "quant/qat_bench.h"
#include "quant/qexport.h"

static pq_model_config tiny(void) {
    pq_model_config c = {.dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 24, .vocab = 13, .ctx = 8};
    return c;
}

enum { B = 2, T = 8 };

static void batch(uint16_t *x, uint16_t *y) {
    for (int i = 0; i < B * T; i++) x[i] = (uint16_t)((i * 7 + 3) % 13), y[i] = (uint16_t)((i * 5 + 1) % 13);
}

static pq_quantizer make(const char *name, pq_qbits bits) {
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, name, bits), 0, "%s", pq_error());
    return q;
}

/* Runs forward+backward of the hooked model; returns the loss. */
static double step(pq_model *m, pq_acts *a) {
    uint16_t x[B * T], y[B * T];
    batch(x, y);
    pq_model_refresh_weights(m);
    pq_model_zero_grads(m);
    double loss = pq_model_forward(m, a, x, y, B, T, 1, 1.0f / (B * T));
    pq_model_backward(m, a, x);
    pq_model_finish_grads(m);
    return loss;
}

static void check_member(const char *name, pq_qbits bits) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg), *ref = pq_model_new(&cfg);
    pq_model_init(m, 5);
    memcpy(ref->params, m->params, sizeof(float) * m->n_params);
    pq_acts *a = pq_acts_new(&cfg, B, T);
    pq_quantizer q = make(name, bits);
    pq_qat *qa = pq_qat_new(m, &q);
    cr_assert_eq(m->hook, &qa->hook);
    /* perturb the scales so that some weights clip */
    for (int64_t k = 0; k < qa->n_alpha; k++) qa->alpha[k] *= 0.8f + 0.01f * (float)(k % 7);
    memset(qa->dalpha, 0, sizeof(float) * qa->n_alpha);
    double loss = step(m, a);

    /* Reference: a plain model whose block linears hold α·q̂(W/α) gives the same loss and dL/dW_eff. */
    float *alpha = malloc(sizeof(float) * qa->n_alpha);
    memcpy(alpha, qa->alpha, sizeof(float) * qa->n_alpha);
    for (int l = 0; l < cfg.n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int rows, cols;
            float *Wr = pq_model_linear(ref, l, (pq_linear_id)w, &rows, &cols, NULL);
            const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
            pq_quant_forward(&q, W, alpha + qa->offset[l * PQ_LIN_COUNT + w], rows, cols, Wr);
        }
    uint16_t x[B * T], y[B * T];
    batch(x, y);
    pq_model_zero_grads(ref);
    double ref_loss = pq_model_forward(ref, a, x, y, B, T, 1, 1.0f / (B * T));
    pq_model_backward(ref, a, x);
    cr_expect_eq(loss, ref_loss, "%s: hooked loss %.9g vs reference %.9g", name, loss, ref_loss);

    /* Non-linear tensors (embedding, norms) get the same gradient; linears get the quantizer's backward. */
    float *dalpha = calloc((size_t)qa->n_alpha, sizeof(float));
    for (int t = 0; t < m->n_tensors; t++) {
        const pq_model_tensor *mt = &m->tensors[t], *rt = &ref->tensors[t];
        int is_linear = 0;
        for (int l = 0; l < cfg.n_layers; l++)
            for (int w = 0; w < PQ_LIN_COUNT; w++) {
                int rows, cols;
                if (pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL) == mt->param) {
                    is_linear = 1;
                    float *dW = calloc((size_t)rows * cols, sizeof(float));
                    pq_quant_backward(&q, mt->param, alpha + qa->offset[l * PQ_LIN_COUNT + w], rows, cols, rt->grad, dW,
                                      dalpha + qa->offset[l * PQ_LIN_COUNT + w]);
                    for (int64_t k = 0; k < mt->numel; k++)
                        cr_assert_float_eq(mt->grad[k], dW[k], 1e-6 + 1e-4 * fabsf(dW[k]), "%s %s[%lld]", name, mt->name, (long long)k);
                    free(dW);
                }
            }
        if (!is_linear)
            for (int64_t k = 0; k < mt->numel; k++)
                cr_assert_float_eq(mt->grad[k], rt->grad[k], 1e-6 + 1e-4 * fabsf(rt->grad[k]), "%s %s", name, mt->name);
    }
    for (int64_t k = 0; k < qa->n_alpha; k++)
        cr_assert_float_eq(qa->dalpha[k], dalpha[k], 1e-7 + 1e-4 * fabsf(dalpha[k]), "%s dalpha[%lld]", name, (long long)k);
    if (!q.learned)
        for (int64_t k = 0; k < qa->n_alpha; k++) cr_assert_eq(qa->dalpha[k], 0.0f);

    /* The export stores exactly the weights the forward used. */
    pq_ckpt *c = pq_qat_export(qa);
    cr_assert_eq(pq_qexport_verify(c, "export"), 0, "%s", pq_error());
    for (int l = 0; l < cfg.n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            char nm[64];
            snprintf(nm, sizeof nm, "layers.%d.%s", l, pq_linear_name((pq_linear_id)w));
            int rows, cols;
            const float *Wr = pq_model_linear(ref, l, (pq_linear_id)w, &rows, &cols, NULL);
            const float *We = pq_ckpt_find(c, nm)->data;
            /* by value: the forward may give -0 where the codes give +0 */
            for (int k = 0; k < rows * cols; k++) cr_assert_eq(We[k], Wr[k], "%s %s[%d]", name, nm, k);
        }
    /* ... and a plain model loaded from it computes the hooked model's loss. */
    pq_model *back = pq_model_new(&cfg);
    cr_assert_eq(pq_model_from_ckpt(back, c, "export"), 0, "%s", pq_error());
    double back_loss = pq_model_forward(back, a, x, y, B, T, 0, 0);
    cr_expect_eq(back_loss, loss);
    pq_model_free(back);
    pq_ckpt_free(c);

    free(alpha), free(dalpha);
    pq_qat_free(qa);
    cr_expect_null(m->hook);
    pq_acts_free(a);
    pq_model_free(m), pq_model_free(ref);
}

Test(qat, hook_matches_reference_every_member) {
    check_member("sign", PQ_BITS_1);
    check_member("seq", PQ_BITS_TERNARY);
    check_member("seq", PQ_BITS_2);
    check_member("lsq", PQ_BITS_3);
    check_member("lsq", PQ_BITS_4);
    check_member("minmax", PQ_BITS_2);
    check_member("clip", PQ_BITS_4);
    check_member("absmean", PQ_BITS_TERNARY);
    check_member("int8", PQ_BITS_8);
}

/* dL/dα through the whole model equals the finite difference of the loss in α
 * with q̂'s rounding frozen (the LSQ estimator): W_eff = W + α·(q̂ − u) inside
 * the clip, α·p outside. Checked for one row of a few linears. */
Test(qat, dalpha_matches_finite_difference_through_model) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg), *ref = pq_model_new(&cfg);
    pq_model_init(m, 9);
    pq_acts *a = pq_acts_new(&cfg, B, T);
    pq_quantizer q = make("lsq", PQ_BITS_3);
    pq_qat *qa = pq_qat_new(m, &q);
    memset(qa->dalpha, 0, sizeof(float) * qa->n_alpha);
    step(m, a);
    uint16_t x[B * T], y[B * T];
    batch(x, y);
    const int probes[][3] = {{0, PQ_LIN_Q, 1}, {1, PQ_LIN_DOWN, 3}, {0, PQ_LIN_UP, 0}, {1, PQ_LIN_O, 5}};
    for (size_t p = 0; p < PQ_COUNT(probes); p++) {
        int l = probes[p][0], w = probes[p][1], r = probes[p][2], rows, cols;
        const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
        const int64_t off = qa->offset[l * PQ_LIN_COUNT + w];
        double L[2];
        const double h = 1e-2;
        for (int sgn = 0; sgn < 2; sgn++) {
            memcpy(ref->params, m->params, sizeof(float) * m->n_params);
            for (int ll = 0; ll < cfg.n_layers; ll++)
                for (int ww = 0; ww < PQ_LIN_COUNT; ww++) {
                    int rr, cc;
                    float *Wr = pq_model_linear(ref, ll, (pq_linear_id)ww, &rr, &cc, NULL);
                    const float *Wm = pq_model_linear(m, ll, (pq_linear_id)ww, &rr, &cc, NULL);
                    pq_quant_forward(&q, Wm, qa->alpha + qa->offset[ll * PQ_LIN_COUNT + ww], rr, cc, Wr);
                }
            float *Wr = pq_model_linear(ref, l, (pq_linear_id)w, &rows, &cols, NULL);
            const float a0 = qa->alpha[off + r];
            const double da = sgn ? -h : h;
            for (int j = 0; j < cols; j++) {
                float u = W[(size_t)r * cols + j] / a0;
                double e = u < q.qn ? q.qn : u > q.qp ? q.qp : (double)rintf(u) - u;
                /* W_eff(α) = W + α·(q̂ − u) inside: d/dα = q̂ − u; outside α·p: d/dα = p */
                Wr[(size_t)r * cols + j] = (float)((double)Wr[(size_t)r * cols + j] + da * e);
            }
            L[sgn] = pq_model_forward(ref, a, x, y, B, T, 0, 0);
        }
        double fd = (L[0] - L[1]) / (2 * h) / sqrt((double)rows * cols * q.grad_qp);
        cr_expect(fabs(fd - qa->dalpha[off + r]) < 1e-2 * fabs(fd) + 1e-7, "layer %d %s row %d: fd %g vs %g", l,
                  pq_linear_name((pq_linear_id)w), r, fd, qa->dalpha[off + r]);
    }
    pq_qat_free(qa);
    pq_acts_free(a);
    pq_model_free(m), pq_model_free(ref);
}

Test(qat, report_and_state_round_trip) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 2);
    float *fp = malloc(sizeof(float) * m->n_params);
    memcpy(fp, m->params, sizeof(float) * m->n_params);
    pq_quantizer q = make("seq", PQ_BITS_2);
    pq_qat *qa = pq_qat_new(m, &q);
    /* unchanged latent weights: rel_l1 = 0, the quantized ones differ */
    json_t *r = pq_qat_report(qa, fp, 1);
    cr_assert_eq(json_array_size(r), (size_t)(cfg.n_layers * PQ_LIN_COUNT));
    json_t *o = json_array_get(r, 3);
    cr_expect_eq(json_real_value(json_object_get(o, "rel_l1")), 0.0);
    cr_expect_gt(json_real_value(json_object_get(o, "rel_l1_quantized")), 0.01);
    cr_expect_str_eq(json_string_value(json_object_get(o, "which")), "wo");
    cr_expect_eq(json_array_size(json_object_get(o, "alpha")), (size_t)cfg.dim);
    json_decref(r);
    /* move one latent linear by 10%: its rel_l1 is 0.1 */
    int rows, cols;
    float *W = pq_model_linear(m, 1, PQ_LIN_UP, &rows, &cols, NULL);
    for (int k = 0; k < rows * cols; k++) W[k] *= 1.1f;
    r = pq_qat_report(qa, fp, 0);
    cr_expect_float_eq(json_real_value(json_object_get(json_array_get(r, PQ_LIN_COUNT + PQ_LIN_UP), "rel_l1")), 0.1, 1e-5);
    cr_expect_null(json_object_get(json_array_get(r, 0), "alpha"));
    json_decref(r);

    pq_ckpt *c = pq_ckpt_new();
    qa->alpha[3] = 0.5f;
    pq_qat_to_ckpt(qa, c);
    qa->alpha[3] = 0.25f;
    cr_assert_eq(pq_qat_from_ckpt(qa, c, "state"), 0, "%s", pq_error());
    cr_expect_eq(qa->alpha[3], 0.5f);
    pq_quantizer other = make("lsq", PQ_BITS_2);
    pq_qat *qb = pq_qat_new(m, &other);
    cr_expect_eq(pq_qat_from_ckpt(qb, c, "state"), -1);
    pq_qat_free(qb);
    pq_ckpt_free(c);
    /* param groups: learned scales join without weight decay; statistics don't */
    pq_param_group *g = NULL;
    int n = 0;
    pq_qat_param_groups(qa, &g, &n);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(g[0].name, "qat.alpha");
    cr_expect_eq(g[0].decay, 0);
    cr_expect_eq(g[0].n, qa->n_alpha);
    pq_qat_free(qa);
    pq_quantizer mm = make("minmax", PQ_BITS_2);
    qa = pq_qat_new(m, &mm);
    pq_qat_param_groups(qa, &g, &n);
    cr_expect_eq(n, 1);
    free(g);
    pq_qat_free(qa);
    free(fp);
    pq_model_free(m);
}

/* Statistics-based members: a refresh brings every α to the statistic of the current
 * latent weights, without a forward (the report and the checkpoint read α after the
 * last optimizer step; the effective weights are made later, layer by layer). */
Test(qat, refresh_recomputes_statistic_scales) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 3);
    pq_quantizer q = make("minmax", PQ_BITS_2);
    pq_qat *qa = pq_qat_new(m, &q);
    for (int64_t k = 0; k < m->n_params; k++) m->params[k] *= 1.0f + 0.001f * (float)(k % 13);
    pq_model_refresh_weights(m);
    float *want = malloc(sizeof(float) * cfg.dim * 4);
    for (int l = 0; l < cfg.n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int rows, cols;
            const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
            pq_quant_init_scales(&q, W, rows, cols, want);
            const float *got = qa->alpha + qa->offset[l * PQ_LIN_COUNT + w];
            cr_expect_eq(memcmp(got, want, sizeof(float) * rows), 0, "layer %d %s: alpha not refreshed", l,
                         pq_linear_name((pq_linear_id)w));
        }
    free(want);
    pq_qat_free(qa);
    pq_model_free(m);
}

/* The benchmark row is well formed and its times are positive (speed itself is a
 * benchmark target, never asserted in tests). */
Test(qat, bench_row) {
    pq_model_config cfg = tiny();
    json_t *o = pq_qat_bench(&cfg, 2, 8, 2, 1, "paretoq", PQ_BITS_2);
    cr_assert(o, "%s", pq_error());
    cr_expect_str_eq(json_string_value(json_object_get(o, "quantizer")), "seq");
    cr_expect_gt(json_real_value(json_object_get(o, "fp_step_seconds")), 0.0);
    cr_expect_gt(json_real_value(json_object_get(o, "qat_step_seconds")), 0.0);
    cr_expect_gt(json_real_value(json_object_get(o, "fake_quant_forward_seconds")), 0.0);
    cr_expect_gt(json_real_value(json_object_get(o, "qat_step_cpu_seconds")), 0.0);
    json_decref(o);
    cr_expect_null(pq_qat_bench(&cfg, 2, 8, 2, 1, "nope", PQ_BITS_2));
}
