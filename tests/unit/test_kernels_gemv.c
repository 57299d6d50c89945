/* GEMV/GEMM kernels: every SIMD version against the plain reference.
 * Q8 activations: bitwise equal. F32 activations: within PQ_GEMV_F32_RTOL of the
 * magnitude of the terms (the reference sums in double, SIMD in float lanes). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "kernels/gemv.h"
#include "kernels/kern.h"

typedef struct {
    pq_packed *W;
    float *x; /* batch x cols */
    int batch;
} problem;

/* kind of codes: 0 random, 1 all top code, 2 all zero, 3 alternating top/0 */
static problem make_problem(pq_format f, int rows, int cols, int batch, int code_kind, int x_kind, uint64_t sub) {
    pq_rng r = pq_rng_make(11, pq_rng_stream_id("test-gemv", sub));
    int levels = pq_format_levels(f);
    uint8_t *codes = pq_malloc((size_t)rows * cols);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        codes[i] = code_kind == 0   ? (uint8_t)pq_rng_next_below(&r, (uint64_t)levels)
                   : code_kind == 1 ? (uint8_t)(levels - 1)
                   : code_kind == 2 ? 0
                                    : (uint8_t)((i % 2) * (levels - 1));
    float *scale = pq_malloc(rows * sizeof(float)), *offset = pq_malloc(rows * sizeof(float));
    for (int i = 0; i < rows; i++) {
        scale[i] = (float)(0.01 + pq_rng_next_uniform(&r));
        offset[i] = (float)(-0.5 * levels * scale[i] * pq_rng_next_uniform(&r));
    }
    problem p = {pq_pack(f, rows, cols, codes, scale, offset), pq_malloc((size_t)batch * cols * sizeof(float)), batch};
    cr_assert_not_null(p.W, "%s", pq_error());
    for (size_t i = 0; i < (size_t)batch * cols; i++) {
        float v = (float)pq_rng_next_normal(&r);
        switch (x_kind) {
        case 1: v *= 1e30f; break;                          /* huge */
        case 2: v *= 1e-30f; break;                         /* tiny */
        case 3: v = i % (size_t)cols == 3 ? 1e6f : v; break; /* one outlier per token */
        case 4: v = 0.0f; break;                             /* all zero */
        case 5: v = (i % 2) ? 3.0f : -3.0f; break;           /* saturating magnitudes */
        case 6: v = 1.0f; break;                             /* every q = +127 */
        case 7: v = -1.0f; break;                            /* every q = -127 */
        default: break;
        }
        p.x[i] = v;
    }
    free(codes), free(scale), free(offset);
    return p;
}

static void free_problem(problem *p) {
    pq_packed_free(p->W);
    free(p->x);
}

typedef void (*kernel_fn)(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1);

/* The reference against pq_matmul at `isa`, or against `kern` (one of kern.h's
 * entry points, called directly) when it is not NULL. */
static void compare_kernel(const problem *p, pq_act_kind kind, pq_isa isa, kernel_fn kern) {
    const pq_packed *W = p->W;
    const char *name = kern ? "avx512 without VBMI" : pq_isa_name(isa);
    pq_act_batch a;
    pq_act_batch_init(&a);
    pq_act_batch_set(&a, kind, p->x, p->batch, W->cols);
    size_t n = (size_t)p->batch * W->rows;
    float *ref = pq_malloc(n * sizeof(float)), *fast = pq_malloc(n * sizeof(float));
    cr_assert_eq(pq_matmul(W, &a, ref, PQ_ISA_REF, 1), 0);
    if (kern)
        kern(W, &a, fast, 0, W->rows);
    else
        cr_assert_eq(pq_matmul(W, &a, fast, isa, 1), 0);
    for (int t = 0; t < p->batch; t++)
        for (int r = 0; r < W->rows; r++) {
            size_t i = (size_t)t * W->rows + r;
            if (kind == PQ_ACT_Q8) {
                cr_assert(memcmp(&ref[i], &fast[i], sizeof(float)) == 0,
                          "%s q8 %s %dx%d batch %d: token %d row %d: ref %.9g, %s %.9g", name, pq_format_name(W->format),
                          W->rows, W->cols, p->batch, t, r, ref[i], name, fast[i]);
                continue;
            }
            double mag = 0.0, xs = 0.0;
            for (int c = 0; c < W->cols; c++) {
                double term = pq_packed_code(W, r, c) * (double)p->x[(size_t)t * W->cols + c];
                mag += fabs(term);
                xs += p->x[(size_t)t * W->cols + c];
            }
            double tol = PQ_GEMV_F32_RTOL * (fabs(W->scale[r]) * mag + fabs(W->offset[r] * xs)) + 1e-37;
            if (isinf(ref[i]) || isinf(fast[i])) {
                cr_assert_eq(ref[i], fast[i]);
                continue;
            }
            cr_assert(fabs((double)ref[i] - fast[i]) <= tol, "%s f32 %s %dx%d: token %d row %d: ref %.9g, %.9g (tol %g)",
                      name, pq_format_name(W->format), W->rows, W->cols, t, r, ref[i], fast[i], tol);
        }
    free(ref), free(fast);
    pq_act_batch_free(&a);
}

