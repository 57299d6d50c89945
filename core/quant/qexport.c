/* qexport.c — quantized checkpoints (see qexport.h). */
#include "quant/qexport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

size_t pq_qpack_row_bytes(int cols, int storage_bits) { return ((size_t)cols * storage_bits + 7) / 8; }

void pq_qpack(const uint8_t *codes, int rows, int cols, int storage_bits, uint8_t *out) {
    const size_t rb = pq_qpack_row_bytes(cols, storage_bits);
    memset(out, 0, (size_t)rows * rb);
    for (int i = 0; i < rows; i++) {
        uint8_t *row = out + (size_t)i * rb;
        for (int j = 0; j < cols; j++) {
            size_t bit = (size_t)j * storage_bits;
            unsigned v = codes[(size_t)i * cols + j];
            /* a code may straddle two bytes (3 bits) but never three */
            row[bit / 8] |= (uint8_t)(v << (bit % 8));
            if (bit % 8 + storage_bits > 8) row[bit / 8 + 1] |= (uint8_t)(v >> (8 - bit % 8));
        }
    }
}

void pq_qunpack(const uint8_t *packed, int rows, int cols, int storage_bits, uint8_t *codes) {
    const size_t rb = pq_qpack_row_bytes(cols, storage_bits);
    const unsigned mask = (1u << storage_bits) - 1;
    for (int i = 0; i < rows; i++) {
        const uint8_t *row = packed + (size_t)i * rb;
        for (int j = 0; j < cols; j++) {
            size_t bit = (size_t)j * storage_bits;
            unsigned v = row[bit / 8] >> (bit % 8);
            if (bit % 8 + storage_bits > 8) v |= (unsigned)row[bit / 8 + 1] << (8 - bit % 8);
            codes[(size_t)i * cols + j] = (uint8_t)(v & mask);
        }
    }
}

/* The F32 tensor "<name>" [rows, cols], created if absent. */
static float *weight_slot(pq_ckpt *c, const char *name, int rows, int cols) {
    const pq_tensor *t = pq_ckpt_find(c, name);
    if (t) {
        if (t->dtype != PQ_F32 || t->numel != (int64_t)rows * cols)
            pq_die("qexport: checkpoint tensor '%s' is not F32[%d x %d]", name, rows, cols);
        return (float *)t->data;
    }
    int64_t dims[2] = {rows, cols};
    float *zeros = pq_calloc((size_t)rows * cols, sizeof *zeros);
    float *slot = (float *)pq_ckpt_add(c, name, PQ_F32, 2, dims, zeros)->data;
    free(zeros);
    return slot;
}

size_t pq_qexport_codes(pq_ckpt *c, const char *name, const pq_quantizer *q, const uint8_t *codes, const float *alpha,
                        int rows, int cols) {
    const int sb = pq_qbits_storage(q->bits);
    const size_t rb = pq_qpack_row_bytes(cols, sb);
    char buf[256];
    float *w = weight_slot(c, name, rows, cols);
    float *a = pq_malloc((size_t)rows * sizeof *a);
    for (int i = 0; i < rows; i++) {
        a[i] = pq_quant_alpha(q, alpha[i]); /* as the forward used it */
        for (int j = 0; j < cols; j++) w[(size_t)i * cols + j] = pq_quant_dequant(q, a[i], codes[(size_t)i * cols + j]);
    }
    uint8_t *packed = pq_malloc((size_t)rows * rb);
    pq_qpack(codes, rows, cols, sb, packed);
    int64_t dims[2] = {rows, (int64_t)rb};
    snprintf(buf, sizeof buf, "%s.qcodes", name);
    pq_ckpt_add(c, buf, PQ_U8, 2, dims, packed);
    snprintf(buf, sizeof buf, "%s.qscale", name);
    pq_ckpt_add_f32(c, buf, a, rows);
    free(packed), free(a);
    return (size_t)rows * rb;
}

size_t pq_qexport_linear(pq_ckpt *c, const char *name, const pq_quantizer *q, const float *W, const float *alpha, int rows,
                         int cols) {
    uint8_t *codes = pq_malloc((size_t)rows * cols);
    pq_quant_codes(q, W, alpha, rows, cols, codes);
    size_t n = pq_qexport_codes(c, name, q, codes, alpha, rows, cols);
    free(codes);
    return n;
}

