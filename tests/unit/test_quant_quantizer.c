/* Quantizer tests: level sets, decision thresholds, ties, scale init, and the
 * backward pass against finite differences and hand-computed boundary cases. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "quant/quantizer.h"

static pq_quantizer make(const char *name, pq_qbits bits) {
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, name, bits), 0, "%s@%d: %s", name, (int)bits, pq_error());
    return q;
}

/* q̂ of one weight through the matrix API (1x1, given α). */
static float fq1(const pq_quantizer *q, float w, float alpha) {
    float out;
    pq_quant_forward(q, &w, &alpha, 1, 1, &out);
    return out / (alpha > PQ_ALPHA_MIN ? alpha : PQ_ALPHA_MIN);
}

/* Sweeps u over [-10, 10] and checks that exactly the expected set of q̂ values occurs. */
static void expect_levels(const char *name, pq_qbits bits, const float *want, int n) {
    pq_quantizer q = make(name, bits);
    cr_assert_eq(q.levels, n, "%s@%s: %d levels, want %d", name, pq_qbits_name(bits), q.levels, n);
    int seen[256] = {0};
    for (int t = -100000; t <= 100000; t++) {
        float u = (float)t / 10000.0f;
        float v = pq_quant_qhat(&q, u);
        int code = pq_quant_code(&q, u);
        cr_assert(code >= 0 && code < n, "%s: code %d out of range at u=%g", name, code, u);
        /* q̂ and the code agree, bit for bit, except sign(0) = 0 (exported as +1). */
        if (!(q.method == PQ_Q_SIGN && u == 0.0f))
            cr_assert_eq(v, q.level0 + (float)code * q.level_step, "%s@%s u=%g: qhat %g vs code %d", name,
                         pq_qbits_name(bits), u, v, code);
        int found = -1;
        for (int i = 0; i < n; i++)
            if (v == want[i]) found = i;
        if (q.method == PQ_Q_SIGN && u == 0.0f) continue;
        cr_assert(found >= 0, "%s@%s: q(%g) = %g not in the level set", name, pq_qbits_name(bits), u, v);
        seen[found] = 1;
    }
    for (int i = 0; i < n; i++) cr_expect(seen[i], "%s@%s: level %g never produced", name, pq_qbits_name(bits), want[i]);
}

Test(quant, level_sets) {
    const float sign[] = {-1, 1};
    expect_levels("sign", PQ_BITS_1, sign, 2);
    const float ter[] = {-2.0f / 3.0f, 0, 2.0f / 3.0f};
    expect_levels("seq", PQ_BITS_TERNARY, ter, 3);
    const float seq2[] = {-.75f, -.25f, .25f, .75f};
    expect_levels("seq", PQ_BITS_2, seq2, 4);
    const float seq3[] = {-.875f, -.625f, -.375f, -.125f, .125f, .375f, .625f, .875f};
    expect_levels("seq", PQ_BITS_3, seq3, 8);
    float seq4[16];
    for (int i = 0; i < 16; i++) seq4[i] = (-7.5f + (float)i) / 8.0f;
    expect_levels("seq", PQ_BITS_4, seq4, 16);
    const float lsq_t[] = {-1, 0, 1};
    expect_levels("lsq", PQ_BITS_TERNARY, lsq_t, 3);
    const float lsq2[] = {-2, -1, 0, 1};
    expect_levels("lsq", PQ_BITS_2, lsq2, 4);
    const float lsq3[] = {-4, -3, -2, -1, 0, 1, 2, 3};
    expect_levels("lsq", PQ_BITS_3, lsq3, 8);
    float lsq4[16];
    for (int i = 0; i < 16; i++) lsq4[i] = (float)(i - 8);
    expect_levels("lsq", PQ_BITS_4, lsq4, 16);
    const float mm1[] = {-1, 1};
    expect_levels("minmax", PQ_BITS_1, mm1, 2);
    expect_levels("minmax", PQ_BITS_TERNARY, lsq_t, 3);
    const float mm2[] = {-1, -1.0f + 2.0f / 3.0f, -1.0f + 2 * (2.0f / 3.0f), 1};
    expect_levels("minmax", PQ_BITS_2, mm2, 4);
    expect_levels("clip", PQ_BITS_2, mm2, 4);
    expect_levels("rtn", PQ_BITS_2, mm2, 4);
    expect_levels("absmean", PQ_BITS_TERNARY, lsq_t, 3);
}

