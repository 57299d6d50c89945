/* bf16 rounding and the bf16 GEMM (--precision bf16).
 *
 * Rounding: the scalar reference against an independent nearest-value search in
 * double, on edge cases (ties both ways, NaN, Inf, overflow, subnormals, signed
 * zeros) and random bit patterns; the vectorised converter bitwise against the
 * reference on random patterns and the edge cases, at lengths with tails.
 *
 * GEMM: against a double-precision product of the FP32 inputs, every element
 * within the bound bf16 rounding allows: inputs rounded with unit roundoff
 * u = 2^-8 give products off by at most (2u + u^2)|a b|, and the FP32 sums add
 * at most (K + 2) 2^-24 sum|a b| (a loose form of gamma_K). Against the product
 * of the bf16-rounded inputs the first term vanishes: that bound (FP32 sums
 * alone) shows the kernel rounds its inputs once and no further. The linear
 * layer's forward and both backward products are held to the same bounds, and
 * the result must not depend on the thread count. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/bf16.h"
#include "base/manifest.h"
#include "base/rng.h"
#include "model/layers.h"

static float f32_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint32_t bits_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* Nearest bf16 by search: the two bf16 neighbours of x (truncation and the next one
 * away from zero), compared in double; a tie goes to the even one. Finite x only. */
static uint16_t nearest_bf16(float x) {
    uint32_t u = bits_f32(x);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double d_lo = fabs((double)x - (double)pq_f32_from_bf16(lo));
    /* past the largest finite bf16 the next value is Inf, at 2^128 for rounding (IEEE overflow) */
    double v_hi = (hi & 0x7fff) == 0x7f80 ? copysign(ldexp(1.0, 128), x) : (double)pq_f32_from_bf16(hi);
    double d_hi = fabs((double)x - v_hi);
    if (d_lo < d_hi) return lo;
    if (d_hi < d_lo) return hi;
    return (lo & 1) ? hi : lo;
}

static const uint32_t edge_bits[] = {
    0x00000000, 0x80000000,                         /* ±0 */
    0x3f800000, 0xbf800000,                         /* ±1 */
    0x3f808000, 0x3f818000, 0xbf808000, 0xbf818000, /* exact ties: down to even, up to even */
    0x3f807fff, 0x3f808001, 0x3f80ffff,             /* just below / above a tie, carry within the mantissa */
    0x3fffffff, 0x407fffff,                         /* carry into the exponent */
    0x7f7fffff, 0xff7fffff, 0x7f7f7fff, 0x7f7f8000, /* FLT_MAX rounds to Inf; the largest bf16 stays */
    0x7f800000, 0xff800000,                         /* ±Inf */
    0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fc0ffff, /* NaNs, signalling ones too */
    0x00000001, 0x00008000, 0x00018000, 0x00007fff, 0x00008001, /* subnormals and their ties */
    0x007fffff, 0x807fffff, 0x00800000, 0x00400000, 0x80010000,
};
#define N_EDGE (sizeof edge_bits / sizeof *edge_bits)

Test(bf16, reference_rounds_to_nearest_even) {
    cr_expect_eq(pq_bf16_from_f32(1.0f), 0x3f80);
    cr_expect_eq(pq_bf16_from_f32(f32_bits(0x3f808000)), 0x3f80, "tie rounds down to even");
    cr_expect_eq(pq_bf16_from_f32(f32_bits(0x3f818000)), 0x3f82, "tie rounds up to even");
    cr_expect_eq(pq_bf16_from_f32(f32_bits(0x3f808001)), 0x3f81);
    cr_expect_eq(pq_bf16_from_f32(f32_bits(0x7f7fffff)), 0x7f80, "FLT_MAX rounds to Inf");
    cr_expect_eq(pq_bf16_from_f32(f32_bits(0x7f7f7fff)), 0x7f7f, "the largest bf16 stays finite");
    cr_expect_eq(pq_bf16_from_f32(INFINITY), 0x7f80);
    cr_expect_eq(pq_bf16_from_f32(-INFINITY), 0xff80);
    cr_expect_eq(pq_bf16_from_f32(-0.0f), 0x8000);
    cr_expect_eq(pq_bf16_from_f32(f32_bits(0x00018000)), 0x0002, "subnormal tie to even");
    cr_expect_eq(pq_bf16_from_f32(f32_bits(0x807fffff)), 0x8080, "largest subnormal rounds to the smallest normal");
    for (size_t i = 0; i < N_EDGE; i++) {
        float x = f32_bits(edge_bits[i]);
        uint16_t h = pq_bf16_from_f32(x);
        if (isnan(x)) {
            cr_expect(isnan(pq_f32_from_bf16(h)) && (h & 0x8000) == (edge_bits[i] >> 16 & 0x8000),
                      "%08x: NaN gave %04x", edge_bits[i], h);
            continue;
        }
        if (isinf(x)) {
            cr_expect_eq(h, edge_bits[i] >> 16);
            continue;
        }
        cr_expect_eq(h, nearest_bf16(x), "%08x: %04x, nearest is %04x", edge_bits[i], h, nearest_bf16(x));
    }
    for (uint64_t i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)pq_rng_u64(7, 1, i);
        float x = f32_bits(u);
        if (!isfinite(x)) continue;
        uint16_t h = pq_bf16_from_f32(x), want = nearest_bf16(x);
        if (h != want) cr_assert_fail("%08x: %04x, nearest is %04x", u, h, want);
    }
}

