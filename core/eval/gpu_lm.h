/* gpu_lm.h — the engine's transformer on an NVIDIA GPU (gpu/gpu.h) as a pq_lm.
 *
 * Each continuation of a group becomes one sequence, prefix + continuation, and up to
 * `batch` sequences go through the GPU's training forward at once (padded to the
 * longest of them; causal attention keeps the padding out of every scored position). The GPU's
 * fused cross-entropy gives -log P of every next token, so no logits come back to the
 * host. What differs from the CPU scorer (model_lm.h) is float rounding only: the shared
 * prefix is recomputed per continuation instead of cached, which on a GPU is cheaper than
 * the bookkeeping. */
#ifndef PQ_EVAL_GPU_LM_H
#define PQ_EVAL_GPU_LM_H

#include "eval/lm.h"
#include "gpu/gpu.h"
#include "model/model.h"

/* Uploads m (its effective weights are its weights: a loaded checkpoint has no hook) and
 * wraps it in lm; 0, or -1 + pq_error() (no GPU, a build without CUDA, a shape the GPU
 * kernels lack). */
int pq_gpu_lm_init(pq_lm *lm, const pq_model *m, int batch, pq_gpu_precision precision);

#endif
