/* quantizer_gpu.cu — quantizer.c's forward and backward as CUDA kernels (quantizer_gpu.h).
 * One block per row; __fmul_rn and friends keep nvcc from contracting a*b+c into an FMA,
 * which the CPU build (-std=c17: -ffp-contract=off) never does. */
#include <cmath>

#include "gpu/kernels.cuh"

#define _Noreturn [[noreturn]]
extern "C" {
#include "quant/quantizer_gpu.h"
}
#undef _Noreturn

#define QROW_THREADS 256
#define CLIP_RMS 3.0 /* quantizer.c's PQ_CLIP_RMS */

struct qparams {
    int method;
    float qn, qp, nlev, shift, level0, step, half_k;
    int init_max;
    int scale_fp16;     /* quantizer.h: α rounded so that α/unit_inv is an fp16 number */
    float unit_inv;
};

static qparams params_of(const pq_quantizer *q) {
    return qparams{(int)q->method, q->qn,         q->qp, q->seq_nlev, q->seq_shift, q->level0, q->level_step,
                   0.5f * (float)(q->levels - 1), q->init_max, q->scale_fp16, q->scale_unit_inv};
}

__device__ inline float clampf_d(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }
__device__ inline float signf_d(float x) { return (float)((x > 0.0f) - (x < 0.0f)); }
__device__ inline float clamp_alpha_d(float a) { return a > PQ_ALPHA_MIN ? a : PQ_ALPHA_MIN; }

/* quantizer.c's round_f16 and next_f16, operation for operation: frexpf, ldexpf and rintf are
 * exact in CUDA as in libm, so the rounded scale is the CPU's bit for bit. */
__device__ inline float round_f16_d(float x) {
    if (x >= 65504.0f) return 65504.0f;
    int e;
    frexpf(x, &e);
    int qe = e - 11 < -24 ? -24 : e - 11;
    return ldexpf(rintf(ldexpf(x, -qe)), qe);
}
__device__ inline float next_f16_d(float d) {
    int e;
    frexpf(d, &e);
    int qe = d == 0.0f || e - 11 < -24 ? -24 : e - 11;
    return __fadd_rn(d, ldexpf(1.0f, qe));
}

/* pq_quant_alpha: the scale every forward and backward uses for a stored α. */
__device__ inline float quant_alpha_d(const qparams &p, float alpha) {
    float a = clamp_alpha_d(alpha);
    if (!p.scale_fp16) return a;
    float d = round_f16_d(__fdiv_rn(a, p.unit_inv));
    while (__fmul_rn(d, p.unit_inv) < PQ_ALPHA_MIN) d = next_f16_d(d);
    return __fmul_rn(d, p.unit_inv);
}

/* SEQ's q̂: (rint(clamp(u)·nlev - shift) + shift) / nlev */
__device__ inline float seq_qhat(const qparams &p, float u) {
    float r = rintf(__fsub_rn(__fmul_rn(clampf_d(u, -PQ_SEQ_CLIP, PQ_SEQ_CLIP), p.nlev), p.shift));
    return __fdiv_rn(__fadd_rn(r, p.shift), p.nlev);
}

