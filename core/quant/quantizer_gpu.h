/* quantizer_gpu.h — the quantizers of quantizer.h on the GPU (built with make CUDA=1 only).
 *
 * Same members, same equations, on device pointers: every elementwise operation is the
 * CPU's, rounded the same way (no fused multiply-adds, IEEE division, rintf), so W_eff, dW,
 * the row statistics' maxima and, with scale_fp16 (pq_quantizer_set_scale_fp16), the
 * fp16-rounded scale are bitwise the CPU's. Row sums (dL/dα, mean|W|, rms) are double block
 * trees in a fixed order: deterministic, equal to the CPU's SIMD order up to the last bit of
 * the double before it is rounded to float. pq qat --device cuda calls them as the model's
 * GPU weight hook (qat.h); `make test-gpu` checks them against quantizer.c. */
#ifndef PQ_QUANTIZER_GPU_H
#define PQ_QUANTIZER_GPU_H

#include "quant/quantizer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* As pq_quant_forward, on device arrays (alpha recomputed first for statistic members). */
void pq_quant_forward_gpu(const pq_quantizer *q, const float *W, float *alpha, int rows, int cols, float *W_eff);
/* As pq_quant_backward: dW += ..., dalpha += ... (learned members, dalpha may be NULL). */
void pq_quant_backward_gpu(const pq_quantizer *q, const float *W, const float *alpha, int rows, int cols, const float *g,
                           float *dW, float *dalpha);

#ifdef __cplusplus
}
#endif

#endif
