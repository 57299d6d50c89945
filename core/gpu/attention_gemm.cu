/* attention_gemm.cu — causal grouped-query attention through cuBLAS (kernels.cuh).
 *
 * The tiled kernels of kernels.cu run every score on CUDA cores, one warp per query,
 * and re-read each key tile for every four queries: at context 2048 they were most of
 * a training step. Here the work is five batched matrix products per layer and
 * direction, which cuBLAS runs on tensor cores in TF32 mode (pedantic FP32 otherwise):
 *
 *   forward   S = scale Q K^T, P = softmax(S) (a kernel), O = P V
 *   backward  S again, P = exp(S - lse), dV = P^T dO, dP = dO V^T,
 *             dS = P (dP - delta) (a kernel), dQ = scale dS K, dK = scale dS^T Q
 *
 * A KV head's query heads are contiguous in head-major copies [B, H, T, hd], so one
 * product covers the group's rep = H/KV heads as a [rep*T, T] matrix, and the sums of
 * dK and dV over the group are the products' own inner dimension: no atomics, no
 * second pass. The masked upper triangle is computed and zeroed (2x the causal FLOPs;
 * the tensor cores have them to spare). Scores exist for nb sequences at a time. */
#include "gpu/kernels.cuh"

#include <cmath>

#include "gpu/c_api.cuh"

static inline int cdiv64(int64_t a, int64_t b) { return (int)((a + b - 1) / b); }

#define SOFT_THREADS 256

__device__ inline float warp_sum_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ inline float warp_max_f(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* A fixed tree over the SOFT_THREADS threads; every thread gets the result. */
__device__ float block_reduce(float v, bool is_max) {
    __shared__ float part[SOFT_THREADS / 32];
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    v = is_max ? warp_max_f(v) : warp_sum_f(v);
    __syncthreads();
    if (lane == 0) part[wid] = v;
    __syncthreads();
    float r = lane < SOFT_THREADS / 32 ? part[lane] : (is_max ? -INFINITY : 0.0f);
    return is_max ? warp_max_f(r) : warp_sum_f(r);
}

/* Where element i of the [B, nh, T, hd] head-major layout sits in the [B*T, ld] row-major
 * one: row b*T + t, column col0 + h*hd + d. */
__device__ static int64_t token_major_offset(int64_t i, int T, int nh, int hd, int ld, int col0) {
    int d = (int)(i % hd);
    int64_t r = i / hd;
    int t = (int)(r % T);
    int64_t bh = r / T;
    int h = (int)(bh % nh);
    int64_t b = bh / nh;
    return (b * T + t) * ld + col0 + h * hd + d;
}

/* dst[b, h, t, :] = src[b*T + t, col0 + h*hd : ...] and the reverse. */
__global__ void gather_heads_k(float *dst, const float *src, int T, int nh, int hd, int ld, int col0, int64_t total) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) dst[i] = src[token_major_offset(i, T, nh, hd, ld, col0)];
}
__global__ void scatter_heads_k(float *dst, const float *src, int T, int nh, int hd, int ld, int col0, int64_t total) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) dst[token_major_offset(i, T, nh, hd, ld, col0)] = src[i];
}

static void gather(float *dst, const float *src, int B, int T, int nh, int hd, int ld, int col0) {
    int64_t total = (int64_t)B * T * nh * hd;
    gather_heads_k<<<cdiv64(total, 256), 256>>>(dst, src, T, nh, hd, ld, col0, total);
    CUDA_LAUNCHED();
}
static void scatter(float *dst, const float *src, int B, int T, int nh, int hd, int ld, int col0) {
    int64_t total = (int64_t)B * T * nh * hd;
    scatter_heads_k<<<cdiv64(total, 256), 256>>>(dst, src, T, nh, hd, ld, col0, total);
    CUDA_LAUNCHED();
}

/* One row (sequence, head, query t) of S per block: P = softmax over keys 0..t, zeros
 * after; lse = the row's log-sum-exp. */
__global__ void __launch_bounds__(SOFT_THREADS) softmax_rows_k(float *s, float *lse, int T) {
    const int64_t row = blockIdx.x;
    const int t = (int)(row % T);
    float *x = s + row * T;
    float m = -INFINITY;
    for (int j = threadIdx.x; j <= t; j += SOFT_THREADS) m = fmaxf(m, x[j]);
    m = block_reduce(m, true);
    float l = 0.0f;
    for (int j = threadIdx.x; j <= t; j += SOFT_THREADS) l += expf(x[j] - m);
    l = block_reduce(l, false);
    for (int j = threadIdx.x; j < T; j += SOFT_THREADS) x[j] = j <= t ? expf(x[j] - m) / l : 0.0f;
    if (threadIdx.x == 0) lse[row] = m + logf(l);
}

