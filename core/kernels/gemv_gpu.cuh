/* gemv_gpu.cuh — packed low-bit GEMV on an NVIDIA GPU (make CUDA=1; internal to
 * core/kernels, its benchmark and tests/gpu).
 *
 * The same packed rows as the CPU kernels (pack.h: the bytes of a pq_packed are
 * copied to the device as they are), for the formats a decoder streams at 2 bits
 * or less and at 4: B2, T2 (ternary in the B2 layout), T1_6 (5 trits a byte) and
 * B4. One token (decode): y[r] = row r of W · x.
 *
 * Activations as gemv.h's, on the device:
 *   Q8   int8 q (a row of `stride` bytes, zero past cols), d and dqsum: integer
 *        dot products through dp4a, so y is bitwise the CPU reference's
 *        (pq_matmul_rows with any ISA), the final affine step rounded as kern.h's;
 *   F32  float x (zero past cols) and xsum: float sums in a fixed order, within
 *        PQ_GEMV_F32_RTOL of the CPU's double reference.
 * gk_quantize_q8 makes Q8 activations on the device, bitwise as pq_act_batch_set.
 * Each row is one group of lanes in a fixed order: the same inputs give the same
 * bits on every run. */
#ifndef PQ_GEMV_GPU_CUH
#define PQ_GEMV_GPU_CUH

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#define _Noreturn [[noreturn]]
extern "C" {
#include "kernels/pack.h"
}
#undef _Noreturn

/* A pq_packed's device copy (data, scale, offset on the GPU; the rest its shape). */
struct gk_packed {
    int format, rows, cols, nblocks, tail_vecs;
    size_t row_bytes, block_bytes, tail_bytes;
    uint8_t *data;
    float *scale, *offset;
};

/* 1 for the formats with a GPU kernel (B2, T2, T1_6, B4). */
int gk_gemv_supports(pq_format f);
/* Copies p to the device (cudaMalloc; gk_packed_free releases it). Dies on a CUDA error;
 * the format must be supported. */
gk_packed gk_packed_upload(const pq_packed *p);
void gk_packed_free(gk_packed *w);

/* y[rows] = W q (Q8): q (16-byte aligned, zero past cols) with d, dqsum device pointers to the token's scalars. */
void gk_gemv_q8(const gk_packed *W, const int8_t *q, const float *d, const float *dqsum, float *y, cudaStream_t s);
/* y[rows] = W x (F32): x (16-byte aligned, zero past cols) and xsum on the device. */
void gk_gemv_f32(const gk_packed *W, const float *x, const float *xsum, float *y, cudaStream_t s);
/* q[stride] (zero past cols), d, dqsum and qsum of one token x[cols], as gemv.c's quantize_token. */
void gk_quantize_q8(const float *x, int cols, int stride, int8_t *q, float *d, float *dqsum, int32_t *qsum, cudaStream_t s);

#endif
