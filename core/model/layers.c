/* layers.c — the layer kernels. Big matmuls go to OpenBLAS (always called from
 * the main thread: the pthread OpenBLAS must not be entered from OpenMP
 * workers); the elementwise and row-wise work runs in OpenMP loops whose
 * reductions never cross rows, so the result is the same for any thread count. */
#include "model/layers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "base/bf16.h"
#include "base/manifest.h"
#include "base/util.h"

/* Parallelize a loop only when it is big enough to pay for waking threads. */
#define PAR_MIN_WORK 32768

static int threads_for(long work) { return work >= PAR_MIN_WORK ? pq_threads() : 1; }

/* --precision bf16 (base/bf16.h): the same products with bf16-rounded inputs and FP32 sums. */
static int bf16_matmuls(void) { return pq_matmul_precision_now() == PQ_MATMUL_BF16; }

void pq_linear_forward(float *out, const float *in, const float *W, int N, int in_dim, int out_dim, int accumulate) {
    if (bf16_matmuls()) {
        pq_gemm_bf16(0, 1, N, out_dim, in_dim, 1.0f, in, in_dim, W, in_dim, accumulate ? 1.0f : 0.0f, out, out_dim);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out_dim, in_dim, 1.0f, in, in_dim, W, in_dim, accumulate ? 1.0f : 0.0f, out, out_dim);
}

void pq_linear_backward(float *din, float *dW, const float *dout, const float *in, const float *W, int N, int in_dim, int out_dim,
                        int accumulate_din) {
    if (bf16_matmuls()) {
        if (din) pq_gemm_bf16(0, 0, N, in_dim, out_dim, 1.0f, dout, out_dim, W, in_dim, accumulate_din ? 1.0f : 0.0f, din, in_dim);
        pq_gemm_bf16(1, 0, out_dim, in_dim, N, 1.0f, dout, out_dim, in, in_dim, 1.0f, dW, in_dim);
        return;
    }
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in_dim, out_dim, 1.0f, dout, out_dim, W, in_dim,
                    accumulate_din ? 1.0f : 0.0f, din, in_dim);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, N, 1.0f, dout, out_dim, in, in_dim, 1.0f, dW, in_dim);
}

static void rmsnorm_row(float *o, float *rstd, const float *xr, const float *w, int D, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < D; i++) ss += xr[i] * xr[i];
    float r = 1.0f / sqrtf(ss / (float)D + eps);
    *rstd = r;
#pragma omp simd
    for (int i = 0; i < D; i++) o[i] = xr[i] * r * w[i];
}

void pq_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps) {
    if (threads_for((long)N * D) == 1) { /* a decoder's single row: no parallel region to enter */
        for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * D, &rstd[n], x + (size_t)n * D, w, D, eps);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(pq_threads())
    for (int n = 0; n < N; n++) rmsnorm_row(out + (size_t)n * D, &rstd[n], x + (size_t)n * D, w, D, eps);
}

void pq_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd, int N,
                         int D) {
#pragma omp parallel for schedule(static) num_threads(threads_for((long)N * D))
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *g = dout + (size_t)n * D;
        float *dxr = dx + (size_t)n * D;
        float r = rstd[n], dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < D; i++) dot += g[i] * w[i] * xr[i];
        float c = dot * r * r * r / (float)D;
#pragma omp simd
        for (int i = 0; i < D; i++) dxr[i] += g[i] * w[i] * r - xr[i] * c;
    }
    /* dw: rows in order, vectorized across columns: the same sums for any thread count. */
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * D, *g = dout + (size_t)n * D;
        float r = rstd[n];
#pragma omp simd
        for (int i = 0; i < D; i++) dw[i] += g[i] * xr[i] * r;
    }
}

void pq_rope_tables(float *cos_t, float *sin_t, int ctx, int head_dim, double theta) {
    int half = head_dim / 2;
    for (int p = 0; p < ctx; p++)
        for (int i = 0; i < half; i++) {
            double freq = pow(theta, -2.0 * i / head_dim);
            cos_t[p * half + i] = (float)cos(p * freq);
            sin_t[p * half + i] = (float)sin(p * freq);
        }
}

