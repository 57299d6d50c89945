/* kernels.cuh — the GPU layer kernels (internal to core/gpu and its tests).
 *
 * Each launcher mirrors a function of model/layers.h on device pointers, with
 * the same layouts and the same accumulate/overwrite conventions, and runs on
 * the default stream. Reductions are fixed-shape trees or ordered loops: the
 * same inputs give the same bits on every run. */
#ifndef PQ_GPU_KERNELS_CUH
#define PQ_GPU_KERNELS_CUH

#include <cstdint>

#include <cublas_v2.h>
#include <cuda_runtime.h>

/* Dies with "cuda: FILE:LINE: message" on any CUDA or cuBLAS error. */
void pq_cuda_check(cudaError_t e, const char *file, int line);
void pq_cublas_check(cublasStatus_t s, const char *file, int line);
#define CUDA_OK(x) pq_cuda_check((x), __FILE__, __LINE__)
#define CUBLAS_OK(x) pq_cublas_check((x), __FILE__, __LINE__)
#define CUDA_LAUNCHED() pq_cuda_check(cudaGetLastError(), __FILE__, __LINE__)

/* out[N, O] = in[N, I] W[O, I]^T (+ out if accumulate). */
void gk_linear_forward(cublasHandle_t h, float *out, const float *in, const float *W, int N, int I, int O, int accumulate);
/* din (= or +=) dout W (din may be NULL); dW += dout^T in. */
void gk_linear_backward(cublasHandle_t h, float *din, float *dW, const float *dout, const float *in, const float *W, int N,
                        int I, int O, int accumulate_din);

/* res[n, :] = emb[tok[n], :]. */
void gk_embed_forward(float *res, const float *emb, const int32_t *tok, int N, int D);
/* gemb[uniq[u], :] += sum of dres[pos[k], :] for k in offs[u]..offs[u+1]-1, in that order. */
void gk_embed_backward(float *gemb, const float *dres, const int32_t *uniq, const int32_t *offs, const int32_t *pos,
                       int n_uniq, int D);

void gk_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int D, float eps);
/* dx += ..., dw += ...; partial is scratch of gk_rmsnorm_partial_floats(N, D). */
void gk_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd, int N,
                         int D, float *partial);
size_t gk_rmsnorm_partial_floats(int N, int D);

void gk_rope(float *x, int ld, int B, int T, int n_heads, int hd, const float *cos_t, const float *sin_t, int inverse);

void gk_swiglu_forward(float *h, const float *gu, int N, int F);
void gk_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* 1 if head dim hd has an attention kernel (32, 64, 128). */
int gk_attention_supports(int hd);
/* out[B*T, H*hd] and lse[B, H, T] (row log-sum-exp of the scaled scores). */
void gk_attention_forward(float *out, float *lse, const float *qkv, int B, int T, int H, int KV, int hd);
/* dqkv (overwrite) from dout; delta[B, H, T] is scratch. */
void gk_attention_backward(float *dqkv, float *delta, const float *dout, const float *out, const float *lse, const float *qkv,
                           int B, int T, int H, int KV, int hd);

/* The same attention through cuBLAS (attention_gemm.cu): per sequence and KV head, the
 * scores of the group's query heads are one [rep*T, T] matrix product (TF32 tensor cores
 * when the handle's math mode allows it), the softmax is a kernel with a fixed-order row
 * reduction, and the backward recomputes the probabilities from lse. The scores live only
 * in a scratch of nb sequences at a time (gk_attn_ws), so memory grows with nb*H*T^2 for
 * one layer, not with the depth; gpu_model.cu uses the tiled kernels above when even one
 * sequence's scores exceed GK_ATTN_GEMM_MAX_BYTES. Same inputs, same bits (fixed cuBLAS
 * workspace and algorithms). */
#define GK_ATTN_GEMM_MAX_BYTES (512ull << 20)
struct gk_attn_ws {
    float *qh, *kh, *vh, *oh;    /* head-major copies [B, H or KV, T, hd]; oh also holds dO */
    float *dqh, *dkh, *dvh;      /* their gradients, head-major */
    float *s, *dp;               /* [nb, H, T, T] scores / probabilities and their gradient */
    int nb;                      /* sequences per chunk */
};
/* Sequences per chunk for B x T at H heads (0: not even one fits GK_ATTN_GEMM_MAX_BYTES). */
int gk_attention_gemm_chunk(int B, int T, int H);
/* Allocates ws for B x T (cudaMalloc; gk_attention_gemm_free releases it), chunks of at most
 * max_seqs sequences when max_seqs > 0 (tests); -1 if one sequence does not fit. */
int gk_attention_gemm_alloc(gk_attn_ws *ws, int B, int T, int H, int KV, int hd, int max_seqs);
void gk_attention_gemm_free(gk_attn_ws *ws);
void gk_attention_gemm_forward(cublasHandle_t h, const gk_attn_ws *ws, float *out, float *lse, const float *qkv, int B, int T,
                               int H, int KV, int hd);
void gk_attention_gemm_backward(cublasHandle_t h, const gk_attn_ws *ws, float *dqkv, float *delta, const float *dout,
                                const float *out, const float *lse, const float *qkv, int B, int T, int H, int KV, int hd);

/* Row losses (double) of logits[N, V] against targets; with grad, logits become
 * d(scale * sum loss)/d logits. */
void gk_cross_entropy(float *logits, double *row_loss, const int32_t *targets, int N, int V, float scale, int grad);
/* Sum of x[0..n-1] in a fixed order, to the host. */
double gk_sum(const double *x, int n, double *scratch);
/* Sum of squares of g[0..n-1] (float partials of 256, double above), to the host. */
double gk_sumsq(const float *g, int64_t n, double *scratch, int scratch_len);

void gk_adamw(float *p, const float *g, float *m, float *v, int64_t n, float lr, float b1, float b2, float eps, float wd,
              float bc1, float bc2, float grad_mul);

#endif