/* Backward, elementwise over [rows, T]: P = exp(S - lse) (0 past the diagonal)... */
__global__ void probs_k(float *s, const float *lse, int T, int64_t total) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t row = i / T;
    int j = (int)(i % T), t = (int)(row % T);
    s[i] = j <= t ? expf(s[i] - lse[row]) : 0.0f;
}
/* ... and dS = P (dP - delta) into dp. */
__global__ void dscores_k(float *dp, const float *p, const float *delta, int T, int64_t total) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t row = i / T;
    int j = (int)(i % T), t = (int)(row % T);
    dp[i] = j <= t ? p[i] * (dp[i] - delta[row]) : 0.0f;
}

/* delta[b, h, t] = dO . O over the head's hd values: one warp per (row, head). */
__global__ void delta_k(float *delta, const float *dout, const float *out, int T, int H, int hd, int64_t n_warps) {
    int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (w >= n_warps) return; /* warp-uniform */
    int h = (int)(w % H);
    int64_t n = w / H;
    const float *a = dout + n * H * hd + h * hd, *o = out + n * H * hd + h * hd;
    float acc = 0.0f;
    for (int d = lane; d < hd; d += 32) acc += a[d] * o[d];
    acc = warp_sum_f(acc);
    if (lane == 0) delta[((n / T) * H + h) * T + n % T] = acc;
}

/* Row-major batched products through column-major cuBLAS (C^T = B^T A^T). */
static void gemm_nt(cublasHandle_t h, int M, int N, int K, float alpha, const float *A, int lda, int64_t sA, const float *B,
                    int ldb, int64_t sB, float *C, int ldc, int64_t sC, int batch) { /* C[M,N] = a A[M,K] B[N,K]^T */
    const float beta = 0.0f;
    CUBLAS_OK(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &alpha, B, ldb, sB, A, lda, sA, &beta, C, ldc,
                                        sC, batch));
}
static void gemm_nn(cublasHandle_t h, int M, int N, int K, float alpha, const float *A, int lda, int64_t sA, const float *B,
                    int ldb, int64_t sB, float *C, int ldc, int64_t sC, int batch) { /* C[M,N] = a A[M,K] B[K,N] */
    const float beta = 0.0f;
    CUBLAS_OK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &alpha, B, ldb, sB, A, lda, sA, &beta, C, ldc,
                                        sC, batch));
}
static void gemm_tn(cublasHandle_t h, int M, int N, int K, float alpha, const float *A, int lda, int64_t sA, const float *B,
                    int ldb, int64_t sB, float *C, int ldc, int64_t sC, int batch) { /* C[M,N] = a A[K,M]^T B[K,N] */
    const float beta = 0.0f;
    CUBLAS_OK(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_T, N, M, K, &alpha, B, ldb, sB, A, lda, sA, &beta, C, ldc,
                                        sC, batch));
}

int gk_attention_gemm_chunk(int B, int T, int H) {
    unsigned long long per_seq = (unsigned long long)H * T * T * sizeof(float);
    if (per_seq > GK_ATTN_GEMM_MAX_BYTES) return 0;
    unsigned long long nb = GK_ATTN_GEMM_MAX_BYTES / per_seq;
    return (int)(nb < (unsigned long long)B ? nb : B);
}

static float *ws_alloc(size_t n) {
    float *p = nullptr;
    CUDA_OK(cudaMalloc(&p, sizeof(float) * (n ? n : 1)));
    return p;
}

int gk_attention_gemm_alloc(gk_attn_ws *ws, int B, int T, int H, int KV, int hd, int max_seqs) {
    *ws = gk_attn_ws{};
    int nb = gk_attention_gemm_chunk(B, T, H);
    if (nb < 1) return -1;
    if (max_seqs > 0 && nb > max_seqs) nb = max_seqs;
    size_t nq = (size_t)B * T * H * hd, nk = (size_t)B * T * KV * hd, ns = (size_t)nb * H * T * T;
    ws->qh = ws_alloc(nq), ws->oh = ws_alloc(nq), ws->dqh = ws_alloc(nq);
    ws->kh = ws_alloc(nk), ws->vh = ws_alloc(nk), ws->dkh = ws_alloc(nk), ws->dvh = ws_alloc(nk);
    ws->s = ws_alloc(ns), ws->dp = ws_alloc(ns);
    ws->nb = nb;
    return 0;
}

void gk_attention_gemm_free(gk_attn_ws *ws) {
    float *all[] = {ws->qh, ws->kh, ws->vh, ws->oh, ws->dqh, ws->dkh, ws->dvh, ws->s, ws->dp};
    for (float *p : all) cudaFree(p);
    *ws = gk_attn_ws{};
}