Test(quant, paretoq_resolves_per_bit_width) {
    cr_expect_str_eq(make("paretoq", PQ_BITS_1).name, "sign");
    cr_expect_str_eq(make("paretoq", PQ_BITS_TERNARY).name, "seq");
    cr_expect_str_eq(make("paretoq", PQ_BITS_2).name, "seq");
    cr_expect_str_eq(make("paretoq", PQ_BITS_3).name, "lsq");
    cr_expect_str_eq(make("paretoq", PQ_BITS_4).name, "lsq");
    cr_expect_str_eq(make("paretoq", PQ_BITS_8).name, "lsq");
}

Test(quant, unknown_or_unsupported_is_an_error) {
    pq_quantizer q;
    cr_expect_eq(pq_quantizer_init(&q, "nope", PQ_BITS_2), -1);
    cr_expect(strstr(pq_error(), "nope") != NULL);
    cr_expect_eq(pq_quantizer_init(&q, "sign", PQ_BITS_2), -1);
    cr_expect_eq(pq_quantizer_init(&q, "seq", PQ_BITS_1), -1);
    cr_expect_eq(pq_quantizer_init(&q, "absmean", PQ_BITS_4), -1);
    cr_expect_eq(pq_quantizer_init(&q, "int8", PQ_BITS_4), -1);
    pq_qbits b;
    cr_expect_eq(pq_qbits_parse("1.58", &b), 0);
    cr_expect_eq(b, PQ_BITS_TERNARY);
    cr_expect_eq(pq_qbits_parse("5", &b), -1);
    for (int i = 0; pq_quantizer_names[i]; i++) {
        const char *n = pq_quantizer_names[i];
        pq_qbits at = !strcmp(n, "absmean") ? PQ_BITS_TERNARY : !strncmp(n, "sign", 4) ? PQ_BITS_1 : PQ_BITS_8;
        cr_expect_eq(pq_quantizer_init(&q, n, at), 0, "%s", n);
    }
}

/* The decision thresholds, each probed just below and just above (α = 1). */
Test(quant, decision_thresholds) {
    pq_quantizer t = make("seq", PQ_BITS_TERNARY);
    /* ternary: round(1.5u) switches at u = 1/3 */
    cr_expect_eq(fq1(&t, 0.333f, 1), 0.0f);
    cr_expect_eq(fq1(&t, 0.334f, 1), 2.0f / 3.0f);
    cr_expect_eq(fq1(&t, -0.334f, 1), -2.0f / 3.0f);
    cr_expect_eq(fq1(&t, 5.0f, 1), 2.0f / 3.0f); /* clipped at .99 first */
    pq_quantizer s2 = make("seq", PQ_BITS_2);
    /* 2-bit: round(2u - .5) switches at u = -.5, 0, .5 */
    cr_expect_eq(fq1(&s2, -0.501f, 1), -0.75f);
    cr_expect_eq(fq1(&s2, -0.499f, 1), -0.25f);
    cr_expect_eq(fq1(&s2, -0.001f, 1), -0.25f);
    cr_expect_eq(fq1(&s2, 0.001f, 1), 0.25f);
    cr_expect_eq(fq1(&s2, 0.499f, 1), 0.25f);
    cr_expect_eq(fq1(&s2, 0.501f, 1), 0.75f);
    pq_quantizer l3 = make("lsq", PQ_BITS_3);
    cr_expect_eq(fq1(&l3, 2.49f, 1), 2.0f);
    cr_expect_eq(fq1(&l3, 2.51f, 1), 3.0f);
    cr_expect_eq(fq1(&l3, 9.0f, 1), 3.0f);
    cr_expect_eq(fq1(&l3, -9.0f, 1), -4.0f);
    cr_expect_eq(fq1(&l3, -3.51f, 1), -4.0f);
    /* scale matters: u = W/α */
    cr_expect_eq(fq1(&l3, 2.51f, 2), 1.0f);
    pq_quantizer sg = make("sign", PQ_BITS_1);
    cr_expect_eq(fq1(&sg, 0.0f, 1), 0.0f); /* sign(0) = 0, as torch.sign */
    cr_expect_eq(fq1(&sg, -1e-30f, 1), -1.0f);
    cr_expect_eq(fq1(&sg, 7.0f, 0.5f), 1.0f);
    pq_quantizer am = make("absmean", PQ_BITS_TERNARY);
    float w[4] = {0.1f, -0.2f, 0.3f, -0.4f}, a, out[4];
    pq_quant_forward(&am, w, &a, 1, 4, out);
    cr_expect_float_eq(a, 0.25f, 1e-7); /* α = mean|W| */
    cr_expect_eq(out[0], 0.0f);          /* 0.4 -> 0 */
    cr_expect_eq(out[1], -a);            /* -0.8 -> -1 */
    cr_expect_eq(out[2], a);             /* 1.2 -> 1 */
    cr_expect_eq(out[3], -a);            /* -1.6 -> -1 */
}

