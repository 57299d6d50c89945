/* ptq.c — RTN and GPTQ over every block linear of a model (see ptq.h). */
#include "quant/ptq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/progress.h"
#include "base/util.h"
#include "quant/gptq.h"
#include "quant/qexport.h"

typedef struct {
    int rows, cols;
    float *alpha;
    uint8_t *codes;
} quantized_linear;

static void linear_name(char *buf, size_t n, int layer, int which) {
    snprintf(buf, n, "layers.%d.%s", layer, pq_linear_name((pq_linear_id)which));
}

/* The checkpoint of a model whose linears already hold their quantized values. */
static pq_ckpt *export_all(pq_model *m, const pq_quantizer *q, quantized_linear *ql) {
    pq_ckpt *c = pq_ckpt_new();
    json_object_set_new(c->meta, "kind", json_string("model"));
    /* By reference: the linears' values are already dequant(code), which is what
     * pq_qexport_codes writes back into them, so the model is unchanged, and the
     * checkpoint holds no second copy of it (4 bytes a parameter). */
    pq_model_to_ckpt_ref(m, c);
    const int n = m->cfg.n_layers * PQ_LIN_COUNT;
    char **names = pq_malloc((size_t)n * sizeof *names);
    for (int s = 0; s < n; s++) {
        char buf[64];
        linear_name(buf, sizeof buf, s / PQ_LIN_COUNT, s % PQ_LIN_COUNT);
        names[s] = pq_strdup(buf);
        pq_qexport_codes(c, buf, q, ql[s].codes, ql[s].alpha, ql[s].rows, ql[s].cols);
    }
    pq_qexport_finish(c, q, (const char *const *)names, n);
    for (int s = 0; s < n; s++) free(names[s]);
    free(names);
    return c;
}

static quantized_linear *plan(pq_model *m, const pq_quantizer *q) {
    const int n = m->cfg.n_layers * PQ_LIN_COUNT;
    quantized_linear *ql = pq_calloc((size_t)n, sizeof *ql);
    for (int s = 0; s < n; s++) {
        const float *W = pq_model_linear(m, s / PQ_LIN_COUNT, (pq_linear_id)(s % PQ_LIN_COUNT), &ql[s].rows, &ql[s].cols, NULL);
        ql[s].alpha = pq_malloc((size_t)ql[s].rows * sizeof(float));
        ql[s].codes = pq_malloc((size_t)ql[s].rows * ql[s].cols);
        pq_quant_init_scales(q, W, ql[s].rows, ql[s].cols, ql[s].alpha);
    }
    return ql;
}

static void plan_free(quantized_linear *ql, int n) {
    for (int s = 0; s < n; s++) free(ql[s].alpha), free(ql[s].codes);
    free(ql);
}

static json_t *entry(int layer, int which, int rows, int cols) {
    json_t *o = json_object();
    json_object_set_new(o, "layer", json_integer(layer));
    json_object_set_new(o, "which", json_string(pq_linear_name((pq_linear_id)which)));
    json_object_set_new(o, "rows", json_integer(rows));
    json_object_set_new(o, "cols", json_integer(cols));
    return o;
}

pq_ckpt *pq_ptq_rtn(pq_model *m, const pq_quantizer *q, json_t *report) {
    const int n = m->cfg.n_layers * PQ_LIN_COUNT;
    quantized_linear *ql = plan(m, q);
    for (int s = 0; s < n; s++) {
        int rows, cols;
        float *W = pq_model_linear(m, s / PQ_LIN_COUNT, (pq_linear_id)(s % PQ_LIN_COUNT), &rows, &cols, NULL);
        pq_rtn_quantize(q, W, ql[s].alpha, ql[s].rows, ql[s].cols, ql[s].codes);
        if (report) json_array_append_new(report, entry(s / PQ_LIN_COUNT, s % PQ_LIN_COUNT, ql[s].rows, ql[s].cols));
    }
    pq_ckpt *c = export_all(m, q, ql);
    plan_free(ql, n);
    return c;
}

/* Which of the layer's four inputs feeds a linear. */
static int input_of(int which) {
    switch ((pq_linear_id)which) {
    case PQ_LIN_Q:
    case PQ_LIN_K:
    case PQ_LIN_V: return 0;
    case PQ_LIN_O: return 1;
    case PQ_LIN_GATE:
    case PQ_LIN_UP: return 2;
    default: return 3;
    }
}

/* The linear after which no other linear of the layer reads input k's Hessian. */
static int last_user_of(int which) { return which == PQ_LIN_V || which == PQ_LIN_O || which == PQ_LIN_UP || which == PQ_LIN_DOWN; }