static void compare_isa(const problem *p, pq_act_kind kind, pq_isa isa) { compare_kernel(p, kind, isa, NULL); }

static void compare_all_isas(const problem *p) {
    for (int isa = PQ_ISA_AVX2; isa < PQ_ISA_COUNT; isa++) {
        if (!pq_isa_supported((pq_isa)isa)) continue;
        compare_isa(p, PQ_ACT_Q8, (pq_isa)isa);
        compare_isa(p, PQ_ACT_F32, (pq_isa)isa);
    }
}

Test(kernels_gemv, random_shapes_every_format) {
    pq_rng r = pq_rng_make(3, pq_rng_stream_id("test-gemv-shapes", 0));
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        for (int k = 0; k < 6; k++) {
            int rows = 1 + (int)pq_rng_next_below(&r, 40);
            int cols = 1 + (int)pq_rng_next_below(&r, 1400);
            int batch = 1 + (int)pq_rng_next_below(&r, 9);
            problem p = make_problem((pq_format)f, rows, cols, batch, 0, 0, (uint64_t)(f * 10 + k));
            compare_all_isas(&p);
            free_problem(&p);
        }
}

Test(kernels_gemv, block_edges_and_odd_sizes) {
    const int cols[] = {1, 63, 64, 65, 255, 256, 257, 319, 320, 321, 513, 640};
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        for (size_t c = 0; c < PQ_COUNT(cols); c++) {
            problem p = make_problem((pq_format)f, 3 + 2 * (int)c % 5, cols[c], 1 + (int)c % 6, 0, 0, 1000 + f * 20 + c);
            compare_all_isas(&p);
            free_problem(&p);
        }
}

Test(kernels_gemv, extreme_codes_and_activations) {
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        for (int code_kind = 1; code_kind <= 3; code_kind++)
            for (int x_kind = 0; x_kind <= 5; x_kind++) {
                problem p = make_problem((pq_format)f, 5, 777, 5, code_kind, x_kind, 2000 + f * 100 + code_kind * 10 + x_kind);
                compare_all_isas(&p);
                free_problem(&p);
            }
}

/* Every byte value the storage can hold, not only those pq_pack writes (T1_6
 * packs 243 of 256; the AVX-512 kernel looks its trits up in a table built
 * by other means than the reference's arithmetic): the kernels still agree. */
Test(kernels_gemv, arbitrary_stored_bytes) {
    pq_rng r = pq_rng_make(5, pq_rng_stream_id("test-gemv-bytes", 0));
    for (int f = 0; f < PQ_FMT_COUNT; f++) {
        problem p = make_problem((pq_format)f, 19, 1280, 3, 0, 0, 3000 + f); /* 1280: whole blocks, no padding */
        for (size_t i = 0; i < (size_t)p.W->rows * p.W->row_bytes; i++) p.W->data[i] = (uint8_t)pq_rng_next_below(&r, 256);
        for (int v = 0; v < 256; v++) p.W->data[v] = (uint8_t)v; /* row 0 starts with all of them, in order */
        compare_all_isas(&p);
        free_problem(&p);
    }
}

