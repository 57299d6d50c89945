/* quantizer.c — the ParetoQ quantizers and the baselines (see quantizer.h).
 *
 * The ParetoQ members follow the released code (LsqBinaryTernaryExtension for
 * sign and LSQ, StretchedElasticQuant for SEQ) operation by operation, so that
 * a weight on a decision threshold lands on the same side as in PyTorch. */
#include "quant/quantizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

const char *const pq_quantizer_names[] = {"paretoq", "sign",   "sign_max", "seq",     "lsq",  "lsq_wide",
                                          "minmax",  "clip",   "rtn",      "absmean", "int8", NULL};

/* The clipped statistic of "clip": the row's range is cut at this many RMS. */
#define PQ_CLIP_RMS 3.0

int pq_qbits_parse(const char *text, pq_qbits *out) {
    static const struct {
        const char *text;
        pq_qbits bits;
    } known[] = {{"1", PQ_BITS_1},       {"1.58", PQ_BITS_TERNARY}, {"1.6", PQ_BITS_TERNARY}, {"ternary", PQ_BITS_TERNARY},
                 {"2", PQ_BITS_2},       {"3", PQ_BITS_3},          {"4", PQ_BITS_4},          {"8", PQ_BITS_8}};
    for (size_t i = 0; i < PQ_COUNT(known); i++)
        if (!strcmp(text, known[i].text)) {
            *out = known[i].bits;
            return 0;
        }
    return pq_fail("bits must be one of 1, 1.58, 2, 3, 4, 8 (got '%s')", text);
}

const char *pq_qbits_name(pq_qbits b) {
    switch (b) {
    case PQ_BITS_1: return "1";
    case PQ_BITS_TERNARY: return "1.58";
    case PQ_BITS_2: return "2";
    case PQ_BITS_3: return "3";
    case PQ_BITS_4: return "4";
    case PQ_BITS_8: return "8";
    }
    return "?";
}

double pq_qbits_value(pq_qbits b) { return b == PQ_BITS_TERNARY ? 1.58 : (double)b; }

int pq_qbits_storage(pq_qbits b) { return b == PQ_BITS_TERNARY ? 2 : (int)b; }

/* The integer width b of a bit setting (ternary counts as 2 where a power of two is needed). */
static int int_bits(pq_qbits b) { return b == PQ_BITS_TERNARY ? 2 : (int)b; }

static void set_sign(pq_quantizer *q) {
    q->method = PQ_Q_SIGN;
    q->levels = 2, q->level0 = -1.0f, q->level_step = 2.0f;
    q->qn = -1.0f, q->qp = 1.0f;
    q->learned = 1;
}

/* StretchedElasticQuant: n_levels = 1.5 and shift 0 for ternary, else 2^(b-1) and 0.5. */
static void set_seq(pq_quantizer *q) {
    q->method = PQ_Q_SEQ;
    if (q->bits == PQ_BITS_TERNARY) {
        q->seq_nlev = 1.5f, q->seq_shift = 0.0f, q->levels = 3;
    } else {
        q->seq_nlev = (float)(1 << (q->bits - 1)), q->seq_shift = 0.5f, q->levels = 1 << q->bits;
    }
    q->level_step = 1.0f / q->seq_nlev;
    q->level0 = ((float)(-(q->levels / 2)) + q->seq_shift) / q->seq_nlev;
    /* Outside the clip, dL/dα takes ±Qp of the reference code: (n_levels - shift) / n_levels
     * (1 for ternary, 0.75 at 2 bits, 0.875 at 3 bits, ...). */
    q->qp = (q->seq_nlev - q->seq_shift) / q->seq_nlev, q->qn = -q->qp;
    q->learned = 1;
}