/* Ties round half to even, as torch.round. */
Test(quant, ties_round_to_even) {
    pq_quantizer l4 = make("lsq", PQ_BITS_4);
    cr_expect_eq(fq1(&l4, 0.5f, 1), 0.0f);
    cr_expect_eq(fq1(&l4, 1.5f, 1), 2.0f);
    cr_expect_eq(fq1(&l4, 2.5f, 1), 2.0f);
    cr_expect_eq(fq1(&l4, -0.5f, 1), 0.0f);
    cr_expect_eq(fq1(&l4, -2.5f, 1), -2.0f);
    cr_expect_eq(fq1(&l4, 3.0f, 2.0f), 2.0f); /* u = 1.5 */
    pq_quantizer s2 = make("seq", PQ_BITS_2);
    /* u = 0: round(-.5) = -0 -> (0+.5)/2 = .25; u = .5: round(.5) = 0 -> .25; u = -.5: round(-1.5) = -2 -> -.75 */
    cr_expect_eq(fq1(&s2, 0.0f, 1), 0.25f);
    cr_expect_eq(fq1(&s2, 0.5f, 1), 0.25f);
    cr_expect_eq(fq1(&s2, -0.5f, 1), -0.75f);
    pq_quantizer t = make("seq", PQ_BITS_TERNARY);
    /* u·1.5 = 0.5 exactly for u = 1/3 (W = .5, α = 1.5 gives u = 1/3 rounded; 1/3f·1.5f = .5): ties to 0 */
    cr_expect_eq(fq1(&t, 0.5f, 1.5f), 0.0f);
    pq_quantizer mm = make("minmax", PQ_BITS_TERNARY);
    /* code = round((u+1)·(k-1)/2): u = .5 -> round(1.5) = 2 (+1); u = -.5 -> round(.5) = 0 (-1) */
    cr_expect_eq(fq1(&mm, 0.5f, 1), 1.0f);
    cr_expect_eq(fq1(&mm, -0.5f, 1), -1.0f);
}

Test(quant, alpha_is_clamped_below) {
    pq_quantizer l4 = make("lsq", PQ_BITS_4);
    float w = 2e-5f, a = 0.0f, out;
    pq_quant_forward(&l4, &w, &a, 1, 1, &out);
    cr_expect_float_eq(out, 2e-5f, 1e-12); /* u = 2e-5/1e-5 = 2 -> 2·1e-5 */
    a = -3.0f;
    pq_quant_forward(&l4, &w, &a, 1, 1, &out);
    cr_expect_float_eq(out, 2e-5f, 1e-12);
}

