/* bf16.h — bfloat16 matmuls for training with --precision bf16.
 *
 * bf16 keeps FP32's 8-bit exponent and 8 significant bits (7 stored), so a
 * rounded value is within a relative 2^-8 of the FP32 one (unit roundoff
 * u = 2^-8 under round to nearest even). pq_gemm_bf16 takes FP32 operands,
 * rounds them to bf16 and sums the products in FP32: each product of two bf16
 * numbers is exact in FP32, so the result differs from an FP32 sgemm on the
 * same inputs by at most (2u + u^2) sum_k |a_ik b_kj| plus FP32 summation
 * error. Weights, gradients and optimizer state stay FP32 (the callers keep
 * master copies; only the matmul inputs are rounded), as on GPUs.
 *
 * On a CPU with AVX-512 BF16 the products run on vdpbf16ps (two products per
 * FP32 lane per instruction, FP32 accumulation). That instruction treats
 * subnormal bf16 inputs (|x| < 2^-126) as zero and flushes subnormal results;
 * such values do not occur at training scale. Elsewhere the operands are
 * rounded to bf16 in FP32 buffers and OpenBLAS's sgemm multiplies them (the
 * same rounding, no speed gain). Debian 12's OpenBLAS 0.3.21 is built without
 * BUILD_BFLOAT16: its header declares cblas_sbgemm but the library does not
 * export it, hence this kernel.
 *
 * Each output's sum runs in a fixed order (blocks of K in turn, pairs within a
 * block in turn) whatever the thread count, so results depend only on the
 * inputs and on whether the AVX-512 BF16 path is used. */
#ifndef PQ_BF16_H
#define PQ_BF16_H

#include <stddef.h>
#include <stdint.h>

typedef enum { PQ_MATMUL_FP32 = 0, PQ_MATMUL_BF16 = 1 } pq_matmul_precision;

/* The precision of the model's linear layers (pq_linear_forward/backward) in
 * this process; FP32 unless set. */
void pq_set_matmul_precision(pq_matmul_precision p);
pq_matmul_precision pq_matmul_precision_now(void);

/* FP32 -> bf16, round to nearest even; NaN stays NaN (quieted, sign kept),
 * ±Inf stays ±Inf, values that round past the largest bf16 become ±Inf,
 * subnormals round like any other value. The scalar reference. */
uint16_t pq_bf16_from_f32(float x);
float pq_f32_from_bf16(uint16_t h);
/* out[i] = pq_bf16_from_f32(in[i]), 16 at a time with AVX-512 where present. */
void pq_bf16_round_array(uint16_t *out, const float *in, size_t n);

/* 1 if this CPU (and OS) runs AVX-512 BF16 (vdpbf16ps). */
int pq_bf16_native(void);

/* C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C, row-major as cblas_sgemm with
 * CblasRowMajor; op(X) = X^T when transX. A and B are rounded to bf16 (not
 * modified); C is FP32 and not read when beta == 0. */
void pq_gemm_bf16(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc);
/* The same product through the portable path (bf16-rounded copies + sgemm),
 * whatever the CPU: the reference the tests hold the fast path to. */
void pq_gemm_bf16_portable(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                           int ldb, float beta, float *C, int ldc);

#endif
