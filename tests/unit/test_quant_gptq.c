/* GPTQ tests: it reconstructs a layer's outputs at least as well as RTN on
 * correlated inputs, reduces to RTN when inputs are uncorrelated, and the lazy
 * block update changes nothing but speed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "quant/gptq.h"

enum { ROWS = 24, COLS = 40, N = 400 };

/* Inputs with strongly correlated features: X = Z·A, A a random mixing matrix
 * plus a per-feature scale spread (as in real activations). */
static void correlated_inputs(float *X, uint64_t seed) {
    float *Z = pq_malloc(sizeof(float) * N * COLS), *A = pq_malloc(sizeof(float) * COLS * COLS);
    for (int k = 0; k < N * COLS; k++) Z[k] = (float)pq_rng_normal(seed, 1, (uint64_t)k);
    for (int k = 0; k < COLS * COLS; k++) A[k] = (float)pq_rng_normal(seed, 2, (uint64_t)k) + (k % (COLS + 1) == 0 ? 2.0f : 0.0f);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < COLS; j++) {
            double s = 0;
            for (int k = 0; k < COLS; k++) s += Z[n * COLS + k] * A[k * COLS + j];
            X[n * COLS + j] = (float)(s * (0.2 + (j % 5)));
        }
    free(Z), free(A);
}

/* ‖WX − ŴX‖²_F computed directly from the inputs (not through H). */
static double output_error(const float *W, const float *Wq, const float *X) {
    double e = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < ROWS; i++) {
            double y = 0, yq = 0;
            for (int j = 0; j < COLS; j++) y += W[i * COLS + j] * X[n * COLS + j], yq += Wq[i * COLS + j] * X[n * COLS + j];
            e += (y - yq) * (y - yq);
        }
    return e;
}

static void compare(const char *name, pq_qbits bits) {
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, name, bits), 0);
    float *X = pq_malloc(sizeof(float) * N * COLS), W[ROWS * COLS], Wr[ROWS * COLS], Wg[ROWS * COLS], alpha[ROWS];
    correlated_inputs(X, 11 + (uint64_t)bits);
    for (int k = 0; k < ROWS * COLS; k++) W[k] = (float)pq_rng_normal(5, (uint64_t)bits, (uint64_t)k) * 0.1f;
    double *H = pq_calloc((size_t)COLS * COLS, sizeof *H);
    pq_gptq_hessian_add(H, COLS, X, N / 2);
    pq_gptq_hessian_add(H, COLS, X + (N / 2) * COLS, N - N / 2);
    pq_quant_init_scales(&q, W, ROWS, COLS, alpha);
    memcpy(Wr, W, sizeof W), memcpy(Wg, W, sizeof W);
    uint8_t codes[ROWS * COLS];
    pq_rtn_quantize(&q, Wr, alpha, ROWS, COLS, NULL);
    cr_assert_eq(pq_gptq_quantize(&q, Wg, alpha, ROWS, COLS, H, PQ_GPTQ_DAMP, 16, codes), 0, "%s", pq_error());
    /* every GPTQ weight is on the grid, and its code says which level */
    for (int k = 0; k < ROWS * COLS; k++) cr_assert_eq(Wg[k], pq_quant_dequant(&q, alpha[k / COLS], codes[k]));
    double er = output_error(W, Wr, X), eg = output_error(W, Wg, X);
    cr_log_info("%s@%s: RTN %.4g GPTQ %.4g", name, pq_qbits_name(bits), er, eg);
    cr_expect(eg < er, "%s@%s: GPTQ error %g not below RTN %g", name, pq_qbits_name(bits), eg, er);
    /* the H-based error agrees with the direct one */
    double rel = pq_gptq_relative_error(W, Wg, ROWS, COLS, H), den = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < ROWS; i++) {
            double y = 0;
            for (int j = 0; j < COLS; j++) y += W[i * COLS + j] * X[n * COLS + j];
            den += y * y;
        }
    cr_expect(fabs(rel - eg / den) < 1e-3 * (eg / den) + 1e-9, "relative error %g vs %g", rel, eg / den);
    free(X), free(H);
}

Test(gptq, beats_rtn_on_correlated_inputs) {
    compare("minmax", PQ_BITS_2);
    compare("minmax", PQ_BITS_3);
    compare("minmax", PQ_BITS_4);
    compare("lsq", PQ_BITS_4);
    compare("seq", PQ_BITS_TERNARY);
    compare("minmax", PQ_BITS_8);
}