Test(quant, scale_init_per_bit_width) {
    const float W[2 * 4] = {0.1f, -0.4f, 0.2f, 0.3f, /* row 2 */ -1.0f, 0.5f, 0.0f, 0.5f};
    float a[2];
    pq_quantizer q = make("paretoq", PQ_BITS_1);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_float_eq(a[0], 0.25f, 1e-7); /* mean|W| */
    cr_expect_float_eq(a[1], 0.5f, 1e-7);
    q = make("sign_max", PQ_BITS_1);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_eq(a[0], 0.4f); /* the variant: max|W| */
    cr_expect_str_eq(q.name, "sign_max");
    q = make("paretoq", PQ_BITS_TERNARY);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_eq(a[0], 0.4f); /* max|W| */
    cr_expect_eq(a[1], 1.0f);
    q = make("paretoq", PQ_BITS_2);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_eq(a[0], 0.4f);
    q = make("paretoq", PQ_BITS_3);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_float_eq(a[0], 0.4f / 3, 1e-7); /* max|W|/p */
    q = make("paretoq", PQ_BITS_4);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_float_eq(a[1], 1.0f / 7, 1e-7);
    q = make("int8", PQ_BITS_8);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_float_eq(a[1], 1.0f / 127, 1e-7);
    /* clip: min(max|W|, 3·rms) — a row with one outlier is cut */
    float R[100];
    for (int j = 0; j < 100; j++) R[j] = (j % 2 ? 0.1f : -0.1f);
    R[7] = 10.0f;
    q = make("clip", PQ_BITS_4);
    pq_quant_init_scales(&q, R, 1, 100, a);
    double rms = sqrt((99 * 0.01 + 100.0) / 100.0);
    cr_expect_float_eq(a[0], (float)(3 * rms), 1e-5);
    pq_quant_init_scales(&q, W, 1, 4, a); /* no outlier: 3·rms > max */
    cr_expect_eq(a[0], 0.4f);
}

/* Hand-computed backward at the clip boundaries (α = 1, one row, grad_scale = 1/sqrt(cols·Qp)). */
Test(quant, backward_at_clip_boundaries) {
    /* LSQ 3 bits: n = -4, p = 3, Qp = 3. u = p is inside, just above is outside. */
    pq_quantizer l3 = make("lsq", PQ_BITS_3);
    float W[4] = {3.0f, 3.001f, -4.0f, -4.001f}, a = 1.0f, g[4] = {1, 1, 1, 1}, dW[4] = {0}, da = 0;
    pq_quant_backward(&l3, W, &a, 1, 4, g, dW, &da);
    cr_expect_eq(dW[0], 1.0f);
    cr_expect_eq(dW[1], 0.0f);
    cr_expect_eq(dW[2], 1.0f);
    cr_expect_eq(dW[3], 0.0f);
    /* e = (round(3)-3) + 3 + (round(-4)+4) + (-4) = -1 */
    cr_expect_float_eq(da, (float)(-1.0 / sqrt(4.0 * 3.0)), 1e-6);

    /* SEQ ternary: |u| <= .99 is inside; outside gives ±1 (Qp of the reference code), not ±2/3. */
    pq_quantizer t = make("seq", PQ_BITS_TERNARY);
    float Wt[4] = {0.99f, 0.991f, -0.99f, -0.991f}, dWt[4] = {0};
    float gt[4] = {1, 2, 4, 8};
    da = 0;
    pq_quant_backward(&t, Wt, &a, 1, 4, gt, dWt, &da);
    cr_expect_eq(dWt[0], 1.0f);
    cr_expect_eq(dWt[1], 0.0f);
    cr_expect_eq(dWt[2], 4.0f);
    cr_expect_eq(dWt[3], 0.0f);
    double want = ((2.0 / 3 - 0.99) * 1 + 1 * 2 + (-2.0 / 3 + 0.99) * 4 + (-1) * 8) / sqrt(4.0);
    cr_expect_float_eq(da, (float)want, 1e-5);

    /* SEQ 2 bits: outside gives ±.75. */
    pq_quantizer s2 = make("seq", PQ_BITS_2);
    float W2[2] = {2.0f, -2.0f}, g2[2] = {1, 1}, dW2[2] = {0};
    da = 0;
    pq_quant_backward(&s2, W2, &a, 1, 2, g2, dW2, &da);
    cr_expect_eq(dW2[0], 0.0f);
    cr_expect_float_eq(da, (float)((0.75 - 0.75) / sqrt(2.0)), 1e-7);
    float g2b[2] = {1, 0};
    da = 0;
    pq_quant_backward(&s2, W2, &a, 1, 2, g2b, dW2, &da);
    cr_expect_float_eq(da, (float)(0.75 / sqrt(2.0)), 1e-7);

    /* sign: dW masked by |u| <= 1; dα = Σ sign(W)·g regardless of the mask, sign(0) = 0. */
    pq_quantizer sg = make("sign", PQ_BITS_1);
    float Ws[4] = {1.0f, 1.5f, -0.5f, 0.0f}, gs[4] = {1, 2, 3, 4}, dWs[4] = {0};
    float as = 1.0f;
    da = 0;
    pq_quant_backward(&sg, Ws, &as, 1, 4, gs, dWs, &da);
    cr_expect_eq(dWs[0], 1.0f);
    cr_expect_eq(dWs[1], 0.0f);
    cr_expect_eq(dWs[2], 3.0f);
    cr_expect_eq(dWs[3], 4.0f);
    cr_expect_float_eq(da, (float)((1 + 2 - 3 + 0) / sqrt(4.0)), 1e-7);

    /* statistics-based members never produce dL/dα; minmax passes all of g (nothing is clipped) */
    pq_quantizer mm = make("minmax", PQ_BITS_2);
    float am = 0, dWm[4] = {0}, outm[4];
    da = 123.0f;
    pq_quant_forward(&mm, W, &am, 1, 4, outm);
    pq_quant_backward(&mm, W, &am, 1, 4, g, dWm, &da);
    cr_expect_eq(da, 123.0f);
    for (int j = 0; j < 4; j++) cr_expect_eq(dWm[j], 1.0f);
    /* clip masks the clipped outlier */
    pq_quantizer cl = make("clip", PQ_BITS_2);
    float R[10] = {.1f, -.1f, .1f, -.1f, .1f, -.1f, .1f, -.1f, .1f, 5.0f}, gr[10], dR[10] = {0}, ac, outc[10];
    for (int j = 0; j < 10; j++) gr[j] = 1;
    pq_quant_forward(&cl, R, &ac, 1, 10, outc);
    pq_quant_backward(&cl, R, &ac, 1, 10, gr, dR, NULL);
    cr_expect_eq(dR[0], 1.0f);
    cr_expect_eq(dR[9], 0.0f);
    cr_expect_float_eq(outc[9], ac, 1e-7);
}