double pq_effective_bytes(int64_t quantized_params, int64_t fp_params, pq_qbits bits) {
    return (double)quantized_params * pq_qbits_value(bits) / 8.0 + (double)fp_params * 2.0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

void pq_qexport_finish(pq_ckpt *c, const pq_quantizer *q, const char *const *linear_names, int n_linears) {
    int64_t quantized = 0, fp = 0, packed = 0;
    json_t *names = json_array();
    char buf[256];
    for (int k = 0; k < n_linears; k++) {
        const pq_tensor *t = pq_ckpt_find(c, linear_names[k]);
        snprintf(buf, sizeof buf, "%s.qcodes", linear_names[k]);
        const pq_tensor *codes = pq_ckpt_find(c, buf);
        if (!t || !codes) pq_die("qexport: '%s' was not exported", linear_names[k]);
        quantized += t->numel, packed += codes->numel;
        json_array_append_new(names, json_string(linear_names[k]));
    }
    for (int k = 0; k < c->count; k++) {
        const pq_tensor *t = &c->tensors[k];
        if (t->dtype != PQ_F32 || ends_with(t->name, ".qscale")) continue;
        int is_linear = 0;
        for (int j = 0; j < n_linears && !is_linear; j++) is_linear = !strcmp(t->name, linear_names[j]);
        if (!is_linear) fp += t->numel;
    }
    json_t *m = json_object();
    json_object_set_new(m, "quantizer", json_string(q->name));
    json_object_set_new(m, "bits", json_string(pq_qbits_name(q->bits)));
    json_object_set_new(m, "bits_value", json_real(pq_qbits_value(q->bits)));
    json_object_set_new(m, "levels", json_integer(q->levels));
    json_object_set_new(m, "level0", json_real(q->level0));
    json_object_set_new(m, "level_step", json_real(q->level_step));
    json_object_set_new(m, "storage_bits", json_integer(pq_qbits_storage(q->bits)));
    json_object_set_new(m, "packing", json_string(PQ_QPACKING));
    if (q->scale_fp16) json_object_set_new(m, "scale_fp16", json_true()); /* the qscales are fp16 units (quantizer.h) */
    json_object_set_new(m, "linears", names);
    json_object_set_new(m, "quantized_params", json_integer(quantized));
    json_object_set_new(m, "fp_params", json_integer(fp));
    json_object_set_new(m, "effective_bytes", json_real(pq_effective_bytes(quantized, fp, q->bits)));
    json_object_set_new(m, "packed_bytes", json_integer(packed));
    json_object_set_new(c->meta, "quant", m);
}

int pq_qexport_verify(const pq_ckpt *c, const char *what) {
    json_t *m = json_object_get(c->meta, "quant");
    if (!json_is_object(m)) return pq_fail("%s: not a quantized checkpoint (no meta.quant)", what);
    const char *qname = json_string_value(json_object_get(m, "quantizer"));
    const char *bits_s = json_string_value(json_object_get(m, "bits"));
    const char *packing = json_string_value(json_object_get(m, "packing"));
    json_t *names = json_object_get(m, "linears");
    pq_qbits bits;
    pq_quantizer q;
    if (!qname || !bits_s || !packing || !json_is_array(names)) return pq_fail("%s: meta.quant is incomplete", what);
    if (strcmp(packing, PQ_QPACKING)) return pq_fail("%s: unknown packing '%s'", what, packing);
    if (pq_qbits_parse(bits_s, &bits) < 0 || pq_quantizer_init(&q, qname, bits) < 0)
        return pq_fail_prefix("%s: meta.quant", what);
    const int sb = pq_qbits_storage(bits);
    size_t idx;
    json_t *jn;
    json_array_foreach(names, idx, jn) {
        const char *name = json_string_value(jn);
        const pq_tensor *t = name ? pq_ckpt_find(c, name) : NULL;
        if (!t || t->dtype != PQ_F32 || t->ndim != 2) return pq_fail("%s: quantized linear '%s' is missing", what, name ? name : "?");
        const int rows = (int)t->dims[0], cols = (int)t->dims[1];
        char buf[256];
        snprintf(buf, sizeof buf, "%s.qcodes", name);
        const uint8_t *packed = pq_ckpt_expect(c, buf, PQ_U8, (int64_t)rows * (int64_t)pq_qpack_row_bytes(cols, sb));
        snprintf(buf, sizeof buf, "%s.qscale", name);
        const float *alpha = pq_ckpt_expect(c, buf, PQ_F32, rows);
        if (!packed || !alpha) return pq_fail_prefix("%s", what);
        uint8_t *codes = pq_malloc((size_t)rows * cols);
        pq_qunpack(packed, rows, cols, sb, codes);
        const float *w = t->data;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) {
                size_t k = (size_t)i * cols + j;
                if (codes[k] >= q.levels || pq_quant_dequant(&q, alpha[i], codes[k]) != w[k]) {
                    int code = codes[k];
                    free(codes);
                    return pq_fail("%s: '%s' row %d col %d: code %d does not reproduce the stored weight", what, name, i, j,
                                   code);
                }
            }
        free(codes);
    }
    return 0;
}

int pq_check_ckpt_weights(const pq_ckpt *c, const char *what) {
    for (int i = 0; i < c->count; i++) {
        const pq_tensor *t = &c->tensors[i];
        if (t->dtype != PQ_F32) continue;
        const float *v = t->data;
        for (int64_t j = 0; j < t->numel; j++)
            if (!isfinite(v[j]))
                return pq_fail("%s: tensor '%s' holds %g at element %lld; a model with non-finite weights is not run",
                               what, t->name, (double)v[j], (long long)j);
    }
    return json_object_get(c->meta, "quant") ? pq_qexport_verify(c, what) : 0;
}