Test(bf16, vectorised_converter_matches_reference) {
    enum { N = 100003 }; /* not a multiple of 16: the tail too */
    float *x = malloc(sizeof(float) * N);
    uint16_t *got = malloc(sizeof(uint16_t) * N);
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)pq_rng_u64(8, 2, (uint64_t)i);
        if (i % 7 == 0) u &= 0xffff8000 | (u & 1) << 16; /* many exact ties */
        if (i % 11 == 0) u = edge_bits[(size_t)(i / 11) % N_EDGE];
        x[i] = f32_bits(u);
    }
    for (int len = 0; len <= 40; len++) {
        memset(got, 0xaa, sizeof(uint16_t) * 64);
        pq_bf16_round_array(got, x + 3, (size_t)len);
        for (int i = 0; i < len; i++) cr_assert_eq(got[i], pq_bf16_from_f32(x[3 + i]), "len %d index %d", len, i);
        cr_assert_eq(got[len], 0xaaaa, "wrote past the end at len %d", len);
    }
    pq_bf16_round_array(got, x, N);
    for (int i = 0; i < N; i++)
        if (got[i] != pq_bf16_from_f32(x[i])) cr_assert_fail("index %d (%08x): %04x vs %04x", i, bits_f32(x[i]), got[i], pq_bf16_from_f32(x[i]));
    free(x), free(got);
}

static float *random_matrix(size_t n, uint64_t stream, float scale) {
    float *x = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = scale * (float)pq_rng_normal(5, stream, i);
    return x;
}

static float elem(const float *X, int trans, int ld, int r, int c) { return trans ? X[(size_t)c * ld + r] : X[(size_t)r * ld + c]; }
static float bf(float x) { return pq_f32_from_bf16(pq_bf16_from_f32(x)); }

/* Checks C = alpha op(A) op(B) + beta C0 against double references; returns the largest
 * error as a fraction of the bf16 bound. */
static double check_gemm(int ta, int tb, int M, int N, int K, float alpha, float beta, uint64_t seed) {
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 1, ldc = N + 2;
    float *A = random_matrix((size_t)(ta ? K : M) * lda, seed, 1.0f);
    float *B = random_matrix((size_t)(tb ? N : K) * ldb, seed + 1, 0.5f);
    float *C0 = random_matrix((size_t)M * ldc, seed + 2, 1.0f), *C = malloc(sizeof(float) * (size_t)M * ldc);
    memcpy(C, C0, sizeof(float) * (size_t)M * ldc);
    if (beta == 0.0f)
        for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = NAN; /* beta 0: C is not read */
    pq_gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    const double u = ldexp(1.0, -8), sum_err = (K + 2) * ldexp(1.0, -24);
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double exact = 0, rounded = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                float a = elem(A, ta, lda, i, k), b = elem(B, tb, ldb, k, j);
                exact += (double)a * b, rounded += (double)bf(a) * bf(b), mag += fabs((double)a * b);
            }
            double c0 = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            double got = C[(size_t)i * ldc + j], slack = fabs(c0) * ldexp(1.0, -23) + 1e-30;
            double bound = fabs(alpha) * mag * (2 * u + u * u + sum_err) + slack;
            double tight = fabs(alpha) * mag * (1 + 2 * u) * sum_err + slack;
            double e_exact = fabs(got - (alpha * exact + c0)), e_rounded = fabs(got - (alpha * rounded + c0));
            cr_assert(e_exact <= bound, "t%d%d %dx%dx%d C[%d,%d] = %g, fp32 product %g: error %g > bound %g", ta, tb, M, N, K, i,
                      j, got, alpha * exact + c0, e_exact, bound);
            cr_assert(e_rounded <= tight, "t%d%d %dx%dx%d C[%d,%d] = %g, bf16-input product %g: error %g > fp32-sum bound %g",
                      ta, tb, M, N, K, i, j, got, alpha * rounded + c0, e_rounded, tight);
            worst = fmax(worst, e_exact / bound);
        }
    for (int i = 0; i < M; i++) /* the padding between rows is not written */
        for (int j = N; j < ldc; j++)
            cr_assert(beta == 0.0f ? isnan(C[(size_t)i * ldc + j]) : C[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j]);
    free(A), free(B), free(C0), free(C);
    return worst;
}

