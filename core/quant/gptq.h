/* gptq.h — post-training quantization of one linear layer: RTN and GPTQ.
 *
 * GPTQ (Frantar et al., 2022) quantizes the columns of W [rows, cols] (cols =
 * input features) one after another and spreads each column's rounding error
 * over the columns not yet quantized, weighted by the inverse Hessian of the
 * layer's reconstruction loss ‖WX − ŴX‖², H = 2·XXᵀ over calibration inputs X.
 * As in the reference implementation: dead inputs (H_jj = 0) get H_jj = 1 and a
 * zero weight; H += damp·mean(diag H)·I; the error feedback uses the upper
 * Cholesky factor U of H⁻¹ (H⁻¹ = UᵀU); columns go in blocks, and each block's
 * accumulated error updates the rest of W with one sgemm (OpenBLAS).
 *
 * The grid is any pq_quantizer with the row scales α fixed beforehand (e.g. at
 * their initial values, the same α that RTN uses), so GPTQ and RTN differ only
 * in the error feedback. Cholesky factorizations are LAPACK's (OpenBLAS ships
 * them) in double precision. */
#ifndef PQ_GPTQ_H
#define PQ_GPTQ_H

#include <stdint.h>

#include "quant/quantizer.h"

#define PQ_GPTQ_DAMP 0.01
#define PQ_GPTQ_BLOCK 128

/* H [cols, cols] += 2·XᵀX for n inputs X [n, cols] (row-major, one input per row). */
void pq_gptq_hessian_add(double *H, int cols, const float *X, int n);

/* Round-to-nearest: W [rows, cols] is replaced in place by α·q̂(W/α); codes
 * (may be NULL) receives the integer codes. alpha is only read. */
void pq_rtn_quantize(const pq_quantizer *q, float *W, const float *alpha, int rows, int cols, uint8_t *codes);

/* GPTQ: W [rows, cols] is replaced in place by its quantized values; codes (may
 * be NULL) receives the integer codes. H is only read. damp: fraction of
 * mean(diag H) added to the diagonal (PQ_GPTQ_DAMP); block: columns per lazy
 * batch (PQ_GPTQ_BLOCK). -1 + pq_error() if H is not positive definite even
 * after damping. */
int pq_gptq_quantize(const pq_quantizer *q, float *W, const float *alpha, int rows, int cols, const double *H, double damp,
                     int block, uint8_t *codes);

/* ‖WX − ŴX‖²_F / ‖WX‖²_F given H = 2XXᵀ: tr(ΔW H ΔWᵀ)/tr(W H Wᵀ) (for tests and reports). */
double pq_gptq_relative_error(const float *W, const float *W_hat, int rows, int cols, const double *H);

#endif