static void rope_row(float *row, int n_heads, int head_dim, const float *cos_t, const float *sin_t, int pos, float sgn) {
    const int half = head_dim / 2;
    const float *c = cos_t + (size_t)pos * half, *s = sin_t + (size_t)pos * half;
    for (int h = 0; h < n_heads; h++) {
        float *v = row + (size_t)h * head_dim;
#pragma omp simd
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half], si = sgn * s[i];
            v[i] = a * c[i] - b * si;
            v[i + half] = b * c[i] + a * si;
        }
    }
}

void pq_rope_apply(float *x, int ld, int B, int T, int n_heads, int head_dim, const float *cos_t, const float *sin_t,
                   int inverse) {
    const float sgn = inverse ? -1.0f : 1.0f;
    const int rows = B * T;
    if (threads_for((long)rows * n_heads * head_dim) == 1) {
        for (int r = 0; r < rows; r++) rope_row(x + (size_t)r * ld, n_heads, head_dim, cos_t, sin_t, r % T, sgn);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(pq_threads())
    for (int r = 0; r < rows; r++) rope_row(x + (size_t)r * ld, n_heads, head_dim, cos_t, sin_t, r % T, sgn);
}

static void swiglu_row(float *hr, const float *g, const float *u, int F) {
#pragma omp simd
    for (int i = 0; i < F; i++) {
        float sig = 1.0f / (1.0f + pq_expf(-g[i]));
        hr[i] = g[i] * sig * u[i];
    }
}

void pq_swiglu_forward(float *h, const float *gu, int N, int F) {
    if (threads_for((long)N * F) == 1) {
        for (int n = 0; n < N; n++) swiglu_row(h + (size_t)n * F, gu + (size_t)n * 2 * F, gu + (size_t)n * 2 * F + F, F);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(pq_threads())
    for (int n = 0; n < N; n++) swiglu_row(h + (size_t)n * F, gu + (size_t)n * 2 * F, gu + (size_t)n * 2 * F + F, F);
}

void pq_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static) num_threads(threads_for((long)N * F))
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * F, *u = g + F, *d = dh + (size_t)n * F;
        float *dg = dgu + (size_t)n * 2 * F, *du = dg + F;
#pragma omp simd
        for (int i = 0; i < F; i++) {
            float sig = 1.0f / (1.0f + pq_expf(-g[i]));
            float silu = g[i] * sig;
            du[i] = d[i] * silu;
            dg[i] = d[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
        }
    }
}

/* Softmax over the causal prefix of rows t0..t1-1 of S[T, T] (in place); zeros after. */
static void causal_softmax(float *S, int T, int t0, int t1) {
    for (int t = t0; t < t1; t++) {
        float *row = S + (size_t)t * T;
        float mx = row[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j <= t; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= t; j++) {
            row[j] = pq_expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j <= t; j++) row[j] *= inv;
        for (int j = t + 1; j < T; j++) row[j] = 0.0f;
    }
}

/* Causal attention only needs keys 0..t for query t: queries go in blocks of
 * ATT_BLOCK rows, and block [t0, t1) multiplies against keys [0, t1) only. That
 * skips most of the masked upper triangle (~40% of the work at T = 256) while
 * keeping each product one reasonably sized sgemm. */
#define ATT_BLOCK 64

void pq_attention_forward(float *out, float *att, const float *qkv, int B, int T, int H, int KV, int hd) {
    int C = (H + 2 * KV) * hd, D = H * hd, group = H / KV;
    float scale = 1.0f / sqrtf((float)hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *q = qkv + (size_t)b * T * C + (size_t)h * hd;
            const float *k = qkv + (size_t)b * T * C + D + (size_t)(h / group) * hd;
            const float *v = k + (size_t)KV * hd;
            float *S = att + ((size_t)b * H + h) * T * T;
            float *o = out + (size_t)b * T * D + (size_t)h * hd;
            for (int t0 = 0; t0 < T; t0 += ATT_BLOCK) {
                int t1 = PQ_MIN(T, t0 + ATT_BLOCK), rows = t1 - t0;
                float *Sb = S + (size_t)t0 * T;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, t1, hd, scale, q + (size_t)t0 * C, C, k, C,
                            0.0f, Sb, T);
                causal_softmax(S, T, t0, t1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, t1, 1.0f, Sb, T, v, C, 0.0f,
                            o + (size_t)t0 * D, D);
            }
        }
}

