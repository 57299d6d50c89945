/* gemv.c — activation preparation, run-time kernel choice, threading, and the
 * plain C reference every SIMD kernel is tested against. */
#include "kernels/gemv.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/manifest.h"
#include "base/pool.h"
#include "base/util.h"
#include "kernels/kern.h"

/* --- which kernels this CPU runs ------------------------------------------- */

static const char *const isa_names[PQ_ISA_COUNT] = {"ref", "avx2", "avx512"};

const char *pq_isa_name(pq_isa isa) { return (unsigned)isa < PQ_ISA_COUNT ? isa_names[isa] : "?"; }

int pq_isa_parse(const char *name, pq_isa *out) {
    for (int i = 0; i < PQ_ISA_COUNT; i++)
        if (!strcmp(name, isa_names[i])) {
            *out = (pq_isa)i;
            return 0;
        }
    return pq_fail("unknown kernel ISA '%s' (ref, avx2, avx512)", name);
}

int pq_isa_supported(pq_isa isa) {
#if !defined(__x86_64__) && !defined(__i386__)
    return isa == PQ_ISA_REF;
#else
    __builtin_cpu_init();
    switch (isa) {
    case PQ_ISA_REF: return 1;
    case PQ_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PQ_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni");
    default: return 0;
    }
#endif
}

int pq_cpu_has_avx512_vbmi(void) {
#if !defined(__x86_64__) && !defined(__i386__)
    return 0;
#else
    static int has = -1; /* CPUID does not change; a benign race: every thread computes the same value */
    if (has < 0) {
        __builtin_cpu_init();
        has = pq_isa_supported(PQ_ISA_AVX512) && __builtin_cpu_supports("avx512vbmi");
    }
    return has;
#endif
}

pq_isa pq_isa_best(void) {
    pq_isa cap = PQ_ISA_AVX512;
    const char *env = getenv("PQ_KERNEL_ISA");
    if (env && *env && pq_isa_parse(env, &cap) != 0) cap = PQ_ISA_AVX512;
    for (int i = cap; i > 0; i--)
        if (pq_isa_supported((pq_isa)i)) return (pq_isa)i;
    return PQ_ISA_REF;
}

/* --- activations ----------------------------------------------------------- */

void pq_act_batch_init(pq_act_batch *a) { memset(a, 0, sizeof *a); }

void pq_act_batch_free(pq_act_batch *a) {
    free(a->x);
    free(a->q);
    free(a->d);
    free(a->dqsum);
    free(a->qsum);
    free(a->xsum);
    pq_act_batch_init(a);
}

static int round_up(int n, int m) { return (n + m - 1) / m * m; }

static void acts_reserve(pq_act_batch *a, int batch, int stride) {
    if (batch <= a->cap_batch && stride <= a->cap_stride) return;
    int cb = PQ_MAX(batch, a->cap_batch), cs = PQ_MAX(stride, a->cap_stride);
    pq_act_batch_free(a);
    /* +64 bytes of slack: SIMD kernels may read one vector past a short row. */
    a->x = pq_aligned_alloc((size_t)cb * cs * sizeof(float) + 64);
    a->q = pq_aligned_alloc((size_t)cb * cs + 64);
    a->d = pq_malloc((size_t)cb * sizeof(float));
    a->dqsum = pq_malloc((size_t)cb * sizeof(float));
    a->qsum = pq_malloc((size_t)cb * sizeof(int32_t));
    a->xsum = pq_malloc((size_t)cb * sizeof(float));
    a->cap_batch = cb;
    a->cap_stride = cs;
}

/* Per-token int8 quantization. A token of zeros gets d = 0 (its outputs are 0);
 * a token holding Inf or NaN gets d = NaN, so its outputs are NaN, not garbage. */
static void quantize_token(const float *x, int n, int8_t *q, float *d_out, float *dqsum_out, int32_t *qsum_out) {
    /* plain comparisons, not fmaxf/fminf: those are libm calls here (NaN rules) */
    float amax = 0.0f;
    int nonfinite = 0;
#pragma omp simd reduction(max : amax) reduction(| : nonfinite)
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
        nonfinite |= !(a <= FLT_MAX); /* Inf or NaN */
    }
    if (nonfinite || amax == 0.0f) {
        for (int i = 0; i < n; i++) q[i] = 0;
        *d_out = nonfinite ? NAN : 0.0f;
        *dqsum_out = nonfinite ? NAN : 0.0f;
        *qsum_out = 0;
        return;
    }
    float d = amax / 127.0f, inv = 127.0f / amax;
    int32_t sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int i = 0; i < n; i++) {
        float v = nearbyintf(x[i] * inv); /* half-to-even under the default rounding mode */
        v = v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v;
        q[i] = (int8_t)v;
        sum += q[i];
    }
    *d_out = d;
    *dqsum_out = d * (float)sum;
    *qsum_out = sum;
}

