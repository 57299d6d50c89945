/* qat.c — the QAT weight hook, its scales and its reports (see qat.h). */
#include "quant/qat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "quant/qexport.h"
#include "quant/quantizer_gpu.h"

static int slot(const pq_qat *qa, int layer, pq_linear_id which) { return layer * PQ_LIN_COUNT + (int)which; }

static void hook_forward(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, float *W_eff) {
    pq_qat *qa = ctx;
    pq_quant_forward(&qa->q, W, qa->alpha + qa->offset[slot(qa, layer, which)], rows, cols, W_eff);
}

static void hook_backward(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, const float *dW_eff,
                          float *dW) {
    pq_qat *qa = ctx;
    int64_t off = qa->offset[slot(qa, layer, which)];
    pq_quant_backward(&qa->q, W, qa->alpha + off, rows, cols, dW_eff, dW, qa->dalpha + off);
}

/* Statistics-based members: every α from the current W, as the forward will compute it
 * (the report and the state read α between forwards, e.g. after the last step). */
static void hook_refresh(void *ctx) {
    pq_qat *qa = ctx;
    if (!qa->q.statistic) return;
    for (int l = 0; l < qa->n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int s = slot(qa, l, (pq_linear_id)w), rows, cols;
            const float *W = pq_model_linear(qa->model, l, (pq_linear_id)w, &rows, &cols, NULL);
            pq_quant_init_scales(&qa->q, W, rows, cols, qa->alpha + qa->offset[s]);
        }
}

static void gpu_hook_forward(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, float *W_eff,
                             float *alpha) {
    pq_qat *qa = ctx;
    pq_quant_forward_gpu(&qa->q, W, alpha + qa->offset[slot(qa, layer, which)], rows, cols, W_eff);
}

static void gpu_hook_backward(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols,
                              const float *dW_eff, float *dW, const float *alpha, float *dalpha) {
    pq_qat *qa = ctx;
    int64_t off = qa->offset[slot(qa, layer, which)];
    pq_quant_backward_gpu(&qa->q, W, alpha + off, rows, cols, dW_eff, dW, dalpha + off);
}

void pq_qat_gpu_hook(pq_qat *qa, pq_gpu_weight_hook *out) {
    *out = (pq_gpu_weight_hook){.ctx = qa, .n_extra = qa->n_alpha, .host_extra = qa->alpha, .extra_trained = qa->q.learned,
                                .forward = gpu_hook_forward, .backward = gpu_hook_backward};
}

pq_qat *pq_qat_new(pq_model *m, const pq_quantizer *q) {
    pq_qat *qa = pq_calloc(1, sizeof *qa);
    qa->q = *q;
    qa->model = m;
    qa->n_layers = m->cfg.n_layers;
    const int n = qa->n_layers * PQ_LIN_COUNT;
    qa->offset = pq_malloc((size_t)n * sizeof *qa->offset);
    qa->rows = pq_malloc((size_t)n * sizeof *qa->rows);
    qa->cols = pq_malloc((size_t)n * sizeof *qa->cols);
    for (int l = 0; l < qa->n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int s = slot(qa, l, (pq_linear_id)w);
            pq_model_linear(m, l, (pq_linear_id)w, &qa->rows[s], &qa->cols[s], NULL);
            qa->offset[s] = qa->n_alpha;
            qa->n_alpha += qa->rows[s];
        }
    qa->alpha = pq_calloc((size_t)qa->n_alpha, sizeof *qa->alpha);
    qa->dalpha = pq_calloc((size_t)qa->n_alpha, sizeof *qa->dalpha);
    for (int l = 0; l < qa->n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int s = slot(qa, l, (pq_linear_id)w), rows, cols;
            const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
            pq_quant_init_scales(&qa->q, W, rows, cols, qa->alpha + qa->offset[s]);
        }
    qa->hook.ctx = qa;
    qa->hook.forward = hook_forward;
    qa->hook.backward = hook_backward;
    qa->hook.refresh = hook_refresh;
    pq_model_set_hook(m, &qa->hook);
    pq_model_refresh_weights(m);
    return qa;
}

void pq_qat_free(pq_qat *qa) {
    if (!qa) return;
    if (qa->model && qa->model->hook == &qa->hook) pq_model_set_hook(qa->model, NULL);
    free(qa->alpha), free(qa->dalpha), free(qa->offset), free(qa->rows), free(qa->cols);
    free(qa);
}

void pq_qat_param_groups(pq_qat *qa, pq_param_group **groups, int *n_groups) {
    if (!qa->q.learned) return;
    *groups = pq_realloc(*groups, (size_t)(*n_groups + 1) * sizeof **groups);
    (*groups)[(*n_groups)++] = pq_param_group_make("qat.alpha", qa->alpha, qa->dalpha, qa->n_alpha, 0);
}

void pq_qat_to_ckpt(const pq_qat *qa, pq_ckpt *c) {
    pq_ckpt_add_f32(c, "qat.alpha", qa->alpha, qa->n_alpha);
    json_t *m = json_object();
    json_object_set_new(m, "quantizer", json_string(qa->q.name));
    json_object_set_new(m, "bits", json_string(pq_qbits_name(qa->q.bits)));
    json_object_set_new(c->meta, "qat", m);
}

