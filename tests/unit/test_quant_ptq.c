/* Whole-model PTQ tests: RTN and GPTQ produce loadable quantized checkpoints
 * whose weights are on the grid, and GPTQ's layer outputs track the full-
 * precision model better than RTN's on the calibration data. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "model/model.h"
#include "quant/gptq.h"
#include "quant/ptq.h"
#include "quant/qexport.h"

static pq_model_config tiny(void) {
    pq_model_config c = {.dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 24, .vocab = 13, .ctx = 8};
    return c;
}

enum { NSEQ = 12, T = 8 };

static void calib(uint16_t *x) {
    for (int i = 0; i < NSEQ * T; i++) x[i] = (uint16_t)pq_rng_below(3, 9, (uint64_t)i, 13);
}

/* Mean squared difference of the final logits from the FP model's on the calibration tokens. */
static double logit_mse(pq_model *fp, pq_model *qm, const uint16_t *x) {
    pq_acts *a = pq_acts_new(&fp->cfg, NSEQ, T);
    size_t n = (size_t)NSEQ * T * fp->cfg.vocab;
    float *l0 = malloc(n * sizeof(float));
    pq_model_forward(fp, a, x, NULL, NSEQ, T, 0, 0);
    memcpy(l0, a->logits, n * sizeof(float));
    pq_model_forward(qm, a, x, NULL, NSEQ, T, 0, 0);
    double e = 0;
    for (size_t k = 0; k < n; k++) e += (double)(l0[k] - a->logits[k]) * (l0[k] - a->logits[k]);
    free(l0);
    pq_acts_free(a);
    return e / n;
}

Test(ptq, rtn_and_gptq_checkpoints) {
    pq_model_config cfg = tiny();
    pq_model *fp = pq_model_new(&cfg), *mr = pq_model_new(&cfg), *mg = pq_model_new(&cfg);
    pq_model_init(fp, 4);
    memcpy(mr->params, fp->params, sizeof(float) * fp->n_params);
    memcpy(mg->params, fp->params, sizeof(float) * fp->n_params);
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "rtn", PQ_BITS_3), 0);
    uint16_t x[NSEQ * T];
    calib(x);
    json_t *rep_r = json_array(), *rep_g = json_array();
    pq_ckpt *cr = pq_ptq_rtn(mr, &q, rep_r);
    pq_ckpt *cg = pq_ptq_gptq(mg, &q, x, NSEQ, T, 5, 0.01, 4, rep_g);
    cr_assert(cr && cg, "%s", pq_error());
    cr_assert_eq(pq_qexport_verify(cr, "rtn"), 0, "%s", pq_error());
    cr_assert_eq(pq_qexport_verify(cg, "gptq"), 0, "%s", pq_error());
    cr_expect_eq(json_array_size(rep_r), (size_t)(2 * PQ_LIN_COUNT));
    cr_assert_eq(json_array_size(rep_g), (size_t)(2 * PQ_LIN_COUNT));
    /* per linear, GPTQ's reconstruction error on its own inputs is no worse than RTN's */
    for (size_t i = 0; i < json_array_size(rep_g); i++) {
        json_t *o = json_array_get(rep_g, i);
        double er = json_real_value(json_object_get(o, "err_rtn")), eg = json_real_value(json_object_get(o, "err_gptq"));
        cr_expect(eg <= er * (1 + 1e-6), "linear %zu: gptq %g > rtn %g", i, eg, er);
    }
    /* loading the checkpoints gives exactly the quantized models */
    pq_model *lr = pq_model_new(&cfg), *lg = pq_model_new(&cfg);
    cr_assert_eq(pq_model_from_ckpt(lr, cr, "rtn"), 0);
    cr_assert_eq(pq_model_from_ckpt(lg, cg, "gptq"), 0);
    for (int64_t k = 0; k < fp->n_params; k++) {
        cr_assert_eq(lr->params[k], mr->params[k]);
        cr_assert_eq(lg->params[k], mg->params[k]);
    }
    /* embedding and norms untouched */
    const pq_model_tensor *e0 = pq_model_find_tensor(fp, "tok_emb"), *e1 = pq_model_find_tensor(lg, "tok_emb");
    cr_expect_eq(memcmp(e0->param, e1->param, sizeof(float) * e0->numel), 0);
    double mse_r = logit_mse(fp, lr, x), mse_g = logit_mse(fp, lg, x);
    cr_log_info("logit mse: rtn %g gptq %g", mse_r, mse_g);
    cr_expect(mse_r > 0);
    cr_expect(mse_g < mse_r, "gptq %g vs rtn %g", mse_g, mse_r);
    json_decref(rep_r), json_decref(rep_g);
    pq_ckpt_free(cr), pq_ckpt_free(cg);
    pq_model_free(fp), pq_model_free(mr), pq_model_free(mg), pq_model_free(lr), pq_model_free(lg);
}