static void set_lsq(pq_quantizer *q) {
    q->method = PQ_Q_LSQ;
    if (q->bits == PQ_BITS_TERNARY) {
        q->qn = -1.0f, q->qp = 1.0f;
    } else {
        q->qn = -(float)(1 << (q->bits - 1)), q->qp = (float)((1 << (q->bits - 1)) - 1);
    }
    q->levels = (int)(q->qp - q->qn) + 1, q->level0 = q->qn, q->level_step = 1.0f;
    q->learned = 1;
}

/* minmax / clip / rtn: k levels spread evenly over [-1, 1], so the outer levels sit
 * exactly on ±α (the row's range). */
static void set_grid(pq_quantizer *q, pq_qmethod m) {
    q->method = m;
    q->levels = q->bits == PQ_BITS_TERNARY ? 3 : 1 << q->bits;
    q->level0 = -1.0f, q->level_step = 2.0f / (float)(q->levels - 1);
    q->qn = -1.0f, q->qp = 1.0f;
    q->statistic = m != PQ_Q_RTN;
}

int pq_quantizer_init(pq_quantizer *q, const char *name, pq_qbits bits) {
    memset(q, 0, sizeof *q);
    q->bits = bits;
    /* Qp of grad_scale (DESIGN.md §2): 1 at 1, 1.58 and 2 bits, 2^(b-1)-1 above. */
    q->grad_qp = int_bits(bits) <= 2 ? 1.0f : (float)((1 << (int_bits(bits) - 1)) - 1);
    const char *member = name;
    if (!strcmp(name, "paretoq")) member = bits == PQ_BITS_1 ? "sign" : bits == PQ_BITS_TERNARY || bits == PQ_BITS_2 ? "seq" : "lsq";

    if (!strcmp(member, "sign") || !strcmp(member, "sign_max")) {
        if (bits != PQ_BITS_1) return pq_fail("quantizer '%s' is 1-bit only (got %s bits)", member, pq_qbits_name(bits));
        set_sign(q);
        q->init_max = member[4] == '_';
    } else if (!strcmp(member, "seq") || !strcmp(member, "lsq") || !strcmp(member, "lsq_wide")) {
        if (bits == PQ_BITS_1)
            return pq_fail("quantizer '%s' needs at least 1.58 bits (use 'sign' at 1 bit)", member);
        if (member[0] == 's') set_seq(q); else set_lsq(q);
        q->init_wide = member[3] == '_';
    } else if (!strcmp(member, "minmax") || !strcmp(member, "clip") || !strcmp(member, "rtn")) {
        set_grid(q, member[0] == 'm' ? PQ_Q_MINMAX : member[0] == 'c' ? PQ_Q_CLIP : PQ_Q_RTN);
    } else if (!strcmp(member, "absmean")) {
        if (bits != PQ_BITS_TERNARY) return pq_fail("quantizer 'absmean' is ternary only (got %s bits)", pq_qbits_name(bits));
        q->method = PQ_Q_ABSMEAN;
        q->levels = 3, q->level0 = -1.0f, q->level_step = 1.0f, q->qn = -1.0f, q->qp = 1.0f;
        q->statistic = 1;
    } else if (!strcmp(member, "int8")) {
        if (bits != PQ_BITS_8) return pq_fail("quantizer 'int8' is 8-bit only (got %s bits)", pq_qbits_name(bits));
        q->method = PQ_Q_INT8;
        q->levels = 255, q->level0 = -127.0f, q->level_step = 1.0f, q->qn = -127.0f, q->qp = 127.0f;
        q->statistic = 1;
    } else {
        return pq_fail("unknown quantizer '%s' (known: paretoq, sign, sign_max, seq, lsq, lsq_wide, minmax, clip, rtn, absmean, "
                       "int8)",
                       name);
    }
    snprintf(q->name, sizeof q->name, "%s", member);
    return 0;
}

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }
static inline float clamp_alpha(float a) { return a > PQ_ALPHA_MIN ? a : PQ_ALPHA_MIN; }
static inline float signf(float x) { return (float)((x > 0.0f) - (x < 0.0f)); }