/* The backward pass is the exact gradient of a smooth surrogate: round() frozen
 * at its value at the base point (the straight-through estimator), clip region
 * frozen, and outside the clip the reference's coefficient (n, p or ±Qp) times α.
 * Finite differences of that surrogate in α and W must match dL/dα / grad_scale and dL/dW. */
typedef struct {
    const pq_quantizer *q;
    int rows, cols;
    const float *W0, *A0, *G;
} surrogate;

/* class: 0 inside, -1 below, +1 above, at the base point. */
static int cls(const pq_quantizer *q, float u) {
    float lo = q->method == PQ_Q_SEQ ? -PQ_SEQ_CLIP : q->qn, hi = q->method == PQ_Q_SEQ ? PQ_SEQ_CLIP : q->qp;
    return u < lo ? -1 : u > hi ? 1 : 0;
}

static double surrogate_loss(const surrogate *s, const double *W, const double *A) {
    const pq_quantizer *q = s->q;
    double L = 0;
    for (int i = 0; i < s->rows; i++)
        for (int j = 0; j < s->cols; j++) {
            size_t k = (size_t)i * s->cols + j;
            float u0 = s->W0[k] / s->A0[i];
            double f;
            if (q->method == PQ_Q_SIGN) {
                double in = fabsf(u0) <= 1.0f;
                f = A[i] * (s->W0[k] > 0 ? 1 : s->W0[k] < 0 ? -1 : 0) + in * (W[k] - s->W0[k]);
            } else {
                int c = cls(q, u0);
                double frozen = (double)pq_quant_qhat(q, u0) - (double)u0; /* round(u) - u at the base point */
                if (c == 0) f = W[k] + A[i] * frozen;
                else f = A[i] * (c < 0 ? q->qn : q->qp);
            }
            L += s->G[k] * f;
        }
    return L;
}

