/* kernels.cu — the layer kernels of the CUDA backend (see kernels.cuh).
 *
 * Simple, correct, deterministic first: row-wise work is one block per row with
 * a fixed-size tree reduction; column sums go through fixed chunks of rows and
 * then an ordered pass over the chunks; attention is tiled (32 keys or queries
 * per tile in shared memory, one warp per row, an online softmax) and recomputes
 * the probabilities in backward from the saved row log-sum-exp. */
#include "gpu/kernels.cuh"

#include <cmath>
#include <cstdio>

#include "gpu/c_api.cuh"

void pq_cuda_check(cudaError_t e, const char *file, int line) {
    if (e != cudaSuccess) pq_die("cuda: %s:%d: %s", file, line, cudaGetErrorString(e));
}

void pq_cublas_check(cublasStatus_t s, const char *file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS) pq_die("cublas: %s:%d: status %d", file, line, (int)s);
}

static inline int cdiv(int64_t a, int64_t b) { return (int)((a + b - 1) / b); }

/* ---- reductions ------------------------------------------------------------- */

template <typename T> __device__ inline T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v; /* a butterfly: every lane ends with the same bits */
}

__device__ inline float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it. */
template <typename T> __device__ T block_sum(T v) {
    __shared__ T part[32];
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* part may still be read by a previous call */
    if (lane == 0) part[wid] = v;
    __syncthreads();
    T r = lane < nw ? part[lane] : (T)0;
    return warp_sum(r);
}

__device__ float block_max(float v) {
    __shared__ float part[32];
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) part[wid] = v;
    __syncthreads();
    float r = lane < nw ? part[lane] : -INFINITY;
    return warp_max(r);
}

/* ---- linear (cuBLAS, column-major views of our row-major arrays) ---------------- */

void gk_linear_forward(cublasHandle_t h, float *out, const float *in, const float *W, int N, int I, int O, int accumulate) {
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    /* out^T[O, N] = W[O, I] in^T[I, N] */
    CUBLAS_OK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, O, N, I, &one, W, I, in, I, &beta, out, O));
}

void gk_linear_backward(cublasHandle_t h, float *din, float *dW, const float *dout, const float *in, const float *W, int N,
                        int I, int O, int accumulate_din) {
    const float one = 1.0f, beta = accumulate_din ? 1.0f : 0.0f;
    /* din^T[I, N] = W^T[I, O] dout^T[O, N] */
    if (din) CUBLAS_OK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, I, N, O, &one, W, I, dout, O, &beta, din, I));
    /* dW^T[I, O] += in^T[I, N] dout[N, O] */
    CUBLAS_OK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, I, O, N, &one, in, I, dout, O, &one, dW, I));
}

/* ---- embedding ------------------------------------------------------------------ */

__global__ void embed_fwd_k(float *res, const float *emb, const int32_t *tok, int N, int D) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (int64_t)N * D) return;
    int n = (int)(i / D), d = (int)(i % D);
    res[i] = emb[(int64_t)tok[n] * D + d];
}

void gk_embed_forward(float *res, const float *emb, const int32_t *tok, int N, int D) {
    embed_fwd_k<<<cdiv((int64_t)N * D, 256), 256>>>(res, emb, tok, N, D);
    CUDA_LAUNCHED();
}

/* One block per distinct token: its positions are added in order, as the CPU does. */
__global__ void embed_bwd_k(float *gemb, const float *dres, const int32_t *uniq, const int32_t *offs, const int32_t *pos, int D) {
    int u = blockIdx.x;
    float *dst = gemb + (int64_t)uniq[u] * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float acc = dst[d];
        for (int k = offs[u]; k < offs[u + 1]; k++) acc += dres[(int64_t)pos[k] * D + d];
        dst[d] = acc;
    }
}

void gk_embed_backward(float *gemb, const float *dres, const int32_t *uniq, const int32_t *offs, const int32_t *pos,
                       int n_uniq, int D) {
    if (n_uniq == 0) return;
    embed_bwd_k<<<n_uniq, 128>>>(gemb, dres, uniq, offs, pos, D);
    CUDA_LAUNCHED();
}

/* ---- RMSNorm ---------------------------------------------------------------------- */

#define NORM_THREADS 128
#define COL_CHUNK 64 /* rows per partial column sum */