int pq_quantizer_set_scale_fp16(pq_quantizer *q) {
    int grid = q->method == PQ_Q_MINMAX || q->method == PQ_Q_CLIP || q->method == PQ_Q_RTN;
    if (grid && q->levels > 3)
        return pq_fail("quantizer '%s' at %s bits cannot take fp16 scales: its levels -1 + 2i/%d are no integer multiples "
                       "of one step",
                       q->name, pq_qbits_name(q->bits), q->levels - 1);
    /* SEQ's levels (2i + 1 - k)/k are odd multiples of 1/k, k = 2^b; ternary's ±2/3 is one
     * unit 2/3 (α = 1.5·d exactly, and the forward's (±1/1.5f)·α then rounds back to ±d: the
     * float 1/1.5 is 2/3·(1 + 2^-25), less than half an ulp). Every other member: integers. */
    q->scale_unit_inv = q->method != PQ_Q_SEQ ? 1.0f : q->bits == PQ_BITS_TERNARY ? 1.5f : (float)(1 << q->bits);
    q->scale_fp16 = 1;
    return 0;
}

/* x > 0 rounded to the nearest fp16 number (ties to even), at most 65504. */
static float round_f16(float x) {
    if (x >= 65504.0f) return 65504.0f;
    int e;
    frexpf(x, &e);                /* x in [2^(e-1), 2^e): 11 significant bits leave a quantum of 2^(e-11) */
    int qe = e - 11 < -24 ? -24 : e - 11; /* fp16 subnormals: multiples of 2^-24 */
    return ldexpf(rintf(ldexpf(x, -qe)), qe);
}

/* The fp16 number after d >= 0. */
static float next_f16(float d) {
    int e;
    frexpf(d, &e);
    int qe = d == 0.0f || e - 11 < -24 ? -24 : e - 11;
    return d + ldexpf(1.0f, qe);
}

float pq_quant_alpha(const pq_quantizer *q, float alpha) {
    float a = clamp_alpha(alpha);
    if (!q->scale_fp16) return a;
    const float inv = q->scale_unit_inv;
    float d = round_f16(a / inv);
    while (d * inv < PQ_ALPHA_MIN) d = next_f16(d); /* rounding down must not undo the clamp */
    return d * inv;                                 /* exact: inv is 1.5 or a power of two */
}

/* SEQ's integer before the shift back: round(clamp(u, -.99, .99)·n_levels - shift). */
static inline float seq_round(const pq_quantizer *q, float u) {
    return rintf(clampf(u, -PQ_SEQ_CLIP, PQ_SEQ_CLIP) * q->seq_nlev - q->seq_shift);
}

/* Code of the even grid of minmax/clip/rtn: nearest of k levels over [-1, 1]. */
static inline float grid_code(const pq_quantizer *q, float u) {
    return rintf((clampf(u, -1.0f, 1.0f) + 1.0f) * (0.5f * (float)(q->levels - 1)));
}

float pq_quant_qhat(const pq_quantizer *q, float u) {
    switch (q->method) {
    case PQ_Q_SIGN: return signf(u);
    case PQ_Q_SEQ: return (seq_round(q, u) + q->seq_shift) / q->seq_nlev;
    case PQ_Q_LSQ:
    case PQ_Q_ABSMEAN:
    case PQ_Q_INT8: return clampf(rintf(u), q->qn, q->qp);
    case PQ_Q_MINMAX:
    case PQ_Q_CLIP:
    case PQ_Q_RTN: return q->level0 + grid_code(q, u) * q->level_step;
    }
    return 0.0f;
}