void pq_act_batch_set(pq_act_batch *a, pq_act_kind kind, const float *x, int batch, int cols) {
    int stride = PQ_MAX(round_up(cols, PQ_BLOCK), round_up(cols, PQ_BLOCK_T1_6));
    acts_reserve(a, batch, stride);
    a->kind = kind;
    a->batch = batch;
    a->cols = cols;
    a->stride = stride;
    for (int t = 0; t < batch; t++) {
        const float *xt = x + (size_t)t * cols;
        if (kind == PQ_ACT_F32) {
            float *dst = a->x + (size_t)t * stride;
            memcpy(dst, xt, (size_t)cols * sizeof(float));
            memset(dst + cols, 0, (size_t)(stride - cols) * sizeof(float));
            double s = 0.0;
            for (int i = 0; i < cols; i++) s += xt[i];
            a->xsum[t] = (float)s;
        } else {
            int8_t *dst = a->q + (size_t)t * stride;
            quantize_token(xt, cols, dst, &a->d[t], &a->dqsum[t], &a->qsum[t]);
            memset(dst + cols, 0, (size_t)(stride - cols));
        }
    }
}

/* --- the reference --------------------------------------------------------- */

void pq_kern_ref(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1) {
    for (int r = r0; r < r1; r++)
        for (int t = 0; t < a->batch; t++) {
            float out;
            if (a->kind == PQ_ACT_Q8) {
                const int8_t *q = a->q + (size_t)t * a->stride;
                int32_t isum = 0;
                for (int c = 0; c < W->cols; c++) isum += pq_packed_code(W, r, c) * q[c];
                out = pq_q8_finish(W->scale[r], W->offset[r], a->d[t], isum, a->dqsum[t]);
            } else {
                const float *x = a->x + (size_t)t * a->stride;
                double dot = 0.0;
                for (int c = 0; c < W->cols; c++) dot += pq_packed_code(W, r, c) * (double)x[c];
                out = pq_f32_finish(W->scale[r], W->offset[r], (float)dot, a->xsum[t]);
            }
            y[(size_t)t * W->rows + r] = out;
        }
}

/* --- dispatch and threads ---------------------------------------------------- */

void pq_matmul_rows(const pq_packed *W, const pq_act_batch *a, float *y, pq_isa isa, int r0, int r1) {
    switch (isa) {
    case PQ_ISA_AVX512:
        if (pq_cpu_has_avx512_vbmi())
            pq_kern_avx512_vbmi(W, a, y, r0, r1);
        else
            pq_kern_avx512(W, a, y, r0, r1);
        break;
    case PQ_ISA_AVX2: pq_kern_avx2(W, a, y, r0, r1); break;
    default: pq_kern_ref(W, a, y, r0, r1); break;
    }
}

typedef struct {
    const pq_packed *W;
    const pq_act_batch *a;
    float *y;
    pq_isa isa;
} matmul_job;

/* Contiguous row ranges, cut at multiples of 16 rows so threads never share a
 * cache line of y. */
static void matmul_part(void *ctx, int part, int nparts) {
    const matmul_job *j = ctx;
    int rows = j->W->rows;
    int r0 = (int)((long)rows * part / nparts) / 16 * 16;
    int r1 = part == nparts - 1 ? rows : (int)((long)rows * (part + 1) / nparts) / 16 * 16;
    pq_matmul_rows(j->W, j->a, j->y, j->isa, r0, r1);
}

int pq_matmul(const pq_packed *W, const pq_act_batch *a, float *y, pq_isa isa, int threads) {
    if (a->cols != W->cols)
        return pq_fail("matmul: activations have %d columns, the %dx%d matrix needs %d", a->cols, W->rows, W->cols,
                       W->cols);
    if (!pq_isa_supported(isa)) return pq_fail("matmul: this CPU cannot run the %s kernels", pq_isa_name(isa));
    if (threads <= 0) threads = pq_packed_bytes(W) >= PQ_PAR_MIN_BYTES ? pq_threads() : 1;
    /* small matrices stay on one thread; the pool's workers wait actively
     * between calls (base/pool.h: OpenMP's passive wake-ups cost more than a
     * decoder's GEMV) */
    matmul_job job = {W, a, y, isa};
    pq_pool_run(matmul_part, &job, PQ_MAX(1, PQ_MIN(threads, W->rows / 64)));
    return 0;
}