/* pq_matmul takes the AVX512-VBMI version where the CPU has it; the plain
 * AVX-512 version (T1_6 by arithmetic) runs on the others and is checked here
 * directly, on the problems of the tests above. */
Test(kernels_gemv, avx512_without_vbmi) {
    if (!pq_isa_supported(PQ_ISA_AVX512)) cr_skip_test("no AVX-512 VNNI on this CPU");
    pq_rng r = pq_rng_make(9, pq_rng_stream_id("test-gemv-novbmi", 0));
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        for (int k = 0; k < 4; k++) {
            int rows = 1 + (int)pq_rng_next_below(&r, 40), cols = k == 0 ? 1280 : 1 + (int)pq_rng_next_below(&r, 1400);
            problem p = make_problem((pq_format)f, rows, cols, 1 + k, k == 3 ? 1 : 0, k == 2 ? 5 : 0, 4000 + f * 10 + k);
            if (k == 0) /* every byte value */
                for (size_t i = 0; i < (size_t)p.W->rows * p.W->row_bytes; i++) p.W->data[i] = (uint8_t)pq_rng_next_below(&r, 256);
            compare_kernel(&p, PQ_ACT_Q8, PQ_ISA_AVX512, pq_kern_avx512);
            compare_kernel(&p, PQ_ACT_F32, PQ_ISA_AVX512, pq_kern_avx512);
            free_problem(&p);
        }
}

/* The largest integer sums a row can produce: top codes times +/-127 everywhere. */
Test(kernels_gemv, int8_sums_at_the_limit) {
    int cols = 4096;
    problem p = make_problem(PQ_FMT_B8, 2, cols, 1, 1, 0, 9);
    for (int c = 0; c < cols; c++) p.x[c] = 1.0f;
    pq_packed_free(p.W);
    uint8_t *codes = pq_malloc(2 * (size_t)cols);
    memset(codes, 255, 2 * (size_t)cols);
    float s[2] = {1, 1}, o[2] = {0, -1};
    p.W = pq_pack(PQ_FMT_B8, 2, cols, codes, s, o);
    pq_act_batch a;
    pq_act_batch_init(&a);
    pq_act_batch_set(&a, PQ_ACT_Q8, p.x, 1, cols);
    cr_assert_eq(a.q[0], 127);
    float y[2];
    for (int isa = 0; isa < PQ_ISA_COUNT; isa++) {
        if (!pq_isa_supported((pq_isa)isa)) continue;
        cr_assert_eq(pq_matmul(p.W, &a, y, (pq_isa)isa, 1), 0);
        /* d = 1/127: y = 255·127·cols/127 (+ offset·cols) */
        cr_assert_float_eq(y[0], 255.0f * cols, 1e-3f * cols, "%s: %g", pq_isa_name((pq_isa)isa), y[0]);
        cr_assert_float_eq(y[1], 254.0f * cols, 1e-3f * cols, "%s: %g", pq_isa_name((pq_isa)isa), y[1]);
    }
    pq_act_batch_free(&a);
    free(codes);
    free_problem(&p);
}

/* The widest rows the format allows, top codes against q = +-127 everywhere:
 * the AVX-512 int8 path keeps 1- and 2-bit codes scaled by up to 128 inside its
 * accumulators, and must still be exact here. */
Test(kernels_gemv, widest_rows_at_the_int32_limit_every_format) {
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        for (int x_kind = 6; x_kind <= 7; x_kind++) {
            problem p = make_problem((pq_format)f, 3, PQ_MAX_COLS, 1, 1, x_kind, 4000 + f * 10 + x_kind);
            for (int isa = PQ_ISA_AVX2; isa < PQ_ISA_COUNT; isa++)
                if (pq_isa_supported((pq_isa)isa)) compare_isa(&p, PQ_ACT_Q8, (pq_isa)isa);
            free_problem(&p);
        }
}

/* Outputs are the dequantized matrix times x: the kernels compute the right thing,
 * not just the same thing. */
