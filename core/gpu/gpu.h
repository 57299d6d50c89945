/* gpu.h — the CUDA backend: the model's training step on one NVIDIA GPU.
 *
 * The backend sits between model/ and train/: it reads a pq_model's layout
 * (the parameter buffer and its tensors) and runs the same forward, backward,
 * gradient norm and AdamW update as model/ and train/ do on the CPU, on device
 * copies of the parameters, gradients, AdamW moments and activations. train/
 * calls it through this small C interface; nothing here calls train/.
 *
 * Built only with `make CUDA=1` (the .cu files of core/gpu, nvcc, cuBLAS). Without it,
 * gpu_none.c provides the same functions: pq_gpu_built() is 0 and every
 * constructor fails with "built without CUDA: rebuild with make CUDA=1".
 *
 * Numerics: matmuls through cuBLAS in FP32 (or TF32 tensor cores, selectable);
 * everything else in our kernels, whose reductions run in a fixed order (block
 * trees of a fixed size, per-row or per-column loops; no atomics), so two runs on
 * the same GPU model and build are bitwise identical. Attention is tiled with an
 * online softmax and saves only the row log-sum-exp: memory grows with T, not T².
 * Head dims 32, 64 and 128 are supported. */
#ifndef PQ_GPU_H
#define PQ_GPU_H

#include <stdint.h>

#include <jansson.h>

#include "model/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PQ_DEVICE_CPU = 0, PQ_DEVICE_CUDA = 1 } pq_device;
typedef enum { PQ_GPU_FP32 = 0, PQ_GPU_TF32 = 1 } pq_gpu_precision;

/* "cpu" / "cuda" -> device; -1 + pq_error() otherwise. A NULL or empty text reads
 * PQ_DEVICE from the environment (unset: cpu). Asking for cuda in a build without
 * it fails with "built without CUDA: rebuild with make CUDA=1". */
int pq_device_parse(const char *text, pq_device *out);
const char *pq_device_name(pq_device d);

/* 1 when this build has the CUDA backend. */
int pq_gpu_built(void);
/* "fp32" / "tf32" -> precision; -1 + pq_error() otherwise. */
int pq_gpu_precision_parse(const char *text, pq_gpu_precision *out);
const char *pq_gpu_precision_name(pq_gpu_precision p);
/* What manifests record: {"name", "driver", "cuda_runtime", "cublas", "sm", "memory_bytes",
 * "precision"}; NULL + pq_error() without a usable GPU. */
json_t *pq_gpu_info(pq_gpu_precision p);

typedef struct pq_gpu_model pq_gpu_model;

/* model.h's weight hook (quantization-aware training) on device pointers. The hook's own
 * parameters (n_extra floats, e.g. per-row scales) live on the GPU model after the
 * model's parameters; forward and backward get them (extra, and their gradients dextra)
 * as device pointers. host_extra is their host copy: uploaded with the parameters and
 * downloaded with them (pq_gpu_set_extra / pq_gpu_get_extra). When extra_trained, AdamW
 * updates them (no weight decay) and the gradient norm includes them. The quant layer
 * fills one (quant/qat.h: pq_qat_gpu_hook); nothing here knows what a quantizer is. */
typedef struct {
    void *ctx;
    int64_t n_extra;
    float *host_extra;
    int extra_trained;
    void (*forward)(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, float *W_eff,
                    float *extra);
    void (*backward)(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, const float *dW_eff,
                     float *dW, const float *extra, float *dextra);
} pq_gpu_weight_hook;

/* Device copies of m's parameters (uploaded now), zeroed gradients and moments,
 * and activations for micro-batches of up to B sequences of T tokens. With a hook
 * (hook may be NULL), the block linears compute with effective weights as on the CPU:
 * m must carry its own (CPU) hook, whose effective-weight layout the GPU copies, and
 * the hook's parameters are uploaded from hook->host_extra. NULL + pq_error(). */
pq_gpu_model *pq_gpu_model_new(const pq_model *m, int B, int T, pq_gpu_precision p, const pq_gpu_weight_hook *hook);
void pq_gpu_model_free(pq_gpu_model *g);

/* Host <-> device copies of whole buffers laid out as m->params (n_params floats). */
void pq_gpu_set_params(pq_gpu_model *g, const float *params);
void pq_gpu_get_params(pq_gpu_model *g, float *params);
void pq_gpu_get_grads(pq_gpu_model *g, float *grads);
/* AdamW moments, each one flat buffer in the parameter layout. */
void pq_gpu_set_moments(pq_gpu_model *g, const float *m, const float *v);
void pq_gpu_get_moments(pq_gpu_model *g, float *m, float *v);

/* The hook's parameters (host_extra's layout) and, when trained, their AdamW moments
 * (m, v may be NULL: not copied). No-ops without a hook. */
void pq_gpu_set_extra(pq_gpu_model *g, const float *extra, const float *m, const float *v);
void pq_gpu_get_extra(pq_gpu_model *g, float *extra, float *m, float *v);
void pq_gpu_get_extra_grads(pq_gpu_model *g, float *dextra);

/* Zeroes the gradients (model, effective weights, hook parameters). */
void pq_gpu_zero_grads(pq_gpu_model *g);
/* As pq_model_refresh_weights / pq_model_finish_grads (no-ops without a hook): effective
 * weights from the latent ones (before a forward, after the weights change), and
 * dL/dW_eff summed over the micro-batches turned into dL/dW and dL/dextra. */
void pq_gpu_refresh_weights(pq_gpu_model *g);
void pq_gpu_finish_grads(pq_gpu_model *g);
/* As pq_model_forward: the mean cross-entropy over B*T positions (0 without
 * targets); with for_backward the logits' gradient of grad_scale * sum is kept. */
double pq_gpu_forward(pq_gpu_model *g, const uint16_t *tokens, const uint16_t *targets, int B, int T, int for_backward,
                      float grad_scale);
/* As pq_model_backward: accumulates into the device gradients. */
void pq_gpu_backward(pq_gpu_model *g, const uint16_t *tokens);
/* Logits [T, vocab] of one sequence, copied to the host. */
void pq_gpu_logits(pq_gpu_model *g, const uint16_t *tokens, int T, float *out);
/* -log P(target) of each of the last forward's B*T positions (it had targets), to the
 * host: what the evaluator scores. */
void pq_gpu_row_losses(pq_gpu_model *g, double *out);
/* L2 norm of all gradients, the hook's trained parameters included (double partial sums
 * in a fixed order). */
double pq_gpu_grad_norm(pq_gpu_model *g);

/* One AdamW update of every tensor (weight decay on matrices) and of the hook's trained
 * parameters (no decay), as pq_adamw_step:
 * bc1 = 1 - beta1^t, bc2 = 1 - beta2^t for the update's step t. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, bc1, bc2, grad_mul;
} pq_gpu_adamw_args;
void pq_gpu_adamw_step(pq_gpu_model *g, const pq_gpu_adamw_args *a);

#ifdef __cplusplus
}
#endif

#endif