__global__ void rmsnorm_fwd_k(float *out, float *rstd, const float *x, const float *w, int D, float eps) {
    int n = blockIdx.x;
    const float *xr = x + (int64_t)n * D;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss);
    float r = 1.0f / sqrtf(ss / (float)D + eps);
    if (threadIdx.x == 0) rstd[n] = r;
    for (int i = threadIdx.x; i < D; i += blockDim.x) out[(int64_t)n * D + i] = xr[i] * r * w[i];
}

void gk_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps) {
    rmsnorm_fwd_k<<<N, NORM_THREADS>>>(out, rstd, x, w, D, eps);
    CUDA_LAUNCHED();
}

__global__ void rmsnorm_bwd_dx_k(float *dx, const float *dout, const float *x, const float *w, const float *rstd, int D) {
    int n = blockIdx.x;
    const float *xr = x + (int64_t)n * D, *g = dout + (int64_t)n * D;
    float *dxr = dx + (int64_t)n * D;
    float r = rstd[n], dot = 0.0f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) dot += g[i] * w[i] * xr[i];
    dot = block_sum(dot);
    float c = dot * r * r * r / (float)D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) dxr[i] += g[i] * w[i] * r - xr[i] * c;
}

/* partial[c, d] = sum over rows of chunk c of dout * x * rstd, rows in order. */
__global__ void rmsnorm_bwd_dw_partial_k(float *partial, const float *dout, const float *x, const float *rstd, int N, int D) {
    int d = blockIdx.x * blockDim.x + threadIdx.x, c = blockIdx.y;
    if (d >= D) return;
    int n0 = c * COL_CHUNK, n1 = min(N, n0 + COL_CHUNK);
    float acc = 0.0f;
    for (int n = n0; n < n1; n++) acc += dout[(int64_t)n * D + d] * x[(int64_t)n * D + d] * rstd[n];
    partial[(int64_t)c * D + d] = acc;
}

__global__ void colsum_finish_k(float *dw, const float *partial, int n_chunks, int D) {
    int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D) return;
    float acc = dw[d];
    for (int c = 0; c < n_chunks; c++) acc += partial[(int64_t)c * D + d];
    dw[d] = acc;
}

size_t gk_rmsnorm_partial_floats(int N, int D) { return (size_t)cdiv(N, COL_CHUNK) * D; }

void gk_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd, int N,
                         int D, float *partial) {
    rmsnorm_bwd_dx_k<<<N, NORM_THREADS>>>(dx, dout, x, w, rstd, D);
    CUDA_LAUNCHED();
    int chunks = cdiv(N, COL_CHUNK);
    rmsnorm_bwd_dw_partial_k<<<dim3(cdiv(D, 128), chunks), 128>>>(partial, dout, x, rstd, N, D);
    CUDA_LAUNCHED();
    colsum_finish_k<<<cdiv(D, 128), 128>>>(dw, partial, chunks, D);
    CUDA_LAUNCHED();
}

/* ---- RoPE ---------------------------------------------------------------------------- */

__global__ void rope_k(float *x, int ld, int T, int n_heads, int hd, const float *cos_t, const float *sin_t, float sgn,
                       int64_t total) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int half = hd / 2;
    int k = (int)(i % half);
    int64_t rest = i / half;
    int h = (int)(rest % n_heads);
    int64_t row = rest / n_heads;
    int pos = (int)(row % T);
    float *v = x + row * ld + (int64_t)h * hd;
    float c = cos_t[(int64_t)pos * half + k], s = sgn * sin_t[(int64_t)pos * half + k];
    float a = v[k], b = v[k + half];
    v[k] = a * c - b * s;
    v[k + half] = b * c + a * s;
}

void gk_rope(float *x, int ld, int B, int T, int n_heads, int hd, const float *cos_t, const float *sin_t, int inverse) {
    int64_t total = (int64_t)B * T * n_heads * (hd / 2);
    rope_k<<<cdiv(total, 256), 256>>>(x, ld, T, n_heads, hd, cos_t, sin_t, inverse ? -1.0f : 1.0f, total);
    CUDA_LAUNCHED();
}

/* ---- SwiGLU ------------------------------------------------------------------------------ */