/* GPTQ as first written: for each layer, the whole model (layers before it already
 * quantized) runs forward on every micro-batch to collect that layer's Hessians. */
static void gptq_whole_model_reference(pq_model *m, const pq_quantizer *q, const uint16_t *x, int batch, double damp, int block) {
    const pq_model_config *c = &m->cfg;
    const int L = c->n_layers, width[4] = {c->dim, c->dim, c->dim, c->ffn_dim};
    const int input_of[PQ_LIN_COUNT] = {0, 0, 0, 1, 2, 2, 3};
    float *alpha[64];
    uint8_t *codes_of[64];
    for (int s = 0; s < L * PQ_LIN_COUNT; s++) { /* scales from the full-precision weights */
        int rows, cols;
        const float *W = pq_model_linear(m, s / PQ_LIN_COUNT, (pq_linear_id)(s % PQ_LIN_COUNT), &rows, &cols, NULL);
        alpha[s] = malloc(sizeof(float) * rows);
        pq_quant_init_scales(q, W, rows, cols, alpha[s]);
    }
    pq_acts *a = pq_acts_new(c, batch, T);
    for (int l = 0; l < L; l++) {
        double *H[4];
        for (int k = 0; k < 4; k++) H[k] = calloc((size_t)width[k] * width[k], sizeof(double));
        for (int s0 = 0; s0 < NSEQ; s0 += batch) {
            int nb = NSEQ - s0 < batch ? NSEQ - s0 : batch;
            pq_model_forward(m, a, x + (size_t)s0 * T, NULL, nb, T, 0, 0);
            const float *in[4] = {a->xn1[l], a->atty[l], a->xn2[l], a->h[l]};
            for (int k = 0; k < 4; k++) pq_gptq_hessian_add(H[k], width[k], in[k], nb * T);
        }
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int rows, cols;
            float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
            const float *al = alpha[l * PQ_LIN_COUNT + w];
            uint8_t *codes = malloc((size_t)rows * cols);
            cr_assert_eq(pq_gptq_quantize(q, W, al, rows, cols, H[input_of[w]], damp, block, codes), 0);
            codes_of[l * PQ_LIN_COUNT + w] = codes;
        }
        for (int k = 0; k < 4; k++) free(H[k]);
    }
    /* the export writes every linear as dequant(code) with its scale as the forward used it */
    for (int s = 0; s < L * PQ_LIN_COUNT; s++) {
        int rows, cols;
        float *W = pq_model_linear(m, s / PQ_LIN_COUNT, (pq_linear_id)(s % PQ_LIN_COUNT), &rows, &cols, NULL);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++)
                W[(size_t)i * cols + j] = pq_quant_dequant(q, pq_quant_alpha(q, alpha[s][i]), codes_of[s][(size_t)i * cols + j]);
        free(alpha[s]), free(codes_of[s]);
    }
    pq_acts_free(a);
}

/* pq_ptq_gptq carries the calibration set's residual stream from layer to layer
 * instead: the same operations on the same micro-batches, so the same bits. */
Test(ptq, gptq_layer_by_layer_is_bitwise_whole_model) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg), *ref = pq_model_new(&cfg);
    pq_model_init(m, 6);
    memcpy(ref->params, m->params, sizeof(float) * m->n_params);
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "lsq", PQ_BITS_2), 0);
    uint16_t x[NSEQ * T];
    calib(x);
    pq_ckpt *c = pq_ptq_gptq(m, &q, x, NSEQ, T, 5, 0.01, 4, NULL); /* 5, 5, 2 sequences */
    cr_assert(c, "%s", pq_error());
    gptq_whole_model_reference(ref, &q, x, 5, 0.01, 4);
    for (int i = 0; i < m->n_tensors; i++) {
        const pq_model_tensor *t = &m->tensors[i], *r = &ref->tensors[i];
        cr_expect_eq(memcmp(t->param, r->param, sizeof(float) * t->numel), 0, "%s differs", t->name);
    }
    pq_ckpt_free(c);
    pq_model_free(m), pq_model_free(ref);
}