int pq_quant_code(const pq_quantizer *q, float u) {
    switch (q->method) {
    case PQ_Q_SIGN: return u < 0.0f ? 0 : 1;
    case PQ_Q_SEQ: return (int)seq_round(q, u) + q->levels / 2;
    case PQ_Q_LSQ:
    case PQ_Q_ABSMEAN:
    case PQ_Q_INT8: return (int)(clampf(rintf(u), q->qn, q->qp) - q->qn);
    case PQ_Q_MINMAX:
    case PQ_Q_CLIP:
    case PQ_Q_RTN: return (int)grid_code(q, u);
    }
    return 0;
}

/* The row statistic or initial scale; accumulated in double so long rows do not
 * lose the small weights (a SIMD reduction: its order is fixed by the build). */
static float row_scale(const pq_quantizer *q, const float *w, int cols) {
    double sum_abs = 0.0, sum_sq = 0.0, max_abs = 0.0;
#pragma omp simd reduction(+ : sum_abs, sum_sq) reduction(max : max_abs)
    for (int j = 0; j < cols; j++) {
        double a = fabs((double)w[j]);
        sum_abs += a, sum_sq += a * a;
        max_abs = a > max_abs ? a : max_abs;
    }
    switch (q->method) {
    case PQ_Q_SIGN: return (float)(q->init_max ? max_abs : sum_abs / cols);
    case PQ_Q_ABSMEAN: return (float)(sum_abs / cols);
    case PQ_Q_SEQ:
    case PQ_Q_MINMAX:
    case PQ_Q_RTN: return (float)max_abs;
    /* lsq_wide divides by |n| = 2^(b-1) instead of p, so u = W/α spans [-1, 1]·|n| and the extra
     * negative level n is reachable from the start (with max|W|/p, u >= -1 > n + 0.5 at 2 bits). */
    case PQ_Q_LSQ: return (float)(max_abs / (q->init_wide ? -q->qn : q->qp));
    case PQ_Q_INT8: return (float)(max_abs / q->qp);
    case PQ_Q_CLIP: {
        double r = PQ_CLIP_RMS * sqrt(sum_sq / cols);
        return (float)(r < max_abs ? r : max_abs);
    }
    }
    return 0.0f;
}

void pq_quant_init_scales(const pq_quantizer *q, const float *W, int rows, int cols, float *alpha) {
    for (int i = 0; i < rows; i++) alpha[i] = row_scale(q, W + (size_t)i * cols, cols);
}

void pq_quant_forward(const pq_quantizer *q, const float *W, float *alpha, int rows, int cols, float *W_eff) {
    if (q->statistic) pq_quant_init_scales(q, W, rows, cols, alpha);
    const float qn = q->qn, qp = q->qp, nlev = q->seq_nlev, shift = q->seq_shift;
    const float level0 = q->level0, step = q->level_step, half_k = 0.5f * (float)(q->levels - 1);
    for (int i = 0; i < rows; i++) {
        const float *restrict w = W + (size_t)i * cols;
        float *restrict out = W_eff + (size_t)i * cols;
        const float a = pq_quant_alpha(q, alpha[i]);
        /* One loop per member so each vectorizes (rintf becomes vroundps). */
        switch (q->method) {
        case PQ_Q_SIGN:
#pragma omp simd
            for (int j = 0; j < cols; j++) out[j] = signf(w[j]) * a;
            break;
        case PQ_Q_SEQ:
#pragma omp simd
            for (int j = 0; j < cols; j++)
                out[j] = (rintf(clampf(w[j] / a, -PQ_SEQ_CLIP, PQ_SEQ_CLIP) * nlev - shift) + shift) / nlev * a;
            break;
        case PQ_Q_LSQ:
        case PQ_Q_ABSMEAN:
        case PQ_Q_INT8:
#pragma omp simd
            for (int j = 0; j < cols; j++) out[j] = clampf(rintf(w[j] / a), qn, qp) * a;
            break;
        case PQ_Q_MINMAX:
        case PQ_Q_CLIP:
        case PQ_Q_RTN:
#pragma omp simd
            for (int j = 0; j < cols; j++) out[j] = (level0 + rintf((clampf(w[j] / a, -1.0f, 1.0f) + 1.0f) * half_k) * step) * a;
            break;
        }
    }
}

