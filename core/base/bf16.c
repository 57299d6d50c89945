/* bf16.c — FP32 -> bf16 rounding and a bf16 GEMM with FP32 accumulation
 * (AVX-512 BF16 microkernel, BLIS-style blocking). */
#include "base/bf16.h"

#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include "base/manifest.h"
#include "base/util.h"

static pq_matmul_precision matmul_precision = PQ_MATMUL_FP32;

void pq_set_matmul_precision(pq_matmul_precision p) { matmul_precision = p; }
pq_matmul_precision pq_matmul_precision_now(void) { return matmul_precision; }

uint16_t pq_bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* NaN: quiet it, keep sign */
    /* Adding 0x7fff plus the kept part's lowest bit rounds half to even; a carry
     * into the exponent is the correct rounding up (to Inf past the largest). */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float pq_f32_from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

int pq_bf16_native(void) {
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512bf16");
    }
    return known;
}

#define AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* The scalar reference's arithmetic on 16 lanes. */
AVX512_BF16 static void round16(uint16_t *out, const float *in) {
    const __m512i u = _mm512_loadu_si512(in);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
    _mm256_storeu_si256((__m256i *)out, _mm512_cvtepi32_epi16(r));
}

AVX512_BF16 static void round_array_avx512(uint16_t *out, const float *in, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) round16(out + i, in + i);
    for (; i < n; i++) out[i] = pq_bf16_from_f32(in[i]);
}

void pq_bf16_round_array(uint16_t *out, const float *in, size_t n) {
    if (pq_bf16_native()) {
        round_array_avx512(out, in, n);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = pq_bf16_from_f32(in[i]);
}

/* ---- scratch: grown as needed, kept for the process (training calls the same shapes every step) ---- */

typedef struct {
    void *p;
    size_t cap;
} scratch;

static void *scratch_get(scratch *s, size_t bytes) {
    if (bytes > s->cap) {
        free(s->p);
        s->p = pq_malloc(bytes);
        s->cap = bytes;
    }
    return s->p;
}

/* rows x cols of a row-major FP32 matrix with leading dimension ld -> a compact bf16 copy. */
static uint16_t *to_bf16(scratch *s, const float *X, int rows, int cols, int ld) {
    uint16_t *out = scratch_get(s, (size_t)rows * cols * sizeof *out + 64);
    if (ld == cols) {
        pq_bf16_round_array(out, X, (size_t)rows * cols);
        return out;
    }
#pragma omp parallel for schedule(static) num_threads((long)rows * cols >= 65536 ? pq_threads() : 1)
    for (int r = 0; r < rows; r++) pq_bf16_round_array(out + (size_t)r * cols, X + (size_t)r * ld, (size_t)cols);
    return out;
}

/* ---- portable path ---- */

static float *to_rounded_f32(scratch *s, const float *X, int rows, int cols, int ld) {
    float *out = scratch_get(s, (size_t)rows * cols * sizeof *out);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = pq_f32_from_bf16(pq_bf16_from_f32(X[(size_t)r * ld + c]));
    return out;
}

void pq_gemm_bf16_portable(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                           int ldb, float beta, float *C, int ldc) {
    static scratch sa, sb;
    const int arows = transA ? K : M, acols = transA ? M : K, brows = transB ? N : K, bcols = transB ? K : N;
    const float *Ar = to_rounded_f32(&sa, A, arows, acols, lda);
    const float *Br = to_rounded_f32(&sb, B, brows, bcols, ldb);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, Ar,
                acols, Br, bcols, beta, C, ldc);
}

/* ---- AVX-512 BF16 path ----
 *
 * Loops as in BLIS: for each block of KC rows of op(B) (in K order, so every
 * output sums its blocks in the same order), op(B)'s block is packed into
 * panels of NR columns; threads take blocks of MC rows of op(A), pack them into
 * panels of MR rows and run the MR x NR microkernel over all panel pairs.
 * Packed layouts interleave K in pairs, as vdpbf16ps consumes them: for pair p,
 * an A panel holds MR dwords (A[i][2p], A[i][2p+1]) and a B panel 2 x 16 dwords
 * (B[2p][j], B[2p+1][j]). An odd K is padded with a zero. */

enum { MR = 12, NR = 32, KC = 384, MC_MAX = 96 };

/* Pack rows [i0, i0+mr) x k [k0, k0+kc) of op(A) (bf16, compact: ld = K or M). */
static void pack_a(uint32_t *Ap, const uint16_t *A, int transA, int ld, int i0, int mr, int k0, int kc) {
    const int kp = (kc + 1) / 2;
    for (int p = 0; p < kp; p++) {
        const int k = k0 + 2 * p, has2 = 2 * p + 1 < kc;
        for (int i = 0; i < MR; i++) {
            uint32_t lo = 0, hi = 0;
            if (i < mr) {
                const int r = i0 + i;
                lo = transA ? A[(size_t)k * ld + r] : A[(size_t)r * ld + k];
                if (has2) hi = transA ? A[(size_t)(k + 1) * ld + r] : A[(size_t)r * ld + k + 1];
            }
            Ap[(size_t)p * MR + i] = lo | hi << 16;
        }
    }
}