template <typename T> __device__ T qblock_sum(T v) {
    __shared__ T part[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) part[wid] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? part[lane] : (T)0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ double qblock_max(double v) {
    __shared__ double part[32];
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) part[wid] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? part[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* quantizer.c's row_scale for the statistic members. */
__global__ void row_scale_k(qparams p, const float *W, int cols, float *alpha) {
    const float *w = W + (int64_t)blockIdx.x * cols;
    double sum_abs = 0.0, sum_sq = 0.0, max_abs = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        double a = fabs((double)w[j]);
        sum_abs += a, sum_sq += a * a;
        max_abs = a > max_abs ? a : max_abs;
    }
    sum_abs = qblock_sum(sum_abs);
    sum_sq = qblock_sum(sum_sq);
    max_abs = qblock_max(max_abs);
    if (threadIdx.x) return;
    float r = 0.0f;
    switch (p.method) {
    case PQ_Q_SIGN: r = (float)(p.init_max ? max_abs : sum_abs / cols); break;
    case PQ_Q_ABSMEAN: r = (float)(sum_abs / cols); break;
    case PQ_Q_SEQ:
    case PQ_Q_MINMAX:
    case PQ_Q_RTN: r = (float)max_abs; break;
    case PQ_Q_LSQ:
    case PQ_Q_INT8: r = (float)(max_abs / p.qp); break;
    case PQ_Q_CLIP: {
        double rr = CLIP_RMS * sqrt(sum_sq / cols);
        r = (float)(rr < max_abs ? rr : max_abs);
    } break;
    }
    alpha[blockIdx.x] = r;
}

__global__ void quant_fwd_k(qparams p, const float *W, const float *alpha, int cols, float *out) {
    const int64_t base = (int64_t)blockIdx.x * cols;
    const float a = quant_alpha_d(p, alpha[blockIdx.x]);
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float w = W[base + j], u = __fdiv_rn(w, a), v = 0.0f;
        switch (p.method) {
        case PQ_Q_SIGN: v = __fmul_rn(signf_d(w), a); break;
        case PQ_Q_SEQ: v = __fmul_rn(seq_qhat(p, u), a); break;
        case PQ_Q_LSQ:
        case PQ_Q_ABSMEAN:
        case PQ_Q_INT8: v = __fmul_rn(clampf_d(rintf(u), p.qn, p.qp), a); break;
        default: /* minmax, clip, rtn */
            v = __fmul_rn(__fadd_rn(p.level0, __fmul_rn(rintf(__fmul_rn(__fadd_rn(clampf_d(u, -1.0f, 1.0f), 1.0f), p.half_k)), p.step)), a);
        }
        out[base + j] = v;
    }
}

__global__ void quant_bwd_k(qparams p, const float *W, const float *alpha, int cols, const float *g, float *dW,
                            float *dalpha, float gscale, int learned) {
    const int64_t base = (int64_t)blockIdx.x * cols;
    const float a = quant_alpha_d(p, alpha[blockIdx.x]);
    double da = 0.0;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) {
        float w = W[base + j], gr = g[base + j], u = __fdiv_rn(w, a), pass = 0.0f, e = 0.0f;
        switch (p.method) {
        case PQ_Q_SIGN:
            pass = (u >= -1.0f && u <= 1.0f) ? gr : 0.0f;
            e = signf_d(w);
            break;
        case PQ_Q_SEQ:
            pass = (u >= -PQ_SEQ_CLIP && u <= PQ_SEQ_CLIP) ? gr : 0.0f;
            e = u < -PQ_SEQ_CLIP ? p.qn : u > PQ_SEQ_CLIP ? p.qp : __fsub_rn(seq_qhat(p, u), u);
            break;
        case PQ_Q_LSQ:
            pass = (u >= p.qn && u <= p.qp) ? gr : 0.0f;
            e = u < p.qn ? p.qn : u > p.qp ? p.qp : __fsub_rn(rintf(u), u);
            break;
        case PQ_Q_ABSMEAN: pass = gr; break;
        default: pass = (u >= p.qn && u <= p.qp) ? gr : 0.0f; /* int8, minmax, clip, rtn */
        }
        dW[base + j] = __fadd_rn(dW[base + j], pass);
        da += (double)__fmul_rn(e, gr);
    }
    da = qblock_sum(da);
    if (threadIdx.x == 0 && learned && dalpha) dalpha[blockIdx.x] = __fadd_rn(dalpha[blockIdx.x], __fmul_rn((float)da, gscale));
}

extern "C" void pq_quant_forward_gpu(const pq_quantizer *q, const float *W, float *alpha, int rows, int cols, float *W_eff) {
    if (rows == 0) return;
    qparams p = params_of(q);
    if (q->statistic) {
        row_scale_k<<<rows, QROW_THREADS>>>(p, W, cols, alpha);
        CUDA_LAUNCHED();
    }
    quant_fwd_k<<<rows, QROW_THREADS>>>(p, W, alpha, cols, W_eff);
    CUDA_LAUNCHED();
}

extern "C" void pq_quant_backward_gpu(const pq_quantizer *q, const float *W, const float *alpha, int rows, int cols,
                                      const float *g, float *dW, float *dalpha) {
    if (rows == 0) return;
    const float gscale = (float)(1.0 / sqrt((double)rows * (double)cols * (double)q->grad_qp));
    quant_bwd_k<<<rows, QROW_THREADS>>>(params_of(q), W, alpha, cols, g, dW, dalpha, gscale, q->learned);
    CUDA_LAUNCHED();
}