static void check_against_fd(const char *name, pq_qbits bits) {
    pq_quantizer q = make(name, bits);
    enum { R = 3, C = 17 };
    float W[R * C], A[R], G[R * C], dW[R * C] = {0}, dA[R] = {0};
    uint64_t st = pq_rng_stream_id("test-quant-fd", (uint64_t)bits);
    for (int k = 0; k < R * C; k++) W[k] = (float)pq_rng_normal(7, st, (uint64_t)k) * 0.05f;
    for (int k = 0; k < R * C; k++) G[k] = (float)pq_rng_normal(8, st, (uint64_t)k);
    pq_quant_init_scales(&q, W, R, C, A);
    /* shrink the scales a bit so some weights sit outside the clip range */
    for (int i = 0; i < R; i++) A[i] *= 0.7f;
    pq_quant_backward(&q, W, A, R, C, G, dW, dA);

    surrogate s = {&q, R, C, W, A, G};
    double Wd[R * C], Ad[R];
    for (int k = 0; k < R * C; k++) Wd[k] = W[k];
    for (int i = 0; i < R; i++) Ad[i] = A[i];
    const double gscale = 1.0 / sqrt((double)R * C * q.grad_qp), h = 1e-4;
    for (int i = 0; i < R; i++) {
        Ad[i] = A[i] + h;
        double lp = surrogate_loss(&s, Wd, Ad);
        Ad[i] = A[i] - h;
        double lm = surrogate_loss(&s, Wd, Ad);
        Ad[i] = A[i];
        double fd = (lp - lm) / (2 * h) * gscale;
        cr_expect(fabs(fd - dA[i]) <= 1e-4 * (1 + fabs(fd)), "%s@%s dalpha[%d]: fd %g vs %g", name, pq_qbits_name(bits), i,
                  fd, dA[i]);
    }
    for (int k = 0; k < R * C; k++) {
        Wd[k] = W[k] + h;
        double lp = surrogate_loss(&s, Wd, Ad);
        Wd[k] = W[k] - h;
        double lm = surrogate_loss(&s, Wd, Ad);
        Wd[k] = W[k];
        double fd = (lp - lm) / (2 * h);
        cr_expect(fabs(fd - dW[k]) <= 1e-4 * (1 + fabs(fd)), "%s@%s dW[%d]: fd %g vs %g", name, pq_qbits_name(bits), k, fd,
                  dW[k]);
    }
}

Test(quant, backward_matches_finite_differences) {
    check_against_fd("sign", PQ_BITS_1);
    check_against_fd("sign_max", PQ_BITS_1);
    check_against_fd("seq", PQ_BITS_TERNARY);
    check_against_fd("seq", PQ_BITS_2);
    check_against_fd("seq", PQ_BITS_3);
    check_against_fd("seq", PQ_BITS_4);
    check_against_fd("lsq", PQ_BITS_TERNARY);
    check_against_fd("lsq", PQ_BITS_2);
    check_against_fd("lsq", PQ_BITS_3);
    check_against_fd("lsq", PQ_BITS_4);
    check_against_fd("lsq_wide", PQ_BITS_2);
    check_against_fd("lsq_wide", PQ_BITS_3);
}

/* lsq_wide: LSQ's integer grid and gradients, α initialized at max|W|/|n| so that the
 * extra negative level n = -2^(b-1) is used; with lsq's max|W|/p it never is at 2 bits. */
Test(quant, lsq_wide_uses_its_negative_level) {
    const float lsq2[] = {-2, -1, 0, 1};
    expect_levels("lsq_wide", PQ_BITS_2, lsq2, 4);
    const float W[2 * 4] = {0.1f, -0.4f, 0.2f, 0.3f, /* row 2 */ -1.0f, 0.5f, 0.0f, 0.5f};
    float a[2];
    pq_quantizer q = make("lsq_wide", PQ_BITS_2);
    cr_expect_str_eq(q.name, "lsq_wide");
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_eq(a[0], 0.2f); /* max|W|/2 */
    cr_expect_eq(a[1], 0.5f);
    q = make("lsq_wide", PQ_BITS_3);
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_eq(a[0], 0.1f); /* max|W|/4 */
    q = make("lsq_wide", PQ_BITS_TERNARY); /* n = -1 = -p: the same as lsq */
    pq_quant_init_scales(&q, W, 2, 4, a);
    cr_expect_eq(a[0], 0.4f);

    /* Codes of Gaussian rows at the initial scales: how often each level occurs. */
    enum { R = 8, C = 256 };
    float G[R * C], A[R];
    uint8_t codes[R * C];
    for (int k = 0; k < R * C; k++) G[k] = (float)pq_rng_normal(3, 4, (uint64_t)k) * 0.02f;
    const char *names[] = {"lsq", "lsq_wide"};
    int count[2][4] = {{0}};
    for (int m = 0; m < 2; m++) {
        q = make(names[m], PQ_BITS_2);
        pq_quant_init_scales(&q, G, R, C, A);
        pq_quant_codes(&q, G, A, R, C, codes);
        for (int k = 0; k < R * C; k++) count[m][codes[k]]++;
    }
    cr_expect_eq(count[0][0], 0, "lsq@2 used level -2 %d times at init", count[0][0]);
    cr_expect(count[1][0] > 0, "lsq_wide@2 never used level -2");
    cr_expect(count[1][0] < count[1][1], "level -2 is the tail, -1 the bulk: %d vs %d", count[1][0], count[1][1]);
    /* forward at the wide scales: the most negative weight of a row lands on -2·α */
    q = make("lsq_wide", PQ_BITS_2);
    float row[4] = {-0.8f, 0.1f, 0.3f, 0.79f}, al, out[4];
    pq_quant_init_scales(&q, row, 1, 4, &al);
    pq_quant_forward(&q, row, &al, 1, 4, out);
    cr_expect_eq(al, 0.4f);
    cr_expect_eq(out[0], -0.8f); /* u = -2 */
    cr_expect_eq(out[3], 0.4f);  /* u = 1.975 clamps to p = 1 */
    /* ... and its gradient there: inside [n, p] the STE passes g, above p only α learns (p·g) */
    float g[4] = {1, 1, 1, 1}, dw[4] = {0}, da = 0;
    pq_quant_backward(&q, row, &al, 1, 4, g, dw, &da);
    cr_expect_eq(dw[0], 1.0f);
    cr_expect_eq(dw[3], 0.0f);
    /* da = [(round(-2)+2) + (round(.25)-.25) + (round(.75)-.75) + p] * grad_scale, grad_scale = 1/sqrt(4·1) */
    cr_expect_float_eq(da, (0.0f + -0.25f + 0.25f + 1.0f) * 0.5f, 1e-6);
}