__global__ void swiglu_fwd_k(float *h, const float *gu, int F, int64_t total) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t n = i / F;
    int f = (int)(i % F);
    float g = gu[n * 2 * F + f], u = gu[n * 2 * F + F + f];
    float sig = 1.0f / (1.0f + expf(-g));
    h[i] = g * sig * u;
}

__global__ void swiglu_bwd_k(float *dgu, const float *dh, const float *gu, int F, int64_t total) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int64_t n = i / F;
    int f = (int)(i % F);
    float g = gu[n * 2 * F + f], u = gu[n * 2 * F + F + f], d = dh[i];
    float sig = 1.0f / (1.0f + expf(-g));
    dgu[n * 2 * F + F + f] = d * g * sig;
    dgu[n * 2 * F + f] = d * u * sig * (1.0f + g * (1.0f - sig));
}

void gk_swiglu_forward(float *h, const float *gu, int N, int F) {
    int64_t total = (int64_t)N * F;
    swiglu_fwd_k<<<cdiv(total, 256), 256>>>(h, gu, F, total);
    CUDA_LAUNCHED();
}

void gk_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
    int64_t total = (int64_t)N * F;
    swiglu_bwd_k<<<cdiv(total, 256), 256>>>(dgu, dh, gu, F, total);
    CUDA_LAUNCHED();
}

/* ---- attention -----------------------------------------------------------------------------
 * qkv rows [q heads | k heads | v heads], C = (H + 2 KV) hd wide; query head h reads KV head
 * h / (H / KV). A block holds ATT_WARPS rows (one warp each) and walks tiles of 32 keys (or
 * queries) staged in shared memory, one tile element per lane. */

#define ATT_WARPS 4
#define ATT_TILE 32

/* Stages keys and values j0 .. j0 + ATT_TILE - 1 of one KV head in shared memory (zeros past T);
 * the forward and the dq backward walk the same tiles. The caller synchronizes around it. */
template <int HD>
__device__ __forceinline__ void load_kv_tile(float (*Ks)[HD + 1], float (*Vs)[HD + 1], const float *base, int j0,
                                             int T, int C, int koff, int voff) {
    for (int idx = threadIdx.x; idx < ATT_TILE * HD; idx += blockDim.x) {
        int r = idx / HD, d = idx % HD, j = j0 + r;
        Ks[r][d] = j < T ? base[(int64_t)j * C + koff + d] : 0.0f;
        Vs[r][d] = j < T ? base[(int64_t)j * C + voff + d] : 0.0f;
    }
}

template <int HD>
__global__ void __launch_bounds__(ATT_WARPS * 32) attn_fwd_k(float *out, float *lse, const float *qkv, int T, int H, int KV,
                                                             float scale) {
    constexpr int PER = HD / 32;
    __shared__ float Ks[ATT_TILE][HD + 1], Vs[ATT_TILE][HD + 1], Qs[ATT_WARPS][HD];
    const int b = blockIdx.z, h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int t0 = blockIdx.x * ATT_WARPS, t = t0 + warp;
    const int C = (H + 2 * KV) * HD, D = H * HD, kvh = h / (H / KV);
    const float *base = qkv + (int64_t)b * T * C;
    const int koff = D + kvh * HD, voff = D + KV * HD + kvh * HD;
    if (t < T)
        for (int d = lane; d < HD; d += 32) Qs[warp][d] = base[(int64_t)t * C + h * HD + d];
    float m = -INFINITY, l = 0.0f, o[PER];
#pragma unroll
    for (int k = 0; k < PER; k++) o[k] = 0.0f;
    const int tmax = min(T - 1, t0 + ATT_WARPS - 1);
    for (int j0 = 0; j0 <= tmax; j0 += ATT_TILE) {
        __syncthreads();
        load_kv_tile<HD>(Ks, Vs, base, j0, T, C, koff, voff);
        __syncthreads();
        if (t >= T || j0 > t) continue; /* warp-uniform */
        const int j = j0 + lane;
        float s = -INFINITY;
        if (j <= t) {
            float acc = 0.0f;
#pragma unroll 8
            for (int d = 0; d < HD; d++) acc += Qs[warp][d] * Ks[lane][d];
            s = acc * scale;
        }
        const float mnew = fmaxf(m, warp_max(s));
        const float p = j <= t ? expf(s - mnew) : 0.0f;
        const float corr = expf(m - mnew); /* 0 on the first tile (m = -inf) */
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int k = 0; k < PER; k++) o[k] *= corr;
        for (int jj = 0; jj < ATT_TILE; jj++) {
            float pj = __shfl_sync(0xffffffffu, p, jj);
#pragma unroll
            for (int k = 0; k < PER; k++) o[k] += pj * Vs[jj][lane + 32 * k];
        }
        m = mnew;
    }
    if (t < T) {
        float inv = 1.0f / l;
#pragma unroll
        for (int k = 0; k < PER; k++) out[((int64_t)b * T + t) * D + h * HD + lane + 32 * k] = o[k] * inv;
        if (lane == 0) lse[((int64_t)b * H + h) * T + t] = m + logf(l);
    }
}