int pq_qat_from_ckpt(pq_qat *qa, const pq_ckpt *c, const char *what) {
    json_t *m = json_object_get(c->meta, "qat");
    const char *name = json_string_value(json_object_get(m, "quantizer"));
    const char *bits = json_string_value(json_object_get(m, "bits"));
    if (!name || !bits) return pq_fail("%s: no QAT state (meta.qat)", what);
    if (strcmp(name, qa->q.name) || strcmp(bits, pq_qbits_name(qa->q.bits)))
        return pq_fail("%s: QAT state is for %s@%s bits, not %s@%s", what, name, bits, qa->q.name, pq_qbits_name(qa->q.bits));
    const float *a = pq_ckpt_expect(c, "qat.alpha", PQ_F32, qa->n_alpha);
    if (!a) return pq_fail_prefix("%s", what);
    memcpy(qa->alpha, a, (size_t)qa->n_alpha * sizeof *a);
    pq_model_refresh_weights(qa->model);
    return 0;
}

static void linear_name(char *buf, size_t n, int layer, pq_linear_id which) {
    snprintf(buf, n, "layers.%d.%s", layer, pq_linear_name(which));
}

pq_ckpt *pq_qat_export(pq_qat *qa) {
    pq_model *m = qa->model;
    pq_ckpt *c = pq_ckpt_new();
    json_object_set_new(c->meta, "kind", json_string("model"));
    pq_model_to_ckpt(m, c);
    const int n = qa->n_layers * PQ_LIN_COUNT;
    char **names = pq_malloc((size_t)n * sizeof *names);
    for (int l = 0; l < qa->n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int s = slot(qa, l, (pq_linear_id)w), rows, cols;
            char buf[64];
            linear_name(buf, sizeof buf, l, (pq_linear_id)w);
            names[s] = pq_strdup(buf);
            const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
            float *a = qa->alpha + qa->offset[s];
            /* Statistics-based members: α as the forward computes it from these weights. */
            if (qa->q.statistic) pq_quant_init_scales(&qa->q, W, rows, cols, a);
            pq_qexport_linear(c, buf, &qa->q, W, a, rows, cols);
        }
    pq_qexport_finish(c, &qa->q, (const char *const *)names, n);
    for (int s = 0; s < n; s++) free(names[s]);
    free(names);
    return c;
}

json_t *pq_qat_report(const pq_qat *qa, const float *fp_params, int with_scales) {
    pq_model *m = qa->model;
    json_t *arr = json_array();
    for (int l = 0; l < qa->n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int s = slot(qa, l, (pq_linear_id)w), rows, cols;
            const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
            const float *W0 = fp_params + (W - m->params);
            const float *a = qa->alpha + qa->offset[s];
            float *tmp = pq_malloc((size_t)cols * sizeof *tmp);
            float arow;
            double d_lat = 0, d_q = 0, norm = 0;
            for (int i = 0; i < rows; i++) {
                const float *wr = W + (size_t)i * cols, *w0 = W0 + (size_t)i * cols;
                arow = a[i];
                pq_quant_forward(&qa->q, wr, &arow, 1, cols, tmp);
                for (int j = 0; j < cols; j++) {
                    d_lat += fabs((double)wr[j] - w0[j]);
                    d_q += fabs((double)tmp[j] - w0[j]);
                    norm += fabs((double)w0[j]);
                }
            }
            free(tmp);
            json_t *o = json_object();
            json_object_set_new(o, "layer", json_integer(l));
            json_object_set_new(o, "which", json_string(pq_linear_name((pq_linear_id)w)));
            json_object_set_new(o, "rows", json_integer(rows));
            json_object_set_new(o, "cols", json_integer(cols));
            json_object_set_new(o, "rel_l1", json_real(norm > 0 ? d_lat / norm : 0.0));
            json_object_set_new(o, "rel_l1_quantized", json_real(norm > 0 ? d_q / norm : 0.0));
            double amean = 0;
            float amin = a[0], amax = a[0];
            for (int i = 0; i < rows; i++) {
                amean += a[i];
                amin = PQ_MIN(amin, a[i]), amax = PQ_MAX(amax, a[i]);
            }
            json_object_set_new(o, "alpha_mean", json_real(amean / rows));
            json_object_set_new(o, "alpha_min", json_real(amin));
            json_object_set_new(o, "alpha_max", json_real(amax));
            if (with_scales) {
                json_t *al = json_array();
                for (int i = 0; i < rows; i++) json_array_append_new(al, json_real(a[i]));
                json_object_set_new(o, "alpha", al);
            }
            json_array_append_new(arr, o);
        }
    return arr;
}

/* Every linear's forward (into scratch W_eff) or backward (over any [rows, cols] array
 * as dL/dW_eff, into scratch gradients), reps times. */
static void hook_all(pq_qat *qa, int reps, int backward) {
    pq_model *m = qa->model;
    float *buf = NULL;
    size_t cap = 0;
    for (int r = 0; r < reps; r++)
        for (int l = 0; l < qa->n_layers; l++)
            for (int w = 0; w < PQ_LIN_COUNT; w++) {
                int rows, cols;
                const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
                size_t n = (size_t)rows * cols;
                if (n > cap) buf = pq_realloc(buf, n * sizeof *buf), cap = n;
                if (!backward) {
                    hook_forward(qa, l, (pq_linear_id)w, W, rows, cols, buf);
                    continue;
                }
                memset(buf, 0, n * sizeof *buf);
                hook_backward(qa, l, (pq_linear_id)w, W, rows, cols, W, buf);
            }
    free(buf);
}

void pq_qat_time_overhead(pq_qat *qa, int reps, double *fwd_seconds, double *bwd_seconds) {
    double t0 = pq_now();
    hook_all(qa, reps, 0);
    double t1 = pq_now();
    hook_all(qa, reps, 1);
    double t2 = pq_now();
    /* the timing backward added into dalpha: clear it */
    memset(qa->dalpha, 0, (size_t)qa->n_alpha * sizeof *qa->dalpha);
    *fwd_seconds = (t1 - t0) / reps;
    *bwd_seconds = (t2 - t1) / reps;
}