void pq_attention_backward(float *dqkv, const float *dout, const float *att, const float *qkv, float *scratch, int B, int T,
                           int H, int KV, int hd) {
    int C = (H + 2 * KV) * hd, D = H * hd, group = H / KV;
    float scale = 1.0f / sqrtf((float)hd);
    memset(dqkv, 0, sizeof(float) * (size_t)B * T * C);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t base = (size_t)b * T * C, koff = D + (size_t)(h / group) * hd, voff = koff + (size_t)KV * hd;
            const float *q = qkv + base + (size_t)h * hd, *k = qkv + base + koff, *v = qkv + base + voff;
            float *dq = dqkv + base + (size_t)h * hd, *dk = dqkv + base + koff, *dv = dqkv + base + voff;
            const float *P = att + ((size_t)b * H + h) * T * T;
            const float *dO = dout + (size_t)b * T * D + (size_t)h * hd;
            for (int t0 = 0; t0 < T; t0 += ATT_BLOCK) {
                int t1 = PQ_MIN(T, t0 + ATT_BLOCK), rows = t1 - t0;
                const float *Pb = P + (size_t)t0 * T, *dOb = dO + (size_t)t0 * D;
                float *dP = scratch + (size_t)t0 * T;
                /* dP = dO V^T; dV += P^T dO (keys 0..t1-1 only) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, t1, hd, 1.0f, dOb, D, v, C, 0.0f, dP, T);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t1, hd, rows, 1.0f, Pb, T, dOb, D, 1.0f, dv, C);
                /* softmax backward: dS = P * (dP - sum_j P dP), then the score scale */
                for (int t = t0; t < t1; t++) {
                    const float *p = P + (size_t)t * T;
                    float *d = scratch + (size_t)t * T;
                    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                    for (int j = 0; j <= t; j++) dot += p[j] * d[j];
#pragma omp simd
                    for (int j = 0; j <= t; j++) d[j] = p[j] * (d[j] - dot) * scale;
                    for (int j = t + 1; j < t1; j++) d[j] = 0.0f;
                }
                /* dQ = dS K; dK += dS^T Q */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, t1, 1.0f, dP, T, k, C, 1.0f,
                            dq + (size_t)t0 * C, C);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, t1, hd, rows, 1.0f, dP, T, q + (size_t)t0 * C, C,
                            1.0f, dk, C);
            }
        }
}

double pq_cross_entropy(float *logits, const uint16_t *targets, int N, int V, float scale, int probs_grad) {
    /* Per-row losses land in fixed slots and are summed in row order, so the
     * total does not depend on how rows were split between threads. */
    double *row_loss = pq_malloc(sizeof(double) * (size_t)(N > 0 ? N : 1));
#pragma omp parallel for schedule(static) num_threads(threads_for((long)N * V))
    for (int n = 0; n < N; n++) {
        float *row = logits + (size_t)n * V;
        float mx = row[0];
#pragma omp simd reduction(max : mx)
        for (int j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
        float target_logit = row[targets[n]] - mx;
        float sum = 0.0f;
        if (probs_grad) {
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < V; j++) {
                row[j] = pq_expf(row[j] - mx);
                sum += row[j];
            }
            float inv = scale / sum;
#pragma omp simd
            for (int j = 0; j < V; j++) row[j] *= inv;
            row[targets[n]] -= scale;
        } else {
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < V; j++) sum += pq_expf(row[j] - mx);
        }
        row_loss[n] = log((double)sum) - (double)target_logit;
    }
    double total = 0.0;
    for (int n = 0; n < N; n++) total += row_loss[n];
    free(row_loss);
    return total;
}