/* dQ, and delta = rowsum(dO * O) for the dK/dV pass. */
template <int HD>
__global__ void __launch_bounds__(ATT_WARPS * 32) attn_bwd_dq_k(float *dqkv, float *delta, const float *dout, const float *out,
                                                                const float *lse, const float *qkv, int T, int H, int KV,
                                                                float scale) {
    constexpr int PER = HD / 32;
    __shared__ float Ks[ATT_TILE][HD + 1], Vs[ATT_TILE][HD + 1], Qs[ATT_WARPS][HD], dOs[ATT_WARPS][HD];
    const int b = blockIdx.z, h = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int t0 = blockIdx.x * ATT_WARPS, t = t0 + warp;
    const int C = (H + 2 * KV) * HD, D = H * HD, kvh = h / (H / KV);
    const float *base = qkv + (int64_t)b * T * C;
    const int koff = D + kvh * HD, voff = D + KV * HD + kvh * HD;
    float Dt = 0.0f, lse_t = 0.0f;
    if (t < T) {
        const float *dorow = dout + ((int64_t)b * T + t) * D + h * HD, *orow = out + ((int64_t)b * T + t) * D + h * HD;
        float acc = 0.0f;
        for (int d = lane; d < HD; d += 32) {
            Qs[warp][d] = base[(int64_t)t * C + h * HD + d];
            dOs[warp][d] = dorow[d];
            acc += dorow[d] * orow[d];
        }
        Dt = warp_sum(acc);
        lse_t = lse[((int64_t)b * H + h) * T + t];
        if (lane == 0) delta[((int64_t)b * H + h) * T + t] = Dt;
    }
    float dq[PER];
#pragma unroll
    for (int k = 0; k < PER; k++) dq[k] = 0.0f;
    const int tmax = min(T - 1, t0 + ATT_WARPS - 1);
    for (int j0 = 0; j0 <= tmax; j0 += ATT_TILE) {
        __syncthreads();
        load_kv_tile<HD>(Ks, Vs, base, j0, T, C, koff, voff);
        __syncthreads();
        if (t >= T || j0 > t) continue;
        const int j = j0 + lane;
        float ds = 0.0f;
        if (j <= t) {
            float s = 0.0f, dp = 0.0f;
#pragma unroll 8
            for (int d = 0; d < HD; d++) {
                s += Qs[warp][d] * Ks[lane][d];
                dp += dOs[warp][d] * Vs[lane][d];
            }
            float p = expf(s * scale - lse_t);
            ds = p * (dp - Dt);
        }
        for (int jj = 0; jj < ATT_TILE; jj++) {
            float dsj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
            for (int k = 0; k < PER; k++) dq[k] += dsj * Ks[jj][lane + 32 * k];
        }
    }
    if (t < T) {
#pragma unroll
        for (int k = 0; k < PER; k++) dqkv[((int64_t)b * T + t) * C + h * HD + lane + 32 * k] = dq[k] * scale;
    }
}

