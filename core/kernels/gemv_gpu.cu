/* gemv_gpu.cu — the packed GEMV kernels of gemv_gpu.cuh.
 *
 * A row is read as 16-byte chunks (row_bytes is a multiple of 16 for B2, T2, T1_6
 * and B4), one chunk per lane at a time, by a group of LPR lanes (a power of two,
 * up to a warp, no more than the row has chunks: a 576-wide 2-bit row is 9 chunks
 * and gets 16 lanes, so two rows share a warp). Inside a chunk every 4-byte word
 * unpacks with a shift and a mask into 4 codes of 4 CONSECUTIVE weights, one code a
 * byte, the property the CPU layout was chosen for (pack.h): for B2 byte j, bits
 * 2k..2k+1 hold weight 64k + j, so word bytes j..j+3 shifted by 2k are weights
 * 64k+j .. 64k+j+3. Those 4 codes meet the 4 int8 activations at the same index in
 * one dp4a (Q8) or 4 FMAs (F32). T1_6 gets its trits by llama.cpp's multiply trick
 * (trit = (3m)>>8, m <- 3m mod 256), two bytes at a time in 16-bit lanes. */
#include "kernels/gemv_gpu.cuh"

#include <cfloat>
#include <cmath>

#include "gpu/kernels.cuh" /* CUDA_OK */

#define _Noreturn [[noreturn]]
extern "C" {
#include "base/util.h"
}
#undef _Noreturn

#define GEMV_THREADS 256

int gk_gemv_supports(pq_format f) { return f == PQ_FMT_B2 || f == PQ_FMT_T2 || f == PQ_FMT_T1_6 || f == PQ_FMT_B4; }