/* The backward accumulates (+=) so micro-batches can add up. */
Test(quant, backward_accumulates) {
    pq_quantizer q = make("lsq", PQ_BITS_4);
    float W[3] = {0.1f, -0.2f, 0.3f}, a = 0.05f, g[3] = {1, 2, 3}, dW1[3] = {0}, dW2[3] = {0}, da1 = 0, da2 = 0;
    pq_quant_backward(&q, W, &a, 1, 3, g, dW1, &da1);
    pq_quant_backward(&q, W, &a, 1, 3, g, dW2, &da2);
    pq_quant_backward(&q, W, &a, 1, 3, g, dW2, &da2);
    for (int j = 0; j < 3; j++) cr_expect_eq(dW2[j], 2 * dW1[j]);
    cr_expect_eq(da2, 2 * da1);
}

/* Codes dequantize to exactly what forward produced, for every member. */
Test(quant, codes_reproduce_forward) {
    const char *names[] = {"sign", "seq", "seq", "seq", "seq", "lsq", "lsq", "lsq", "minmax", "clip", "rtn", "absmean", "int8",
                           "lsq", "seq", "minmax", "lsq_wide", "lsq_wide"};
    const pq_qbits bits[] = {PQ_BITS_1, PQ_BITS_TERNARY, PQ_BITS_2, PQ_BITS_3, PQ_BITS_4, PQ_BITS_TERNARY,
                             PQ_BITS_3, PQ_BITS_4, PQ_BITS_2, PQ_BITS_3, PQ_BITS_4, PQ_BITS_TERNARY,
                             PQ_BITS_8, PQ_BITS_8, PQ_BITS_8, PQ_BITS_1, PQ_BITS_2, PQ_BITS_4};
    enum { R = 4, C = 33 };
    float W[R * C], A[R], out[R * C];
    uint8_t codes[R * C];
    for (int k = 0; k < R * C; k++) W[k] = (float)pq_rng_normal(1, 2, (uint64_t)k) * 0.1f;
    for (size_t m = 0; m < PQ_COUNT(names); m++) {
        pq_quantizer q = make(names[m], bits[m]);
        pq_quant_init_scales(&q, W, R, C, A);
        for (int i = 0; i < R; i++) A[i] *= 0.8f;
        pq_quant_forward(&q, W, A, R, C, out);
        pq_quant_codes(&q, W, A, R, C, codes);
        for (int k = 0; k < R * C; k++) {
            cr_assert(codes[k] < q.levels);
            cr_assert_eq(pq_quant_dequant(&q, A[k / C], codes[k]), out[k], "%s@%s k=%d", names[m], pq_qbits_name(bits[m]), k);
        }
    }
}