/* dK and dV: one warp per key; the group's query heads in order, then queries in order. */
template <int HD>
__global__ void __launch_bounds__(ATT_WARPS * 32) attn_bwd_dkv_k(float *dqkv, const float *delta, const float *dout,
                                                                 const float *lse, const float *qkv, int T, int H, int KV,
                                                                 float scale) {
    constexpr int PER = HD / 32;
    __shared__ float Qs[ATT_TILE][HD + 1], dOs[ATT_TILE][HD + 1], Kr[ATT_WARPS][HD], Vr[ATT_WARPS][HD];
    __shared__ float lse_s[ATT_TILE], del_s[ATT_TILE];
    const int b = blockIdx.z, kvh = blockIdx.y, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int j_first = blockIdx.x * ATT_WARPS, j = j_first + warp, group = H / KV;
    const int C = (H + 2 * KV) * HD, D = H * HD;
    const float *base = qkv + (int64_t)b * T * C;
    const int koff = D + kvh * HD, voff = D + KV * HD + kvh * HD;
    if (j < T)
        for (int d = lane; d < HD; d += 32) {
            Kr[warp][d] = base[(int64_t)j * C + koff + d];
            Vr[warp][d] = base[(int64_t)j * C + voff + d];
        }
    float dk[PER], dv[PER];
#pragma unroll
    for (int k = 0; k < PER; k++) dk[k] = dv[k] = 0.0f;
    const int i_start = (j_first / ATT_TILE) * ATT_TILE;
    for (int g = 0; g < group; g++) {
        const int h = kvh * group + g;
        const float *dob = dout + (int64_t)b * T * D + h * HD;
        for (int i0 = i_start; i0 < T; i0 += ATT_TILE) {
            __syncthreads();
            for (int idx = threadIdx.x; idx < ATT_TILE * HD; idx += blockDim.x) {
                int r = idx / HD, d = idx % HD, i = i0 + r;
                Qs[r][d] = i < T ? base[(int64_t)i * C + h * HD + d] : 0.0f;
                dOs[r][d] = i < T ? dob[(int64_t)i * D + d] : 0.0f;
            }
            if (threadIdx.x < ATT_TILE) {
                int i = i0 + threadIdx.x;
                lse_s[threadIdx.x] = i < T ? lse[((int64_t)b * H + h) * T + i] : 0.0f;
                del_s[threadIdx.x] = i < T ? delta[((int64_t)b * H + h) * T + i] : 0.0f;
            }
            __syncthreads();
            if (j >= T || i0 + ATT_TILE - 1 < j) continue; /* warp-uniform: no query of this tile sees key j */
            const int i = i0 + lane;
            float p = 0.0f, ds = 0.0f;
            if (i >= j && i < T) {
                float s = 0.0f, dp = 0.0f;
#pragma unroll 8
                for (int d = 0; d < HD; d++) {
                    s += Qs[lane][d] * Kr[warp][d];
                    dp += dOs[lane][d] * Vr[warp][d];
                }
                p = expf(s * scale - lse_s[lane]);
                ds = p * (dp - del_s[lane]);
            }
            for (int ii = 0; ii < ATT_TILE; ii++) {
                float pi = __shfl_sync(0xffffffffu, p, ii), dsi = __shfl_sync(0xffffffffu, ds, ii);
#pragma unroll
                for (int k = 0; k < PER; k++) {
                    dv[k] += pi * dOs[ii][lane + 32 * k];
                    dk[k] += dsi * Qs[ii][lane + 32 * k];
                }
            }
        }
    }
    if (j < T) {
        float *row = dqkv + ((int64_t)b * T + j) * C;
#pragma unroll
        for (int k = 0; k < PER; k++) {
            row[koff + lane + 32 * k] = dk[k] * scale;
            row[voff + lane + 32 * k] = dv[k];
        }
    }
}

int gk_attention_supports(int hd) { return hd == 32 || hd == 64 || hd == 128; }

#define ATT_DISPATCH(hd, call)                                                                                                \
    switch (hd) {                                                                                                              \
    case 32: call(32); break;                                                                                                  \
    case 64: call(64); break;                                                                                                  \
    case 128: call(128); break;                                                                                                \
    default: pq_die("cuda attention: head dim %d (supported: 32, 64, 128)", hd);                                               \
    }

void gk_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int H, int KV, int hd) {
    dim3 grid(cdiv(T, ATT_WARPS), H, B);
    float scale = 1.0f / sqrtf((float)hd);
#define FWD(HD) attn_fwd_k<HD><<<grid, ATT_WARPS * 32>>>(out, lse, qkv, T, H, KV, scale)
    ATT_DISPATCH(hd, FWD)
#undef FWD
    CUDA_LAUNCHED();
}