void gk_attention_gemm_forward(cublasHandle_t h, const gk_attn_ws *ws, float *out, float *lse, const float *qkv, int B, int T,
                               int H, int KV, int hd) {
    const int C = (H + 2 * KV) * hd, D = H * hd, rep = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    const int64_t qT = (int64_t)rep * T * hd, kT = (int64_t)T * hd, sT = (int64_t)rep * T * T;
    gather(ws->qh, qkv, B, T, H, hd, C, 0);
    gather(ws->kh, qkv, B, T, KV, hd, C, D);
    gather(ws->vh, qkv, B, T, KV, hd, C, D + KV * hd);
    for (int b0 = 0; b0 < B; b0 += ws->nb) {
        const int n = B - b0 < ws->nb ? B - b0 : ws->nb, batch = n * KV;
        const float *q = ws->qh + (int64_t)b0 * H * T * hd, *k = ws->kh + (int64_t)b0 * KV * T * hd,
                    *v = ws->vh + (int64_t)b0 * KV * T * hd;
        gemm_nt(h, rep * T, T, hd, scale, q, hd, qT, k, hd, kT, ws->s, T, sT, batch);
        softmax_rows_k<<<n * H * T, SOFT_THREADS>>>(ws->s, lse + (int64_t)b0 * H * T, T);
        CUDA_LAUNCHED();
        gemm_nn(h, rep * T, hd, T, 1.0f, ws->s, T, sT, v, hd, kT, ws->oh + (int64_t)b0 * H * T * hd, hd, qT, batch);
    }
    scatter(out, ws->oh, B, T, H, hd, D, 0);
}

void gk_attention_gemm_backward(cublasHandle_t h, const gk_attn_ws *ws, float *dqkv, float *delta, const float *dout,
                                const float *out, const float *lse, const float *qkv, int B, int T, int H, int KV, int hd) {
    const int C = (H + 2 * KV) * hd, D = H * hd, rep = H / KV;
    const float scale = 1.0f / sqrtf((float)hd);
    const int64_t qT = (int64_t)rep * T * hd, kT = (int64_t)T * hd, sT = (int64_t)rep * T * T;
    gather(ws->qh, qkv, B, T, H, hd, C, 0);
    gather(ws->kh, qkv, B, T, KV, hd, C, D);
    gather(ws->vh, qkv, B, T, KV, hd, C, D + KV * hd);
    gather(ws->oh, dout, B, T, H, hd, D, 0); /* dO, head-major */
    int64_t n_warps = (int64_t)B * T * H;
    delta_k<<<cdiv64(n_warps * 32, 256), 256>>>(delta, dout, out, T, H, hd, n_warps);
    CUDA_LAUNCHED();
    for (int b0 = 0; b0 < B; b0 += ws->nb) {
        const int n = B - b0 < ws->nb ? B - b0 : ws->nb, batch = n * KV;
        const int64_t qo = (int64_t)b0 * H * T * hd, ko = (int64_t)b0 * KV * T * hd, lo = (int64_t)b0 * H * T;
        const int64_t cells = (int64_t)n * H * T * T;
        gemm_nt(h, rep * T, T, hd, scale, ws->qh + qo, hd, qT, ws->kh + ko, hd, kT, ws->s, T, sT, batch);
        probs_k<<<cdiv64(cells, 256), 256>>>(ws->s, lse + lo, T, cells);
        CUDA_LAUNCHED();
        gemm_tn(h, T, hd, rep * T, 1.0f, ws->s, T, sT, ws->oh + qo, hd, qT, ws->dvh + ko, hd, kT, batch);
        gemm_nt(h, rep * T, T, hd, 1.0f, ws->oh + qo, hd, qT, ws->vh + ko, hd, kT, ws->dp, T, sT, batch);
        dscores_k<<<cdiv64(cells, 256), 256>>>(ws->dp, ws->s, delta + lo, T, cells);
        CUDA_LAUNCHED();
        gemm_nn(h, rep * T, hd, T, scale, ws->dp, T, sT, ws->kh + ko, hd, kT, ws->dqh + qo, hd, qT, batch);
        gemm_tn(h, T, hd, rep * T, scale, ws->dp, T, sT, ws->qh + qo, hd, qT, ws->dkh + ko, hd, kT, batch);
    }
    scatter(dqkv, ws->dqh, B, T, H, hd, C, 0);
    scatter(dqkv, ws->dkh, B, T, KV, hd, C, D);
    scatter(dqkv, ws->dvh, B, T, KV, hd, C, D + KV * hd);
}