Test(bf16, gemm_within_the_bf16_bound_for_every_transpose) {
    /* odd sizes (edge tiles of 12 x 32, an odd K), K over one 384 block, beta 0 and not */
    const int shapes[][3] = {{1, 1, 1}, {13, 33, 7}, {37, 45, 77}, {12, 32, 2}, {50, 70, 1001}, {100, 9, 400}};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int t = 0; t < 4; t++) {
            worst = fmax(worst, check_gemm(t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f, 0.0f, 10 * s + t));
            worst = fmax(worst, check_gemm(t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], 0.75f, 0.5f, 50 + s));
        }
    cr_log_info("bf16 gemm: worst error %.3f of the bound", worst);
}

Test(bf16, portable_path_within_the_same_bound) {
    const int M = 19, N = 23, K = 65;
    float *A = random_matrix((size_t)M * K, 90, 1.0f), *B = random_matrix((size_t)K * N, 91, 1.0f);
    float *C = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
    pq_gemm_bf16(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    pq_gemm_bf16_portable(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N);
    for (int i = 0; i < M * N; i++) {
        double mag = 0;
        for (int k = 0; k < K; k++) mag += fabs((double)A[(i / N) * K + k] * B[k * N + i % N]);
        cr_assert(fabs((double)C[i] - R[i]) <= 2 * (K + 2) * ldexp(1.0, -24) * mag * 1.01, "element %d: %g vs %g", i, C[i], R[i]);
    }
    free(A), free(B), free(C), free(R);
}

Test(bf16, same_result_for_any_thread_count) {
    const int M = 200, N = 150, K = 500;
    float *A = random_matrix((size_t)M * K, 70, 1.0f), *B = random_matrix((size_t)N * K, 71, 1.0f);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    int keep = pq_threads();
    pq_set_threads(1);
    pq_gemm_bf16(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    pq_set_threads(2);
    pq_gemm_bf16(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
    pq_set_threads(keep);
    cr_expect(memcmp(C1, C2, sizeof(float) * M * N) == 0, "1 and 2 threads differ");
    free(A), free(B), free(C1), free(C2);
}

/* The linear layer under --precision bf16: forward, din and dW against FP32 within the bound. */
static void expect_close(const float *got, const float *want, const double *mag, int n, const char *what) {
    const double bound_rel = 2 * ldexp(1.0, -8) + ldexp(1.0, -16);
    for (int i = 0; i < n; i++) {
        double bound = mag[i] * bound_rel * 1.05 + 1e-6; /* + both sides' FP32 sums */
        cr_assert(fabs((double)got[i] - want[i]) <= bound, "%s[%d]: bf16 %g, fp32 %g, bound %g", what, i, got[i], want[i], bound);
    }
}

Test(bf16, linear_forward_and_backward_against_fp32) {
    const int N = 40, I = 48, O = 36;
    float *x = random_matrix((size_t)N * I, 80, 1.0f), *W = random_matrix((size_t)O * I, 81, 0.2f);
    float *dy = random_matrix((size_t)N * O, 82, 1.0f);
    float *y32 = calloc((size_t)N * O, sizeof(float)), *y16 = calloc((size_t)N * O, sizeof(float));
    float *dx32 = calloc((size_t)N * I, sizeof(float)), *dx16 = calloc((size_t)N * I, sizeof(float));
    float *dW32 = calloc((size_t)O * I, sizeof(float)), *dW16 = calloc((size_t)O * I, sizeof(float));
    pq_linear_forward(y32, x, W, N, I, O, 0);
    pq_linear_backward(dx32, dW32, dy, x, W, N, I, O, 0);
    pq_set_matmul_precision(PQ_MATMUL_BF16);
    pq_linear_forward(y16, x, W, N, I, O, 0);
    pq_linear_backward(dx16, dW16, dy, x, W, N, I, O, 0);
    pq_set_matmul_precision(PQ_MATMUL_FP32);
    double *mag = calloc((size_t)N * I + (size_t)O * I + (size_t)N * O, sizeof(double));
    double *my = mag, *mdx = mag + (size_t)N * O, *mdW = mdx + (size_t)N * I;
    int differs = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < I; i++) {
                my[n * O + o] += fabs((double)x[n * I + i] * W[o * I + i]);
                mdx[n * I + i] += fabs((double)dy[n * O + o] * W[o * I + i]);
                mdW[o * I + i] += fabs((double)dy[n * O + o] * x[n * I + i]);
            }
    expect_close(y16, y32, my, N * O, "y");
    expect_close(dx16, dx32, mdx, N * I, "dx");
    expect_close(dW16, dW32, mdW, O * I, "dW");
    for (int i = 0; i < N * O; i++) differs += y16[i] != y32[i];
    cr_expect(differs > N * O / 2, "bf16 forward equals fp32 in %d of %d outputs: inputs not rounded?", N * O - differs, N * O);
    free(x), free(W), free(dy), free(y32), free(y16), free(dx32), free(dx16), free(dW32), free(dW16), free(mag);
}