/* The loops below are written branch-free ("omp simd" asks for vectorization: the
 * data-dependent clip tests would otherwise mispredict on every other weight), and
 * each member keeps its exact reference arithmetic per element. The row sum of
 * dL/dα is a double-precision SIMD reduction: its order is fixed by the build, so
 * results are deterministic. */
void pq_quant_backward(const pq_quantizer *q, const float *W, const float *alpha, int rows, int cols, const float *g,
                       float *dW, float *dalpha) {
    const float gscale = (float)(1.0 / sqrt((double)rows * (double)cols * (double)q->grad_qp));
    const float qn = q->qn, qp = q->qp, nlev = q->seq_nlev, shift = q->seq_shift;
    for (int i = 0; i < rows; i++) {
        const float *restrict w = W + (size_t)i * cols, *restrict gr = g + (size_t)i * cols;
        float *restrict dw = dW + (size_t)i * cols;
        const float a = pq_quant_alpha(q, alpha[i]);
        double da = 0.0;
        switch (q->method) {
        case PQ_Q_SIGN:
            /* dL/dW = g·1[-1 <= u <= 1]; dL/dα = Σ sign(W)·g. */
#pragma omp simd reduction(+ : da)
            for (int j = 0; j < cols; j++) {
                float u = w[j] / a;
                dw[j] += (u >= -1.0f && u <= 1.0f) ? gr[j] : 0.0f;
                da += (double)(signf(w[j]) * gr[j]);
            }
            break;
        case PQ_Q_SEQ:
            /* Inside the clip: STE and (q̂ - u)·g; outside: zero and ±Qp·g. */
#pragma omp simd reduction(+ : da)
            for (int j = 0; j < cols; j++) {
                float u = w[j] / a;
                float inside = (rintf(clampf(u, -PQ_SEQ_CLIP, PQ_SEQ_CLIP) * nlev - shift) + shift) / nlev - u;
                float e = u < -PQ_SEQ_CLIP ? qn : u > PQ_SEQ_CLIP ? qp : inside;
                dw[j] += (u >= -PQ_SEQ_CLIP && u <= PQ_SEQ_CLIP) ? gr[j] : 0.0f;
                da += (double)(e * gr[j]);
            }
            break;
        case PQ_Q_LSQ:
            /* Inside [n, p]: STE and (round(u) - u)·g; outside: zero and n·g or p·g. */
#pragma omp simd reduction(+ : da)
            for (int j = 0; j < cols; j++) {
                float u = w[j] / a;
                float e = u < qn ? qn : u > qp ? qp : rintf(u) - u;
                dw[j] += (u >= qn && u <= qp) ? gr[j] : 0.0f;
                da += (double)(e * gr[j]);
            }
            break;
        case PQ_Q_ABSMEAN:
#pragma omp simd
            for (int j = 0; j < cols; j++) dw[j] += gr[j];
            break;
        case PQ_Q_INT8:
        case PQ_Q_MINMAX:
        case PQ_Q_CLIP:
        case PQ_Q_RTN:
#pragma omp simd
            for (int j = 0; j < cols; j++) {
                float u = w[j] / a;
                dw[j] += (u >= qn && u <= qp) ? gr[j] : 0.0f;
            }
            break;
        }
        if (q->learned && dalpha) dalpha[i] += (float)da * gscale;
    }
}

void pq_quant_codes(const pq_quantizer *q, const float *W, const float *alpha, int rows, int cols, uint8_t *codes) {
    for (int i = 0; i < rows; i++) {
        const float a = pq_quant_alpha(q, alpha[i]);
        for (int j = 0; j < cols; j++) codes[(size_t)i * cols + j] = (uint8_t)pq_quant_code(q, W[(size_t)i * cols + j] / a);
    }
}