gk_packed gk_packed_upload(const pq_packed *p) {
    if (!gk_gemv_supports(p->format)) pq_die("gemv_gpu: no GPU kernel for format %s", pq_format_name(p->format));
    gk_packed w;
    w.format = p->format, w.rows = p->rows, w.cols = p->cols, w.nblocks = p->nblocks, w.tail_vecs = p->tail_vecs;
    w.row_bytes = p->row_bytes, w.block_bytes = p->block_bytes, w.tail_bytes = p->tail_bytes;
    size_t bytes = (size_t)p->rows * p->row_bytes;
    CUDA_OK(cudaMalloc(&w.data, bytes));
    CUDA_OK(cudaMemcpy(w.data, p->data, bytes, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMalloc(&w.scale, sizeof(float) * p->rows));
    CUDA_OK(cudaMalloc(&w.offset, sizeof(float) * p->rows));
    CUDA_OK(cudaMemcpy(w.scale, p->scale, sizeof(float) * p->rows, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(w.offset, p->offset, sizeof(float) * p->rows, cudaMemcpyHostToDevice));
    return w;
}

void gk_packed_free(gk_packed *w) {
    cudaFree(w->data), cudaFree(w->scale), cudaFree(w->offset);
    w->data = nullptr, w->scale = w->offset = nullptr;
}

/* ---- accumulators: 4 words of codes (one a byte) against activations j .. j+15 ---------- */

/* A chunk's 4 words always unpack into codes of 16 CONSECUTIVE weights (per shift or
 * trit), so the int8 activations come as one 16-byte load (j is a multiple of 16), not
 * 16 loads of 4 bytes: a first version that loaded 4 bytes per dp4a ran at 0.12-0.25
 * of the bandwidth on 8192x2048, its L1 busy with activation loads. */
struct acc_q8 {
    const int4 *q16; /* the int8 activations, 16 at a time */
    int s = 0;
    __device__ void add16(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, int j) {
        const int4 x = __ldg(q16 + (j >> 4));
        s = __dp4a((int)c0, x.x, s), s = __dp4a((int)c1, x.y, s), s = __dp4a((int)c2, x.z, s), s = __dp4a((int)c3, x.w, s);
    }
};

struct acc_f32 {
    const float4 *x4;
    float s = 0.0f;
    __device__ void add4(uint32_t codes, float4 x) {
        s = fmaf((float)(codes & 0xFF), x.x, s);
        s = fmaf((float)((codes >> 8) & 0xFF), x.y, s);
        s = fmaf((float)((codes >> 16) & 0xFF), x.z, s);
        s = fmaf((float)(codes >> 24), x.w, s);
    }
    __device__ void add16(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, int j) {
        const float4 *x = x4 + (j >> 2);
        add4(c0, __ldg(x)), add4(c1, __ldg(x + 1)), add4(c2, __ldg(x + 2)), add4(c3, __ldg(x + 3));
    }
};

/* ---- one 16-byte chunk of a row -------------------------------------------------------- */

template <int FMT> struct layout;
template <> struct layout<PQ_FMT_B2> { static constexpr int block = 256, bc = 4, tc = 1; };
template <> struct layout<PQ_FMT_B4> { static constexpr int block = 256, bc = 8, tc = 2; };
template <> struct layout<PQ_FMT_T1_6> { static constexpr int block = 320, bc = 4, tc = 0; };

#define M2 0x03030303u
#define M4 0x0F0F0F0Fu

template <int FMT, class Acc> __device__ __forceinline__ void chunk(uint4 v, int c, int nblocks, Acc &acc) {
    using L = layout<FMT>;
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
    const int nbc = nblocks * L::bc;
    if (c < nbc) {
        const int blk = c / L::bc, cc = c % L::bc;
        if (FMT == PQ_FMT_B2) { /* byte j, bits 2k..2k+1: weight 64k + j */
            const int j = blk * 256 + 16 * cc;
#pragma unroll
            for (int k = 0; k < 4; k++)
                acc.add16((w[0] >> 2 * k) & M2, (w[1] >> 2 * k) & M2, (w[2] >> 2 * k) & M2, (w[3] >> 2 * k) & M2, j + 64 * k);
        } else if (FMT == PQ_FMT_B4) { /* 64-byte group g, byte j: weights 128g + j (low), 128g + 64 + j (high) */
            const int j = blk * 256 + (cc / 4) * 128 + 16 * (cc % 4);
            acc.add16(w[0] & M4, w[1] & M4, w[2] & M4, w[3] & M4, j);
            acc.add16((w[0] >> 4) & M4, (w[1] >> 4) & M4, (w[2] >> 4) & M4, (w[3] >> 4) & M4, j + 64);
        } else { /* T1_6, byte j: trits of weights 64k + j; bytes 0, 2 in e and 1, 3 in o, one per 16-bit lane */
            const int j = blk * 320 + 16 * cc;
            uint32_t e[4], o[4];
#pragma unroll
            for (int i = 0; i < 4; i++) e[i] = w[i] & 0x00FF00FFu, o[i] = (w[i] >> 8) & 0x00FF00FFu;
#pragma unroll
            for (int k = 0; k < 5; k++) {
                uint32_t t[4];
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    const uint32_t e3 = e[i] * 3u, o3 = o[i] * 3u;
                    t[i] = ((e3 >> 8) & 0x00030003u) | (((o3 >> 8) & 0x00030003u) << 8);
                    e[i] = e3 & 0x00FF00FFu, o[i] = o3 & 0x00FF00FFu;
                }
                acc.add16(t[0], t[1], t[2], t[3], j + 64 * k);
            }
        }
    } else if (L::tc) {
        const int tc = c - nbc, t = tc / (L::tc ? L::tc : 1), cc = tc % (L::tc ? L::tc : 1);
        const int tail0 = nblocks * L::block + 64 * t;
        if (FMT == PQ_FMT_B2) { /* byte j, bits 2k..2k+1: weight 16k + j */
#pragma unroll
            for (int k = 0; k < 4; k++)
                acc.add16((w[0] >> 2 * k) & M2, (w[1] >> 2 * k) & M2, (w[2] >> 2 * k) & M2, (w[3] >> 2 * k) & M2,
                          tail0 + 16 * k);
        } else if (FMT == PQ_FMT_B4) { /* byte j: weight j (low nibble), 32 + j (high) */
            const int j = tail0 + 16 * cc;
            acc.add16(w[0] & M4, w[1] & M4, w[2] & M4, w[3] & M4, j);
            acc.add16((w[0] >> 4) & M4, (w[1] >> 4) & M4, (w[2] >> 4) & M4, (w[3] >> 4) & M4, j + 32);
        }
    }
}
#undef M2
#undef M4

template <class T> __device__ __forceinline__ T group_sum(T v, int lpr) {
    for (int o = lpr >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Each group of lpr lanes walks one row's chunks (4 loads in flight per lane where the
 * row has them), then sums in a fixed butterfly. */
template <int FMT, class Acc>
__device__ __forceinline__ void row_dot(const gk_packed &W, int r, int sub, int lpr, Acc &acc) {
    if (r >= W.rows) return;
    const uint4 *row = (const uint4 *)(W.data + (size_t)r * W.row_bytes);
    const int n = (int)(W.row_bytes / 16);
    int c = sub;
    for (; c + 3 * lpr < n; c += 4 * lpr) {
        uint4 v0 = __ldg(row + c), v1 = __ldg(row + c + lpr), v2 = __ldg(row + c + 2 * lpr), v3 = __ldg(row + c + 3 * lpr);
        chunk<FMT>(v0, c, W.nblocks, acc);
        chunk<FMT>(v1, c + lpr, W.nblocks, acc);
        chunk<FMT>(v2, c + 2 * lpr, W.nblocks, acc);
        chunk<FMT>(v3, c + 3 * lpr, W.nblocks, acc);
    }
    for (; c < n; c += lpr) chunk<FMT>(__ldg(row + c), c, W.nblocks, acc);
}

template <int FMT>
__global__ void __launch_bounds__(GEMV_THREADS) gemv_q8_k(gk_packed W, const int8_t *q, const float *d, const float *dqsum,
                                                           float *y, int lpr) {
    const int gtid = blockIdx.x * GEMV_THREADS + threadIdx.x, r = gtid / lpr, sub = gtid % lpr;
    acc_q8 acc;
    acc.q16 = (const int4 *)q;
    row_dot<FMT>(W, r, sub, lpr, acc);
    const int isum = group_sum(acc.s, lpr);
    if (sub == 0 && r < W.rows) /* kern.h's pq_q8_finish, each operation rounded alone (no FMA) */
        y[r] = __fadd_rn(__fmul_rn(W.scale[r], __fmul_rn(*d, __int2float_rn(isum))), __fmul_rn(W.offset[r], *dqsum));
}

template <int FMT>
__global__ void __launch_bounds__(GEMV_THREADS) gemv_f32_k(gk_packed W, const float *x, const float *xsum, float *y, int lpr) {
    const int gtid = blockIdx.x * GEMV_THREADS + threadIdx.x, r = gtid / lpr, sub = gtid % lpr;
    acc_f32 acc;
    acc.x4 = (const float4 *)x;
    row_dot<FMT>(W, r, sub, lpr, acc);
    const float dot = group_sum(acc.s, lpr);
    if (sub == 0 && r < W.rows) y[r] = __fadd_rn(__fmul_rn(W.scale[r], dot), __fmul_rn(W.offset[r], *xsum));
}

/* Lanes per row: the chunks a row has, rounded up to a power of two, at most 32. */
static int lanes_per_row(const gk_packed *W) {
    int n = (int)(W->row_bytes / 16), l = 1;
    while (l < n && l < 32) l <<= 1;
    return l;
}

#define GEMV_DISPATCH(fmt, KERNEL, ...)                                                                                      \
    switch (fmt) {                                                                                                            \
    case PQ_FMT_B2:                                                                                                           \
    case PQ_FMT_T2: KERNEL<PQ_FMT_B2><<<grid, GEMV_THREADS, 0, s>>>(__VA_ARGS__); break;                                     \
    case PQ_FMT_B4: KERNEL<PQ_FMT_B4><<<grid, GEMV_THREADS, 0, s>>>(__VA_ARGS__); break;                                     \
    case PQ_FMT_T1_6: KERNEL<PQ_FMT_T1_6><<<grid, GEMV_THREADS, 0, s>>>(__VA_ARGS__); break;                                 \
    default: pq_die("gemv_gpu: no GPU kernel for format %s", pq_format_name((pq_format)fmt));                                \
    }

void gk_gemv_q8(const gk_packed *W, const int8_t *q, const float *d, const float *dqsum, float *y, cudaStream_t s) {
    const int lpr = lanes_per_row(W), grid = (int)(((int64_t)W->rows * lpr + GEMV_THREADS - 1) / GEMV_THREADS);
    GEMV_DISPATCH(W->format, gemv_q8_k, *W, q, d, dqsum, y, lpr)
    CUDA_LAUNCHED();
}

void gk_gemv_f32(const gk_packed *W, const float *x, const float *xsum, float *y, cudaStream_t s) {
    const int lpr = lanes_per_row(W), grid = (int)(((int64_t)W->rows * lpr + GEMV_THREADS - 1) / GEMV_THREADS);
    GEMV_DISPATCH(W->format, gemv_f32_k, *W, x, xsum, y, lpr)
    CUDA_LAUNCHED();
}

/* ---- int8 activations ----------------------------------------------------------------- */

#define QUANT_THREADS 256

struct op_max {
    __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};
struct op_or {
    __device__ int operator()(int a, int b) const { return a | b; }
};
struct op_add {
    __device__ int operator()(int a, int b) const { return a + b; }
};

/* op over the block (QUANT_THREADS threads): a warp butterfly, then the warps in order. */
template <class T, class Op> __device__ T block_all(T v, Op op) {
    __shared__ T part[QUANT_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    T r = part[0];
    for (int w = 1; w < QUANT_THREADS / 32; w++) r = op(r, part[w]);
    return r;
}

/* gemv.c's quantize_token: d = max|x|/127, q = round-half-even(x * 127/max|x|) clamped to
 * ±127; a token of zeros gets d = 0, one holding Inf or NaN d = NaN (and q = 0). The max
 * and the integer sum are exact in any order, and every float step is one rounded
 * operation, so the bits are the CPU's. */
__global__ void __launch_bounds__(QUANT_THREADS) quantize_q8_k(const float *x, int cols, int stride, int8_t *q, float *d,
                                                                float *dqsum, int32_t *qsum) {
    float amax = 0.0f;
    int nonfinite = 0;
    for (int i = threadIdx.x; i < cols; i += QUANT_THREADS) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
        nonfinite |= !(a <= FLT_MAX);
    }
    amax = block_all(amax, op_max());
    nonfinite = block_all(nonfinite, op_or());
    if (nonfinite || amax == 0.0f) {
        for (int i = threadIdx.x; i < stride; i += QUANT_THREADS) q[i] = 0;
        if (threadIdx.x == 0) *d = *dqsum = nonfinite ? NAN : 0.0f, *qsum = 0;
        return;
    }
    const float dd = __fdiv_rn(amax, 127.0f), inv = __fdiv_rn(127.0f, amax);
    int sum = 0;
    for (int i = threadIdx.x; i < stride; i += QUANT_THREADS) {
        int v = 0;
        if (i < cols) {
            float f = rintf(__fmul_rn(x[i], inv));
            f = f > 127.0f ? 127.0f : f < -127.0f ? -127.0f : f;
            v = (int)f;
        }
        q[i] = (int8_t)v;
        sum += v;
    }
    sum = block_all(sum, op_add());
    if (threadIdx.x == 0) *d = dd, *dqsum = __fmul_rn(dd, __int2float_rn(sum)), *qsum = sum;
}

void gk_quantize_q8(const float *x, int cols, int stride, int8_t *q, float *d, float *dqsum, int32_t *qsum, cudaStream_t s) {
    quantize_q8_k<<<1, QUANT_THREADS, 0, s>>>(x, cols, stride, q, d, dqsum, qsum);
    CUDA_LAUNCHED();
}
