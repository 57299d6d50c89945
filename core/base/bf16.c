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

/* The scalar reference's arithmetic (pq_bf16_from_f32) on 16 lanes; each result in
 * the low half of its 32-bit lane. */
AVX512_BF16 static inline __m512i bf16_lanes(__m512 x) {
    const __m512i u = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40)));
}

AVX512_BF16 static void round16(uint16_t *out, const float *in) {
    _mm256_storeu_si256((__m256i *)out, _mm512_cvtepi32_epi16(bf16_lanes(_mm512_loadu_ps(in))));
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
 * Packing reads the FP32 operands and rounds them (one pass over each input).
 * K is interleaved in pairs, as vdpbf16ps consumes them: a B panel holds, for
 * pair p, 2 x 16 dwords (B[2p][j], B[2p+1][j]); an A panel holds the dwords
 * (A[i][2p], A[i][2p+1]) row by row (stride KCP pairs) when A is read along its
 * rows, or pair by pair (stride MR) when op(A) = A^T is read down columns: each
 * layout is the one that packs with contiguous vector loads and stores. An odd
 * K is padded with a zero. */

enum { MR = 12, NR = 32, KC = 384, KCP = KC / 2, MC_MAX = 96 };

static __mmask16 first_lanes(int n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* op(A) = A (rows contiguous): panel row i (of nrows) at Ap[i * KCP + p]. */
AVX512_BF16 static void pack_a_rows(uint32_t *Ap, const float *A, int ld, int i0, int mr, int k0, int kc, int nrows) {
    const int kp = (kc + 1) / 2;
    for (int i = 0; i < nrows; i++) {
        uint16_t *dst = (uint16_t *)(Ap + (size_t)i * KCP);
        if (i >= mr) {
            memset(dst, 0, sizeof(uint32_t) * (size_t)kp);
            continue;
        }
        const float *src = A + (size_t)(i0 + i) * ld + k0;
        for (int k = 0; k < kc; k += 16) {
            const int n = kc - k;
            const __m512i r = bf16_lanes(_mm512_maskz_loadu_ps(first_lanes(n), src + k));
            _mm512_mask_cvtepi32_storeu_epi16(dst + k, first_lanes(n + (n & 1)), r); /* an odd end gets its zero */
        }
    }
}

/* op(A) = A^T (A is K x M): pair p of the panel at Ap[p * MR + i]. */
AVX512_BF16 static void pack_a_pairs(uint32_t *Ap, const float *A, int ld, int i0, int mr, int k0, int kc) {
    const int kp = (kc + 1) / 2;
    const __mmask16 m = first_lanes(mr);
    for (int p = 0; p < kp; p++) {
        const int k = k0 + 2 * p;
        const __m512i lo = bf16_lanes(_mm512_maskz_loadu_ps(m, A + (size_t)k * ld + i0));
        const __m512i hi = 2 * p + 1 < kc ? bf16_lanes(_mm512_maskz_loadu_ps(m, A + (size_t)(k + 1) * ld + i0))
                                          : _mm512_setzero_si512();
        _mm512_mask_storeu_epi32(Ap + (size_t)p * MR, first_lanes(MR), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
    }
}

/* k [k0, k0+kc) x columns [j0, j0+nr) of op(B) into one NR panel: pair p at Bp[p * NR + j]. */
AVX512_BF16 static void pack_b(uint32_t *Bp, const float *B, int transB, int ld, int j0, int nr, int k0, int kc) {
    const int kp = (kc + 1) / 2;
    if (transB) { /* B is N x K: round the panel's rows of B as pair rows, then gather them pair by pair */
        uint32_t rows[NR * KCP];
        pack_a_rows(rows, B, ld, j0, nr, k0, kc, NR);
        const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                               _mm512_set1_epi32(KCP));
        for (int p = 0; p < kp; p++) {
            _mm512_storeu_si512(Bp + (size_t)p * NR, _mm512_i32gather_epi32(idx, rows + p, 4));
            _mm512_storeu_si512(Bp + (size_t)p * NR + 16, _mm512_i32gather_epi32(idx, rows + 16 * KCP + p, 4));
        }
        return;
    }
    const __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
    for (int p = 0; p < kp; p++) {
        const int k = k0 + 2 * p, has2 = 2 * p + 1 < kc;
        const float *r0 = B + (size_t)k * ld + j0, *r1 = r0 + ld;
        __m512i lo0 = bf16_lanes(_mm512_maskz_loadu_ps(m0, r0)), lo1 = bf16_lanes(_mm512_maskz_loadu_ps(m1, r0 + 16));
        __m512i hi0 = _mm512_setzero_si512(), hi1 = _mm512_setzero_si512();
        if (has2) hi0 = bf16_lanes(_mm512_maskz_loadu_ps(m0, r1)), hi1 = bf16_lanes(_mm512_maskz_loadu_ps(m1, r1 + 16));
        _mm512_storeu_si512(Bp + (size_t)p * NR, _mm512_or_si512(lo0, _mm512_slli_epi32(hi0, 16)));
        _mm512_storeu_si512(Bp + (size_t)p * NR + 16, _mm512_or_si512(lo1, _mm512_slli_epi32(hi1, 16)));
    }
}

/* C[mr, nr] (= alpha acc + beta C when first, else += alpha acc) for one MR x NR
 * tile; A's dword for (row i, pair p) is at Ap[p * sp + i * si]. */
AVX512_BF16 static inline __attribute__((always_inline)) void
microkernel(int kp, const uint32_t *Ap, const int sp, const int si, const uint32_t *Bp, float *C, int ldc, int mr, int nr,
            float alpha, float beta, int first) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)p * NR);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(Bp + (size_t)p * NR + 16);
        const uint32_t *a = Ap + (size_t)p * sp;
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512bh ai = (__m512bh)_mm512_set1_epi32((int)a[i * si]);
            c0[i] = _mm512_dpbf16_ps(c0[i], ai, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], ai, b1);
        }
    }
    const __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(first ? beta : 1.0f);
    const int read_c = !first || beta != 0.0f;
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *row = C + (size_t)i * ldc;
        __m512 r0 = _mm512_mul_ps(va, c0[i]), r1 = _mm512_mul_ps(va, c1[i]);
        if (read_c) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);
        }
        _mm512_mask_storeu_ps(row, m0, r0);
        _mm512_mask_storeu_ps(row + 16, m1, r1);
    }
}

