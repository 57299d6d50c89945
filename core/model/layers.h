/* layers.h — forward and backward of every layer of the transformer, on plain
 * row-major float arrays (the style of llm.c's train_gpt2.c).
 *
 * Conventions: N = number of token rows (batch x time), activations are [N, C]
 * row-major. A linear layer's weight is W[out, in] (one row per output, as
 * nn.Linear; ParetoQ's per-row scales index these rows), so y = x W^T.
 * Backward functions ACCUMULATE (+=) into parameter gradients and, where noted,
 * into input gradients, so that the residual stream and grad accumulation over
 * micro-batches need no extra copies. Every loop with a reduction runs in an
 * order that does not depend on the thread count, so results depend only on
 * the inputs (and on OpenBLAS's kernel and threads for the sgemm parts). */
#ifndef PQ_LAYERS_H
#define PQ_LAYERS_H

#include <stdint.h>

/* The linears run through OpenBLAS's sgemm, or under pq_set_matmul_precision(PQ_MATMUL_BF16)
 * through pq_gemm_bf16 (bf16-rounded inputs, FP32 sums; base/bf16.h). Attention's matmuls stay FP32.
 * out[N, O] = in[N, I] W[O, I]^T (+ out if accumulate). */
void pq_linear_forward(float *out, const float *in, const float *W, int N, int in_dim, int out_dim, int accumulate);
/* din[N, I] (= or += if accumulate_din) dout W; dW[O, I] += dout^T in. din may be NULL. */
void pq_linear_backward(float *din, float *dW, const float *dout, const float *in, const float *W, int N, int in_dim, int out_dim,
                        int accumulate_din);

/* RMSNorm: out = x / sqrt(mean(x^2) + eps) * w; rstd[N] saved for backward. */
void pq_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps);
/* dx[N, D] += ..., dw[D] += ... */
void pq_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd, int N,
                         int D);

/* RoPE tables: cos/sin[ctx, hd/2] for positions 0..ctx-1, theta^(-2i/hd). */
void pq_rope_tables(float *cos_t, float *sin_t, int ctx, int head_dim, double theta);
/* Rotates, in place, n_heads heads of head_dim in each row of x (row stride ld) for
 * rows = B sequences of T positions. Pairs (i, i + hd/2) as in LLaMA's rotate_half.
 * inverse = 1 rotates by -angle: that is the backward pass (the map is orthogonal). */
void pq_rope_apply(float *x, int ld, int B, int T, int n_heads, int head_dim, const float *cos_t, const float *sin_t,
                   int inverse);

/* SwiGLU on gu[N, 2F] = [gate | up] per row: h[N, F] = silu(gate) * up. */
void pq_swiglu_forward(float *h, const float *gu, int N, int F);
/* dgu[N, 2F] = (overwrite) from dh[N, F]. */
void pq_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* Causal grouped-query attention on qkv[B*T, (H + 2*KV) * hd] rows laid out
 * [q heads | k heads | v heads] (q and k already rotated). Writes the softmax
 * probabilities att[B, H, T, T] (zeros above the diagonal) and out[B*T, H*hd]. */
void pq_attention_forward(float *out, float *att, const float *qkv, int B, int T, int H, int KV, int hd);
/* dqkv (overwrite) from dout[B*T, H*hd]; scratch holds T*T floats. */
void pq_attention_backward(float *dqkv, const float *dout, const float *att, const float *qkv, float *scratch, int B, int T,
                           int H, int KV, int hd);

/* Cross entropy of logits[N, V] against targets: returns the summed loss (double)
 * and, if probs_grad, replaces logits by d(scale * sum loss)/d logits. */
double pq_cross_entropy(float *logits, const uint16_t *targets, int N, int V, float scale, int probs_grad);

/* Vectorizable exp for the softmaxes and SiLU (relative error < 2e-7 on the
 * range used). Inline, so that the loops that call it vectorize (a call would
 * not: the decoder's attention spent most of its time in these calls). */
static inline __attribute__((always_inline)) float pq_expf(float x) {
    /* Cody-Waite range reduction + degree-6 polynomial: branch-free so loops
     * that call it vectorize, and bitwise reproducible (no libm version drift). */
    const float hi = 88.0f, lo = -87.0f;
    x = x > hi ? hi : x;
    x = x < lo ? lo : x;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: rounds to nearest integer */
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* Unsigned: a NaN input (n is then garbage) must give NaN, not a signed
     * overflow (undefined); for every other input the bits are the same. */
    union {
        float f;
        uint32_t i;
    } u = {t}, s;
    s.i = (u.i - 0x4B400000u + 127u) << 23; /* 2^n */
    return p * s.f;
}

#endif