/* x is an fp16 number (normal, subnormal, at most 65504). */
static int is_f16(float x) {
    if (!(fabsf(x) <= 65504.0f)) return 0;
    int e;
    frexpf(x, &e);
    int qe = e - 11 < -24 ? -24 : e - 11;
    float k = ldexpf(x, -qe);
    return k == rintf(k);
}

/* --scale-fp16: the α the forward uses puts the level unit d = α/inv on an fp16 number, is
 * within half an fp16 step of the clamped α, never below the clamp, idempotent; and every
 * weight the forward makes is an integer multiple of d, bit for bit, which is what a GGUF
 * block stores (interop/gguf.h). Before --scale-fp16 existed, α was only clamped. */
Test(quant, scale_fp16_rounds_the_level_unit) {
    static const struct {
        const char *name;
        pq_qbits bits;
        float inv; /* α = inv · d */
    } cases[] = {{"seq", PQ_BITS_TERNARY, 1.5f}, {"seq", PQ_BITS_2, 4.0f},         {"seq", PQ_BITS_3, 8.0f},
                 {"seq", PQ_BITS_4, 16.0f},      {"lsq", PQ_BITS_TERNARY, 1.0f},   {"lsq", PQ_BITS_2, 1.0f},
                 {"lsq", PQ_BITS_4, 1.0f},       {"lsq_wide", PQ_BITS_2, 1.0f},    {"sign", PQ_BITS_1, 1.0f},
                 {"absmean", PQ_BITS_TERNARY, 1.0f}, {"int8", PQ_BITS_8, 1.0f}, {"minmax", PQ_BITS_TERNARY, 1.0f}};
    pq_rng r = pq_rng_make(5, 0);
    enum { COLS = 64 };
    float W[COLS], out[COLS];
    for (size_t c = 0; c < PQ_COUNT(cases); c++) {
        pq_quantizer q = make(cases[c].name, cases[c].bits), plain = q;
        cr_assert_eq(pq_quantizer_set_scale_fp16(&q), 0, "%s", pq_error());
        cr_assert_eq(q.scale_unit_inv, cases[c].inv, "%s@%s", q.name, pq_qbits_name(q.bits));
        for (int t = 0; t < 2000; t++) {
            float alpha = t < 5 ? (float)t * 4e-6f : powf(10.0f, -6.0f + 7.0f * (float)pq_rng_next_uniform(&r));
            float a = pq_quant_alpha(&q, alpha), a0 = pq_quant_alpha(&plain, alpha), d = a / cases[c].inv;
            cr_assert(a >= PQ_ALPHA_MIN, "%s: alpha %g -> %g below the clamp", q.name, alpha, a);
            cr_assert(is_f16(d), "%s@%s: alpha %.9g -> %.9g, unit %.9g is not fp16", q.name, pq_qbits_name(q.bits), alpha, a, d);
            cr_assert_eq(d * cases[c].inv, a, "%s: inv·d is not exact", q.name);
            cr_assert_eq(pq_quant_alpha(&q, a), a, "%s: not idempotent at %g", q.name, a);
            if (d >= 0x1p-14f) cr_assert(fabsf(a - a0) <= 0x1p-11f * a0, "%s: %g -> %g is more than half an fp16 step", q.name, a0, a);
            if (t % 50) continue;
            for (int j = 0; j < COLS; j++) W[j] = (float)(2.0 * pq_rng_next_uniform(&r) - 1.0) * 1.2f * a;
            float keep = alpha;
            pq_quant_forward(&q, W, &keep, 1, COLS, out);
            if (q.statistic) d = pq_quant_alpha(&q, keep) / cases[c].inv; /* absmean/int8 recompute α from W */
            /* SEQ ternary: the float levels ±(1/1.5f)·α round to ±d exactly */
            for (int j = 0; j < COLS; j++)
                cr_assert_eq(out[j], rintf(out[j] / d) * d, "%s@%s: weight %.9g is not k·%.9g", q.name, pq_qbits_name(q.bits),
                             out[j], d);
        }
    }
    pq_quantizer g = make("minmax", PQ_BITS_2);
    cr_expect_eq(pq_quantizer_set_scale_fp16(&g), -1);
    cr_expect(strstr(pq_error(), "cannot take fp16 scales"), "%s", pq_error());
}