/* Quantizes layer l's 7 linears with GPTQ against H (each H[k] freed, and NULL, after
 * its last linear); 0, or -1 + pq_error() naming the linear. */
static int gptq_layer(pq_model *m, const pq_quantizer *q, quantized_linear *ql, int l, double *H[4], double damp, int block,
                      json_t *report) {
    for (int w = 0; w < PQ_LIN_COUNT; w++) {
        const int s = l * PQ_LIN_COUNT + w;
        int rows, cols;
        float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
        float *W0 = pq_malloc((size_t)rows * cols * sizeof *W0);
        memcpy(W0, W, (size_t)rows * cols * sizeof *W0);
        const double *h = H[input_of(w)];
        if (pq_gptq_quantize(q, W, ql[s].alpha, rows, cols, h, damp, block, ql[s].codes) < 0) {
            char buf[64];
            linear_name(buf, sizeof buf, l, w);
            free(W0);
            return pq_fail_prefix("%s", buf);
        }
        if (report) {
            float *Wr = pq_malloc((size_t)rows * cols * sizeof *Wr);
            memcpy(Wr, W0, (size_t)rows * cols * sizeof *Wr);
            pq_rtn_quantize(q, Wr, ql[s].alpha, rows, cols, NULL);
            json_t *o = entry(l, w, rows, cols);
            json_object_set_new(o, "err_rtn", json_real(pq_gptq_relative_error(W0, Wr, rows, cols, h)));
            json_object_set_new(o, "err_gptq", json_real(pq_gptq_relative_error(W0, W, rows, cols, h)));
            json_array_append_new(report, o);
            free(Wr);
        }
        free(W0);
        if (last_user_of(w)) free(H[input_of(w)]), H[input_of(w)] = NULL;
    }
    return 0;
}

/* Memory: the model, the codes, one layer's activations of one micro-batch, the
 * calibration set's residual stream (n_seq x T x dim floats) and one layer's Hessians.
 * The stream x holds the calibration tokens at layer l's input: layer l runs on it
 * with its float weights (for the Hessians), is quantized, and runs again with its
 * quantized weights to carry x to layer l+1. That is the arithmetic of running the
 * whole model, layers 0..l-1 quantized, on each micro-batch for each layer l (the
 * same operations on the same micro-batches), once per layer instead of l+1 times. */
pq_ckpt *pq_ptq_gptq(pq_model *m, const pq_quantizer *q, const uint16_t *calib, int n_seq, int T, int batch, double damp,
                     int block, json_t *report) {
    const pq_model_config *cfg = &m->cfg;
    const int L = cfg->n_layers, n = L * PQ_LIN_COUNT, D = cfg->dim, F = cfg->ffn_dim;
    const int width[4] = {D, D, D, F};
    if (batch < 1) batch = 1;
    if (batch > n_seq) batch = n_seq;
    quantized_linear *ql = plan(m, q);
    pq_acts *a = pq_acts_new_mode(cfg, batch, T, PQ_ACTS_LAYER);
    float *x = pq_malloc((size_t)n_seq * T * D * sizeof *x);
    pq_model_embed(m, calib, n_seq * T, x);
    double *H[4] = {NULL, NULL, NULL, NULL};
    pq_ckpt *c = NULL;
    pq_progress pr;
    pq_progress_begin(&pr, "gptq", L, "layer");
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < 4; k++) H[k] = pq_calloc((size_t)width[k] * width[k], sizeof(double));
        for (int s0 = 0; s0 < n_seq; s0 += batch) {
            int nb = PQ_MIN(batch, n_seq - s0);
            pq_model_layer_forward(m, a, l, x + (size_t)s0 * T * D, nb, T, 0);
            const float *inputs[4] = {a->xn1[l], a->atty[l], a->xn2[l], a->h[l]};
            for (int k = 0; k < 4; k++) pq_gptq_hessian_add(H[k], width[k], inputs[k], nb * T);
        }
        if (gptq_layer(m, q, ql, l, H, damp, block, report)) goto done;
        for (int s0 = 0; s0 < n_seq && l + 1 < L; s0 += batch)
            pq_model_layer_forward(m, a, l, x + (size_t)s0 * T * D, PQ_MIN(batch, n_seq - s0), T, 1);
        pq_progress_update(&pr, l + 1, l + 1, NULL);
    }
    c = export_all(m, q, ql);
done:
    pq_progress_end(&pr);
    for (int k = 0; k < 4; k++) free(H[k]);
    free(x);
    pq_acts_free(a);
    plan_free(ql, n);
    return c;
}