void gk_attention_backward(float *dqkv, float *delta, const float *dout, const float *out, const float *lse, const float *qkv,
                           int B, int T, int H, int KV, int hd) {
    float scale = 1.0f / sqrtf((float)hd);
    dim3 gq(cdiv(T, ATT_WARPS), H, B), gkv(cdiv(T, ATT_WARPS), KV, B);
#define DQ(HD) attn_bwd_dq_k<HD><<<gq, ATT_WARPS * 32>>>(dqkv, delta, dout, out, lse, qkv, T, H, KV, scale)
#define DKV(HD) attn_bwd_dkv_k<HD><<<gkv, ATT_WARPS * 32>>>(dqkv, delta, dout, lse, qkv, T, H, KV, scale)
    ATT_DISPATCH(hd, DQ)
    CUDA_LAUNCHED();
    ATT_DISPATCH(hd, DKV)
    CUDA_LAUNCHED();
#undef DQ
#undef DKV
}

/* ---- cross entropy, sums, AdamW -------------------------------------------------------------- */

__global__ void cross_entropy_k(float *logits, double *row_loss, const int32_t *targets, int V, float scale, int grad) {
    int n = blockIdx.x;
    float *row = logits + (int64_t)n * V;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, row[j]);
    mx = block_max(mx);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) sum += expf(row[j] - mx);
    sum = block_sum(sum);
    int tgt = targets[n];
    float target_logit = row[tgt] - mx;
    __syncthreads(); /* everyone has read row[tgt] before it is overwritten */
    if (threadIdx.x == 0) row_loss[n] = log((double)sum) - (double)target_logit;
    if (!grad) return;
    float inv = scale / sum;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float p = expf(row[j] - mx) * inv;
        row[j] = j == tgt ? p - scale : p;
    }
}

void gk_cross_entropy(float *logits, double *row_loss, const int32_t *targets, int N, int V, float scale, int grad) {
    cross_entropy_k<<<N, 256>>>(logits, row_loss, targets, V, scale, grad);
    CUDA_LAUNCHED();
}

__global__ void sum_k(double *out, const double *x, int n) {
    double acc = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += x[i];
    acc = block_sum(acc);
    if (threadIdx.x == 0) out[0] = acc;
}

double gk_sum(const double *x, int n, double *scratch) {
    sum_k<<<1, 1024>>>(scratch, x, n);
    CUDA_LAUNCHED();
    double r;
    CUDA_OK(cudaMemcpy(&r, scratch, sizeof r, cudaMemcpyDeviceToHost));
    return r;
}

#define SUMSQ_THREADS 256
#define SUMSQ_PER_THREAD 64 /* a block covers 16384 values */

__global__ void sumsq_k(double *partial, const float *g, int64_t n) {
    int64_t lo = (int64_t)blockIdx.x * SUMSQ_THREADS * SUMSQ_PER_THREAD;
    float s = 0.0f;
    for (int k = 0; k < SUMSQ_PER_THREAD; k++) {
        int64_t i = lo + (int64_t)k * SUMSQ_THREADS + threadIdx.x;
        if (i < n) s += g[i] * g[i];
    }
    double acc = block_sum((double)s);
    if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

double gk_sumsq(const float *g, int64_t n, double *scratch, int scratch_len) {
    int blocks = cdiv(n, SUMSQ_THREADS * SUMSQ_PER_THREAD);
    if (blocks + 1 > scratch_len) pq_die("gk_sumsq: scratch of %d for %d blocks", scratch_len, blocks);
    sumsq_k<<<blocks, SUMSQ_THREADS>>>(scratch + 1, g, n);
    CUDA_LAUNCHED();
    sum_k<<<1, 1024>>>(scratch, scratch + 1, blocks);
    CUDA_LAUNCHED();
    double r;
    CUDA_OK(cudaMemcpy(&r, scratch, sizeof r, cudaMemcpyDeviceToHost));
    return r;
}

__global__ void adamw_k(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2, float eps,
                        float wd, float bc1, float bc2, float grad_mul) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float gi = g[i] * grad_mul;
    float mi = b1 * m[i] + (1.0f - b1) * gi;
    float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
    m[i] = mi, v[i] = vi;
    float mhat = mi / bc1, vhat = vi / bc2;
    p[i] -= lr * (wd * p[i] + mhat / (sqrtf(vhat) + eps));
}

void gk_adamw(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2, float eps, float wd,
              float bc1, float bc2, float grad_mul) {
    if (n == 0) return;
    adamw_k<<<cdiv(n, 256), 256>>>(p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2, grad_mul);
    CUDA_LAUNCHED();
}
