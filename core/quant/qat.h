/* qat.h — quantization-aware training through the model's weight hook.
 *
 * A pq_qat owns one scale α per output row of every block linear (q, k, v, o,
 * gate, up, down of every layer; embedding, head and norms stay full precision)
 * and installs a pq_weight_hook (model/model.h) whose forward is the quantizer's
 * fake-quant and whose backward is the quantizer's STE/LSQ gradient. The latent
 * weights train as usual; for learned-range members (sign, seq, lsq) the scales
 * join the same optimizer as one extra parameter group "qat.alpha" with no weight
 * decay. Statistics-based members recompute α at every refresh and train W only.
 *
 * All scales live in one buffer, linear by linear in (layer, which) order, so a
 * checkpoint holds them as one tensor "qat.alpha" (resume) and the quantized
 * export as "<linear>.qscale" tensors (qexport.h). */
#ifndef PQ_QAT_H
#define PQ_QAT_H

#include <jansson.h>

#include "base/ckpt.h"
#include "gpu/gpu.h"
#include "model/model.h"
#include "quant/quantizer.h"
#include "train/optim.h"

typedef struct {
    pq_quantizer q;
    int n_layers;
    int64_t n_alpha;
    float *alpha, *dalpha;       /* [n_alpha] */
    int64_t *offset;             /* [n_layers * PQ_LIN_COUNT] start of each linear's scales */
    int *rows, *cols;            /* [n_layers * PQ_LIN_COUNT] */
    pq_weight_hook hook;
    pq_model *model;
} pq_qat;

/* Scales initialized from the model's current latent weights (per the member's
 * rule), hook installed, effective weights refreshed. */
pq_qat *pq_qat_new(pq_model *m, const pq_quantizer *q);
/* Removes the hook from the model and frees. */
void pq_qat_free(pq_qat *qa);

/* The same hook for the GPU (gpu/gpu.h): the scales become the GPU model's hook parameters
 * (host copy qa->alpha, trained when the member learns them), and forward/backward run
 * quantizer_gpu.h's kernels, bitwise the CPU's. */
void pq_qat_gpu_hook(pq_qat *qa, pq_gpu_weight_hook *out);

/* Appends the "qat.alpha" group (decay 0) when the member learns its scales. */
void pq_qat_param_groups(pq_qat *qa, pq_param_group **groups, int *n_groups);

/* Resume state: tensor "qat.alpha" and meta.qat = {quantizer, bits}. */
void pq_qat_to_ckpt(const pq_qat *qa, pq_ckpt *c);
/* Restores the scales; -1 + pq_error() naming `what` if the quantizer or the
 * shape differs. Refreshes the model's effective weights. */
int pq_qat_from_ckpt(pq_qat *qa, const pq_ckpt *c, const char *what);

/* The quantized checkpoint of the current state (qexport.h): the model's tensors
 * with dequantized block linears, codes, scales, meta.quant and meta.model. */
pq_ckpt *pq_qat_export(pq_qat *qa);

/* Per linear: {layer, which, rows, cols, rel_l1 = ‖W − W_fp‖₁/‖W_fp‖₁ of the
 * latent weights, rel_l1_quantized = the same for α·q̂, alpha: [per row]}.
 * fp_params: the full-precision starting point, same layout as model->params. */
json_t *pq_qat_report(const pq_qat *qa, const float *fp_params, int with_scales);

/* Fake-quant cost alone: seconds per forward over every linear (a step makes each
 * layer's effective weights about twice per micro-batch: model.h) and per
 * backward, measured over `reps` repetitions (for the training benchmark). */
void pq_qat_time_overhead(pq_qat *qa, int reps, double *fwd_seconds, double *bwd_seconds);

#endif