/* With H = c·I there is nothing to feed back: GPTQ is RTN exactly. */
Test(gptq, uncorrelated_inputs_give_rtn) {
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "minmax", PQ_BITS_3), 0);
    float W[ROWS * COLS], Wr[ROWS * COLS], Wg[ROWS * COLS], alpha[ROWS];
    for (int k = 0; k < ROWS * COLS; k++) W[k] = (float)pq_rng_normal(3, 3, (uint64_t)k);
    double *H = pq_calloc((size_t)COLS * COLS, sizeof *H);
    for (int j = 0; j < COLS; j++) H[j * COLS + j] = 4.0;
    pq_quant_init_scales(&q, W, ROWS, COLS, alpha);
    memcpy(Wr, W, sizeof W), memcpy(Wg, W, sizeof W);
    pq_rtn_quantize(&q, Wr, alpha, ROWS, COLS, NULL);
    cr_assert_eq(pq_gptq_quantize(&q, Wg, alpha, ROWS, COLS, H, PQ_GPTQ_DAMP, 8, NULL), 0);
    cr_expect_arr_eq(Wr, Wg, sizeof Wr);
    free(H);
}

/* Block size only changes when the error reaches later columns, not what it is. */
Test(gptq, block_size_does_not_change_result) {
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "minmax", PQ_BITS_4), 0);
    float *X = pq_malloc(sizeof(float) * N * COLS), W[ROWS * COLS], A[ROWS * COLS], B[ROWS * COLS], alpha[ROWS];
    correlated_inputs(X, 99);
    for (int k = 0; k < ROWS * COLS; k++) W[k] = (float)pq_rng_normal(4, 4, (uint64_t)k) * 0.1f;
    double *H = pq_calloc((size_t)COLS * COLS, sizeof *H);
    pq_gptq_hessian_add(H, COLS, X, N);
    pq_quant_init_scales(&q, W, ROWS, COLS, alpha);
    memcpy(A, W, sizeof W), memcpy(B, W, sizeof W);
    cr_assert_eq(pq_gptq_quantize(&q, A, alpha, ROWS, COLS, H, PQ_GPTQ_DAMP, 1, NULL), 0);
    cr_assert_eq(pq_gptq_quantize(&q, B, alpha, ROWS, COLS, H, PQ_GPTQ_DAMP, COLS, NULL), 0);
    double ea = pq_gptq_relative_error(W, A, ROWS, COLS, H), eb = pq_gptq_relative_error(W, B, ROWS, COLS, H);
    int differ = 0;
    for (int k = 0; k < ROWS * COLS; k++) differ += A[k] != B[k];
    /* float summation order differs, so a rare weight may sit on a rounding edge */
    cr_expect(differ <= ROWS * COLS / 100, "%d of %d weights differ", differ, ROWS * COLS);
    cr_expect(fabs(ea - eb) <= 0.02 * ea, "errors %g vs %g", ea, eb);
    free(X), free(H);
}

/* Dead inputs get zero weight; a non-positive-definite H without damping is an error. */
Test(gptq, dead_inputs_and_singular_hessian) {
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "minmax", PQ_BITS_4), 0);
    enum { R = 3, C = 4 };
    float W[R * C], alpha[R];
    for (int k = 0; k < R * C; k++) W[k] = 0.1f * (float)(k + 1);
    double H[C * C] = {0};
    for (int j = 0; j < C; j++) H[j * C + j] = j == 2 ? 0.0 : 1.0;
    pq_quant_init_scales(&q, W, R, C, alpha);
    cr_assert_eq(pq_gptq_quantize(&q, W, alpha, R, C, H, PQ_GPTQ_DAMP, 2, NULL), 0);
    for (int i = 0; i < R; i++) cr_expect_eq(W[i * C + 2], pq_quant_dequant(&q, alpha[i], pq_quant_code(&q, 0.0f)));
    double S[C * C] = {0};
    for (int a = 0; a < C; a++)
        for (int b = 0; b < C; b++) S[a * C + b] = -1.0; /* negative definite */
    cr_expect_eq(pq_gptq_quantize(&q, W, alpha, R, C, S, 0.0, 2, NULL), -1);
    cr_expect(strstr(pq_error(), "positive definite") != NULL, "%s", pq_error());
}