AVX512_BF16 static void micro_rows(int kp, const uint32_t *Ap, const uint32_t *Bp, float *C, int ldc, int mr, int nr,
                                   float alpha, float beta, int first) {
    microkernel(kp, Ap, 1, KCP, Bp, C, ldc, mr, nr, alpha, beta, first);
}

AVX512_BF16 static void micro_pairs(int kp, const uint32_t *Ap, const uint32_t *Bp, float *C, int ldc, int mr, int nr,
                                    float alpha, float beta, int first) {
    microkernel(kp, Ap, MR, 1, Bp, C, ldc, mr, nr, alpha, beta, first);
}

static int imin(int a, int b) { return a < b ? a : b; }

static void gemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                        int ldb, float beta, float *C, int ldc) {
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
    const size_t apanel = (size_t)KCP * MR, bpanel = (size_t)KCP * NR; /* dwords */
    uint32_t *Bp = scratch_get(&sbp, (size_t)npanels * bpanel * sizeof *Bp);
    for (int t = 0; t < threads; t++) scratch_get(&sap[t], (size_t)(MC_MAX / MR) * apanel * sizeof(uint32_t));
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = imin(KC, K - k0), kp = (kc + 1) / 2;
        const int first = k0 == 0;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int jp = 0; jp < npanels; jp++)
            pack_b(Bp + (size_t)jp * bpanel, B, transB, ldb, jp * NR, imin(NR, N - jp * NR), k0, kc);
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int blk = 0; blk < nblocks; blk++) {
            uint32_t *Ap = sap[omp_get_thread_num()].p;
            const int i0 = blk * mc, rows = imin(mc, M - i0), apanels = (rows + MR - 1) / MR;
            for (int ip = 0; ip < apanels; ip++) {
                const int r = i0 + ip * MR, mr = imin(MR, rows - ip * MR);
                if (transA) pack_a_pairs(Ap + (size_t)ip * apanel, A, lda, r, mr, k0, kc);
                else pack_a_rows(Ap + (size_t)ip * apanel, A, lda, r, mr, k0, kc, MR);
            }
            for (int jp = 0; jp < npanels; jp++) {
                const uint32_t *bp = Bp + (size_t)jp * bpanel;
                const int nr = imin(NR, N - jp * NR);
                for (int ip = 0; ip < apanels; ip++) {
                    float *c = C + (size_t)(i0 + ip * MR) * ldc + jp * NR;
                    const int mr = imin(MR, rows - ip * MR);
                    if (transA) micro_pairs(kp, Ap + (size_t)ip * apanel, bp, c, ldc, mr, nr, alpha, beta, first);
                    else micro_rows(kp, Ap + (size_t)ip * apanel, bp, c, ldc, mr, nr, alpha, beta, first);
                }
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
    gemm_avx512(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