Test(kernels_gemv, reference_is_dequantized_matvec) {
    for (int f = 0; f < PQ_FMT_COUNT; f++) {
        problem p = make_problem((pq_format)f, 9, 301, 2, 0, 0, 3000 + f);
        pq_act_batch a;
        pq_act_batch_init(&a);
        float y[18], w[301];
        for (int kind = 0; kind < 2; kind++) {
            pq_act_batch_set(&a, (pq_act_kind)kind, p.x, 2, 301);
            cr_assert_eq(pq_matmul(p.W, &a, y, PQ_ISA_REF, 1), 0);
            for (int t = 0; t < 2; t++)
                for (int r = 0; r < 9; r++) {
                    pq_dequant_row(p.W, r, w);
                    double s = 0, mag = 0;
                    for (int c = 0; c < 301; c++) s += (double)w[c] * p.x[t * 301 + c], mag += fabs(w[c] * p.x[t * 301 + c]);
                    /* Q8 error: each x is off by at most d/2 = max|x|/254 */
                    double tol = kind == PQ_ACT_F32 ? 1e-5 * mag + 1e-6 : 0.02 * mag + 1e-6;
                    cr_assert(fabs(s - y[t * 9 + r]) <= tol, "%s kind %d row %d: %g vs %g", pq_format_name((pq_format)f),
                              kind, r, s, y[t * 9 + r]);
                }
        }
        pq_act_batch_free(&a);
        free_problem(&p);
    }
}

Test(kernels_gemv, threads_do_not_change_results) {
    problem p = make_problem(PQ_FMT_B2, 300, 700, 3, 0, 0, 77);
    pq_act_batch a;
    pq_act_batch_init(&a);
    pq_act_batch_set(&a, PQ_ACT_F32, p.x, 3, 700);
    float *y1 = pq_malloc(900 * sizeof(float)), *y2 = pq_malloc(900 * sizeof(float));
    pq_isa isa = pq_isa_best();
    cr_assert_eq(pq_matmul(p.W, &a, y1, isa, 1), 0);
    cr_assert_eq(pq_matmul(p.W, &a, y2, isa, 2), 0);
    cr_assert(memcmp(y1, y2, 900 * sizeof(float)) == 0);
    free(y1), free(y2);
    pq_act_batch_free(&a);
    free_problem(&p);
}

Test(kernels_gemv, shape_mismatch_is_an_error) {
    problem p = make_problem(PQ_FMT_B4, 4, 100, 1, 0, 0, 5);
    pq_act_batch a;
    pq_act_batch_init(&a);
    pq_act_batch_set(&a, PQ_ACT_Q8, p.x, 1, 99);
    float y[4];
    cr_assert_eq(pq_matmul(p.W, &a, y, PQ_ISA_REF, 1), -1);
    cr_assert(strstr(pq_error(), "99 columns") != NULL, "%s", pq_error());
    pq_act_batch_free(&a);
    free_problem(&p);
}

Test(kernels_gemv, isa_names_and_choice) {
    pq_isa isa;
    cr_assert_eq(pq_isa_parse("avx2", &isa), 0);
    cr_assert_eq(isa, PQ_ISA_AVX2);
    cr_assert_eq(pq_isa_parse("neon", &isa), -1);
    cr_assert(pq_isa_supported(pq_isa_best()));
    cr_assert(pq_isa_supported(PQ_ISA_REF));
}

Test(kernels_gemv, env_caps_the_isa) {
    setenv("PQ_KERNEL_ISA", "ref", 1);
    cr_assert_eq(pq_isa_best(), PQ_ISA_REF);
    setenv("PQ_KERNEL_ISA", "avx2", 1);
    cr_assert_eq(pq_isa_best(), pq_isa_supported(PQ_ISA_AVX2) ? PQ_ISA_AVX2 : PQ_ISA_REF);
    unsetenv("PQ_KERNEL_ISA");
    /* unsupported requests are refused, not run */
    for (int isa = 0; isa < PQ_ISA_COUNT; isa++)
        if (!pq_isa_supported((pq_isa)isa)) {
            problem p = make_problem(PQ_FMT_B2, 2, 10, 1, 0, 0, 1);
            pq_act_batch a;
            pq_act_batch_init(&a);
            pq_act_batch_set(&a, PQ_ACT_Q8, p.x, 1, 10);
            float y[2];
            cr_assert_eq(pq_matmul(p.W, &a, y, (pq_isa)isa, 1), -1);
            pq_act_batch_free(&a);
            free_problem(&p);
        }
}