/* Pack k [k0, k0+kc) x columns [j0, j0+nr) of op(B) into one NR panel. */
static void pack_b(uint16_t *Bp, const uint16_t *B, int transB, int ld, int j0, int nr, int k0, int kc) {
    const int kp = (kc + 1) / 2;
    for (int p = 0; p < kp; p++) {
        const int k = k0 + 2 * p, has2 = 2 * p + 1 < kc;
        uint16_t *dst = Bp + (size_t)p * 2 * NR;
        if (!transB && nr == NR && has2) {
            const uint16_t *r0 = B + (size_t)k * ld + j0, *r1 = r0 + ld;
            for (int j = 0; j < NR; j++) {
                dst[2 * j] = r0[j];
                dst[2 * j + 1] = r1[j];
            }
            continue;
        }
        for (int j = 0; j < NR; j++) {
            uint16_t lo = 0, hi = 0;
            if (j < nr) {
                const int c = j0 + j;
                lo = transB ? B[(size_t)c * ld + k] : B[(size_t)k * ld + c];
                if (has2) hi = transB ? B[(size_t)c * ld + k + 1] : B[(size_t)(k + 1) * ld + c];
            }
            dst[2 * j] = lo;
            dst[2 * j + 1] = hi;
        }
    }
}

/* C[mr, nr] (= alpha acc + beta C when first, else += alpha acc) for one MR x NR tile. */
AVX512_BF16 static void microkernel(int kp, const uint32_t *Ap, const uint16_t *Bp, float *C, int ldc, int mr, int nr,
                                    float alpha, float beta, int first) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)p * 2 * NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)p * 2 * NR + NR);
        const uint32_t *a = Ap + (size_t)p * MR;
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i]);
            c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
        }
    }
    const __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *row = C + (size_t)i * ldc;
        __m512 r0 = _mm512_mul_ps(va, c0[i]), r1 = _mm512_mul_ps(va, c1[i]);
        if (!first || beta != 0.0f) {
            const __m512 s = first ? vb : _mm512_set1_ps(1.0f);
            r0 = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m0, row), r0);
            r1 = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m1, row + 16), r1);
        }
        _mm512_mask_storeu_ps(row, m0, r0);
        _mm512_mask_storeu_ps(row + 16, m1, r1);
    }
}

static int imin(int a, int b) { return a < b ? a : b; }

AVX512_BF16 static void gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const uint16_t *A, int lda,
                                    const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    static scratch sbp, sap[64];
    const int npanels = (N + NR - 1) / NR;
    int threads = pq_threads();
    if (threads > 64) threads = 64;
    if ((double)M * N * K < 4e6) threads = 1;
    /* rows per thread block: at most MC_MAX, and enough blocks for every thread */
    int mc = (M + threads - 1) / threads;
    mc = imin(MC_MAX, (mc + MR - 1) / MR * MR);
    const int nblocks = (M + mc - 1) / mc;
    if (threads > nblocks) threads = nblocks;
    const size_t kcp = (KC + 1) / 2; /* pairs per block */
    uint16_t *Bp = scratch_get(&sbp, (size_t)npanels * kcp * 2 * NR * sizeof *Bp);
    for (int t = 0; t < threads; t++) scratch_get(&sap[t], (size_t)(MC_MAX / MR) * kcp * MR * sizeof(uint32_t));
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = imin(KC, K - k0), kp = (kc + 1) / 2;
        const int first = k0 == 0;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int jp = 0; jp < npanels; jp++)
            pack_b(Bp + (size_t)jp * kp * 2 * NR, B, transB, ldb, jp * NR, imin(NR, N - jp * NR), k0, kc);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int blk = 0; blk < nblocks; blk++) {
            uint32_t *Ap = sap[omp_get_thread_num()].p;
            const int i0 = blk * mc, rows = imin(mc, M - i0), apanels = (rows + MR - 1) / MR;
            for (int ip = 0; ip < apanels; ip++)
                pack_a(Ap + (size_t)ip * kp * MR, A, transA, lda, i0 + ip * MR, imin(MR, rows - ip * MR), k0, kc);
            for (int jp = 0; jp < npanels; jp++) {
                const uint16_t *bp = Bp + (size_t)jp * kp * 2 * NR;
                for (int ip = 0; ip < apanels; ip++)
                    microkernel(kp, Ap + (size_t)ip * kp * MR, bp, C + (size_t)(i0 + ip * MR) * ldc + jp * NR, ldc,
                                imin(MR, rows - ip * MR), imin(NR, N - jp * NR), alpha, beta, first);
            }
        }
    }
}

void pq_gemm_bf16(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                  float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (!pq_bf16_native()) {
        pq_gemm_bf16_portable(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (K <= 0) { /* C = beta C, as sgemm */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    static scratch sa, sb;
    const int arows = transA ? K : M, acols = transA ? M : K, brows = transB ? N : K, bcols = transB ? K : N;
    const uint16_t *A16 = to_bf16(&sa, A, arows, acols, lda);
    const uint16_t *B16 = to_bf16(&sb, B, brows, bcols, ldb);
    gemm_avx512(transA, transB, M, N, K, alpha, A16, acols, B16, bcols, beta, C, ldc);
}
