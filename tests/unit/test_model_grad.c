/* Finite-difference gradient checks of every layer and of the whole model.
 *
 * Each layer check uses the scalar L = sum(out * R) with a fixed random R, so
 * dL/dout = R; the analytic input/parameter gradients from the backward pass
 * are compared with central differences computed in double from float
 * forwards. Shapes are tiny, values O(1), eps 1e-3: the float rounding in the
 * differences is ~1e-4 of the gradient scale, far below the tolerance, while a
 * wrong formula shows up as an O(1) relative error. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/layers.h"
#include "model/model.h"

static void fill(float *x, int n, uint64_t stream, float scale, float offset) {
    for (int i = 0; i < n; i++) x[i] = offset + scale * (float)pq_rng_normal(99, stream, (uint64_t)i);
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compares analytic gradient g[n] with a numeric one from f(). */
typedef double (*scalar_fn)(void *ctx);
static double max_rel_error(float *x, const float *g, int n, scalar_fn f, void *ctx, float eps) {
    double max_err = 0, max_g = 1e-6;
    for (int i = 0; i < n; i++) max_g = fmax(max_g, fabs(g[i]));
    for (int i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + eps;
        double up = f(ctx);
        x[i] = keep - eps;
        double down = f(ctx);
        x[i] = keep;
        double num = (up - down) / (2.0 * (double)eps);
        max_err = fmax(max_err, fabs(num - g[i]));
    }
    return max_err / max_g;
}

#define TOL 2e-2


/* ---- linear ---- */
typedef struct {
    float *x, *W, *out, *R;
    int N, I, O;
} lin_ctx;
static double lin_f(void *p) {
    lin_ctx *c = p;
    pq_linear_forward(c->out, c->x, c->W, c->N, c->I, c->O, 0);
    return dot(c->out, c->R, c->N * c->O);
}
Test(model_grad, linear) {
    lin_ctx c = {.N = 3, .I = 5, .O = 4};
    float x[15], W[20], out[12], R[12], dx[15], dW[20] = {0};
    c.x = x, c.W = W, c.out = out, c.R = R;
    fill(x, 15, 1, 1, 0), fill(W, 20, 2, 1, 0), fill(R, 12, 3, 1, 0);
    pq_linear_backward(dx, dW, R, x, W, c.N, c.I, c.O, 0);
    cr_expect_lt(max_rel_error(x, dx, 15, lin_f, &c, 1e-3f), TOL);
    cr_expect_lt(max_rel_error(W, dW, 20, lin_f, &c, 1e-3f), TOL);
}

/* ---- rmsnorm ---- */
typedef struct {
    float *x, *w, *out, *rstd, *R;
    int N, D;
} rms_ctx;
static double rms_f(void *p) {
    rms_ctx *c = p;
    pq_rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->D, 1e-5f);
    return dot(c->out, c->R, c->N * c->D);
}
Test(model_grad, rmsnorm) {
    enum { N = 3, D = 6 };
    float x[N * D], w[D], out[N * D], rstd[N], R[N * D], dx[N * D] = {0}, dw[D] = {0};
    rms_ctx c = {x, w, out, rstd, R, N, D};
    fill(x, N * D, 4, 1, 0), fill(w, D, 5, 0.3f, 1), fill(R, N * D, 6, 1, 0);
    rms_f(&c);
    pq_rmsnorm_backward(dx, dw, R, x, w, rstd, N, D);
    cr_expect_lt(max_rel_error(x, dx, N * D, rms_f, &c, 1e-3f), TOL);
    cr_expect_lt(max_rel_error(w, dw, D, rms_f, &c, 1e-3f), TOL);
}

/* ---- rope: the backward is the inverse rotation ---- */
typedef struct {
    float *x, *tmp, *R, *cs, *sn;
    int B, T, H, hd, ld;
} rope_ctx;
static double rope_f(void *p) {
    rope_ctx *c = p;
    memcpy(c->tmp, c->x, sizeof(float) * c->B * c->T * c->ld);
    pq_rope_apply(c->tmp, c->ld, c->B, c->T, c->H, c->hd, c->cs, c->sn, 0);
    return dot(c->tmp, c->R, c->B * c->T * c->ld);
}
Test(model_grad, rope) {
    enum { B = 2, T = 5, H = 2, hd = 4, ld = 10 }; /* ld > H*hd: columns beyond are untouched */
    float x[B * T * ld], tmp[B * T * ld], R[B * T * ld], dx[B * T * ld], cs[T * hd / 2], sn[T * hd / 2];
    pq_rope_tables(cs, sn, T, hd, 10000.0);
    rope_ctx c = {x, tmp, R, cs, sn, B, T, H, hd, ld};
    fill(x, B * T * ld, 7, 1, 0), fill(R, B * T * ld, 8, 1, 0);
    memcpy(dx, R, sizeof dx);
    pq_rope_apply(dx, ld, B, T, H, hd, cs, sn, 1);
    cr_expect_lt(max_rel_error(x, dx, B * T * ld, rope_f, &c, 1e-3f), TOL);
    /* position 0 is the identity; a rotation preserves the norm of each pair */
    memcpy(tmp, x, sizeof tmp);
    pq_rope_apply(tmp, ld, B, T, H, hd, cs, sn, 0);
    for (int i = 0; i < H * hd; i++) cr_expect_float_eq(tmp[i], x[i], 1e-7);
    for (int i = 0; i < hd / 2; i++) {
        float *a = x + 3 * ld, *b = tmp + 3 * ld;
        cr_expect_float_eq(a[i] * a[i] + a[i + 2] * a[i + 2], b[i] * b[i] + b[i + 2] * b[i + 2], 1e-5);
    }
}

/* ---- swiglu ---- */
typedef struct {
    float *gu, *h, *R;
    int N, F;
} swi_ctx;
static double swi_f(void *p) {
    swi_ctx *c = p;
    pq_swiglu_forward(c->h, c->gu, c->N, c->F);
    return dot(c->h, c->R, c->N * c->F);
}
Test(model_grad, swiglu) {
    enum { N = 3, F = 7 };
    float gu[N * 2 * F], h[N * F], R[N * F], dgu[N * 2 * F];
    swi_ctx c = {gu, h, R, N, F};
    fill(gu, N * 2 * F, 9, 2, 0), fill(R, N * F, 10, 1, 0);
    pq_swiglu_backward(dgu, R, gu, N, F);
    cr_expect_lt(max_rel_error(gu, dgu, N * 2 * F, swi_f, &c, 1e-3f), TOL);
}

/* ---- attention (grouped-query, causal) ---- */
typedef struct {
    float *qkv, *att, *out, *R;
    int B, T, H, KV, hd;
} att_ctx;
static double att_f(void *p) {
    att_ctx *c = p;
    pq_attention_forward(c->out, c->att, c->qkv, c->B, c->T, c->H, c->KV, c->hd);
    return dot(c->out, c->R, c->B * c->T * c->H * c->hd);
}
Test(model_grad, attention_gqa_causal) {
    enum { B = 2, T = 5, H = 4, KV = 2, hd = 4, C = (H + 2 * KV) * hd };
    float qkv[B * T * C], att[B * H * T * T], out[B * T * H * hd], R[B * T * H * hd], dqkv[B * T * C], scratch[T * T];
    att_ctx c = {qkv, att, out, R, B, T, H, KV, hd};
    fill(qkv, B * T * C, 11, 1, 0), fill(R, B * T * H * hd, 12, 1, 0);
    att_f(&c);
    /* causal: probabilities above the diagonal are exactly zero, rows sum to 1 */
    for (int t = 0; t < T; t++) {
        double s = 0;
        for (int j = 0; j < T; j++) {
            if (j > t) cr_expect_eq(att[t * T + j], 0.0f);
            s += att[t * T + j];
        }
        cr_expect_float_eq(s, 1.0, 1e-5);
    }
    pq_attention_backward(dqkv, R, att, qkv, scratch, B, T, H, KV, hd);
    cr_expect_lt(max_rel_error(qkv, dqkv, B * T * C, att_f, &c, 1e-3f), TOL);
}

/* Longer than one query block (64): the blocked causal products must still agree. */
Test(model_grad, attention_across_query_blocks) {
    enum { B = 1, T = 131, H = 2, KV = 1, hd = 4, C = (H + 2 * KV) * hd };
    float *qkv = malloc(sizeof(float) * B * T * C), *att = malloc(sizeof(float) * B * H * T * T),
          *out = malloc(sizeof(float) * B * T * H * hd), *R = malloc(sizeof(float) * B * T * H * hd),
          *dqkv = malloc(sizeof(float) * B * T * C), *scratch = malloc(sizeof(float) * T * T);
    att_ctx c = {qkv, att, out, R, B, T, H, KV, hd};
    fill(qkv, B * T * C, 21, 1, 0), fill(R, B * T * H * hd, 22, 1, 0);
    att_f(&c);
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int j = 0; j < T; j++) {
                float p = att[((size_t)h * T + t) * T + j];
                if (j > t) cr_assert_eq(p, 0.0f);
                s += p;
            }
            cr_assert_float_eq(s, 1.0, 1e-5);
        }
    /* the output of the last query equals a direct softmax-weighted sum */
    int t = T - 1;
    for (int h = 0; h < H; h++) {
        double w[T], mx = -1e30, z = 0;
        for (int j = 0; j <= t; j++) {
            double d = 0;
            for (int i = 0; i < hd; i++) d += (double)qkv[t * C + h * hd + i] * qkv[j * C + H * hd + i];
            w[j] = d / 2.0; /* 1/sqrt(hd) */
            mx = fmax(mx, w[j]);
        }
        for (int j = 0; j <= t; j++) z += (w[j] = exp(w[j] - mx));
        for (int i = 0; i < hd; i++) {
            double o = 0;
            for (int j = 0; j <= t; j++) o += w[j] / z * qkv[j * C + (H + KV) * hd + i];
            cr_expect_float_eq(out[t * H * hd + h * hd + i], o, 1e-5);
        }
    }
    pq_attention_backward(dqkv, R, att, qkv, scratch, B, T, H, KV, hd);
    cr_expect_lt(max_rel_error(qkv, dqkv, B * T * C, att_f, &c, 1e-3f), TOL);
    free(qkv), free(att), free(out), free(R), free(dqkv), free(scratch);
}

/* ---- cross entropy ---- */
typedef struct {
    float *logits, *work;
    const uint16_t *tg;
    int N, V;
} ce_ctx;
static double ce_f(void *p) {
    ce_ctx *c = p;
    memcpy(c->work, c->logits, sizeof(float) * c->N * c->V);
    return pq_cross_entropy(c->work, c->tg, c->N, c->V, 1.0f, 0);
}
Test(model_grad, cross_entropy) {
    enum { N = 4, V = 9 };
    float logits[N * V], work[N * V], grad[N * V];
    const uint16_t tg[N] = {0, 8, 3, 3};
    ce_ctx c = {logits, work, tg, N, V};
    fill(logits, N * V, 13, 2, 0);
    memcpy(grad, logits, sizeof grad);
    double with_grad = pq_cross_entropy(grad, tg, N, V, 1.0f, 1);
    cr_expect_float_eq(with_grad, ce_f(&c), 1e-9);
    cr_expect_lt(max_rel_error(logits, grad, N * V, ce_f, &c, 1e-3f), TOL);
    /* uniform logits: loss = log V per row */
    for (int i = 0; i < N * V; i++) work[i] = 0.5f;
    cr_expect_float_eq(pq_cross_entropy(work, tg, N, V, 1.0f, 0), N * log((double)V), 1e-5);
}

Test(model_grad, expf_accuracy) {
    for (float x = -80.0f; x < 80.0f; x += 0.0137f) {
        double want = exp((double)x), got = pq_expf(x);
        cr_assert_lt(fabs(got - want) / want, 3e-7, "x=%g", x);
    }
    cr_expect_eq(pq_expf(-1000.0f) < 1e-37f, 1);
}

/* ---- the whole model ---- */
static pq_model_config tiny_config(void) {
    pq_model_config c = {.dim = 8, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 12, .vocab = 11, .ctx = 6};
    return c;
}

/* Larger-than-default weights so every path carries a sizeable gradient. */
static void randomize(pq_model *m) {
    for (int i = 0; i < m->n_tensors; i++) {
        pq_model_tensor *t = &m->tensors[i];
        fill(t->param, (int)t->numel, 100 + i, t->is_matrix ? 0.4f : 0.2f, t->is_matrix ? 0.0f : 1.0f);
    }
}

typedef struct {
    pq_model *m;
    pq_acts *a;
    const uint16_t *x, *y;
    int B, T;
} model_ctx;
static double model_f(void *p) {
    model_ctx *c = p;
    pq_model_refresh_weights(c->m);
    return pq_model_forward(c->m, c->a, c->x, c->y, c->B, c->T, 0, 0.0f);
}

/* mode: the activations the backward reads (PQ_ACTS_RECOMPUTE: remade layer by layer). */
static void check_model_grads(const pq_weight_hook *hook, pq_acts_mode mode) {
    pq_model_config cfg = tiny_config();
    enum { B = 2, T = 5 };
    pq_model *m = pq_model_new(&cfg);
    randomize(m);
    if (hook) pq_model_set_hook(m, hook);
    pq_acts *a = pq_acts_new_mode(&cfg, B, T, mode);
    uint16_t x[B * T], y[B * T];
    for (int i = 0; i < B * T; i++) x[i] = (uint16_t)pq_rng_below(5, 5, i, cfg.vocab), y[i] = (uint16_t)pq_rng_below(5, 6, i, cfg.vocab);
    model_ctx c = {m, a, x, y, B, T};
    pq_model_zero_grads(m);
    pq_model_refresh_weights(m);
    double loss = pq_model_forward(m, a, x, y, B, T, 1, 1.0f / (B * T));
    cr_expect(isfinite(loss) && loss > 0);
    pq_model_backward(m, a, x);
    pq_model_finish_grads(m);
    for (int i = 0; i < m->n_tensors; i++) {
        pq_model_tensor *t = &m->tensors[i];
        double err = max_rel_error(t->param, t->grad, (int)t->numel, model_f, &c, 1e-3f);
        cr_expect_lt(err, TOL, "tensor %s: relative gradient error %g", t->name, err);
    }
    pq_acts_free(a);
    pq_model_free(m);
}

Test(model_grad, whole_model) { check_model_grads(NULL, PQ_ACTS_TRAIN); }
Test(model_grad, whole_model_recomputed) { check_model_grads(NULL, PQ_ACTS_RECOMPUTE); }

/* A hook that uses W_eff = 2 W + 0.1: its backward must be dW += 2 dW_eff. Exercises the
 * whole hook plumbing (effective buffers, refresh, finish) against finite differences. */
static int hook_calls_fwd, hook_calls_bwd;
static void affine_fwd(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, float *W_eff) {
    hook_calls_fwd++;
    for (int i = 0; i < rows * cols; i++) W_eff[i] = 2.0f * W[i] + 0.1f;
}
static void affine_bwd(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, const float *dW_eff,
                       float *dW) {
    hook_calls_bwd++;
    for (int i = 0; i < rows * cols; i++) dW[i] += 2.0f * dW_eff[i];
}
Test(model_grad, whole_model_through_hook) {
    pq_weight_hook hook = {NULL, affine_fwd, affine_bwd, NULL};
    hook_calls_fwd = hook_calls_bwd = 0;
    check_model_grads(&hook, PQ_ACTS_TRAIN);
    cr_expect_eq(hook_calls_bwd, 2 * PQ_LIN_COUNT, "finish_grads calls backward once per linear");
    cr_expect_gt(hook_calls_fwd, 0);
}
Test(model_grad, whole_model_through_hook_recomputed) {
    pq_weight_hook hook = {NULL, affine_fwd, affine_bwd, NULL};
    hook_calls_fwd = hook_calls_bwd = 0;
    check_model_grads(&hook, PQ_ACTS_RECOMPUTE);
    cr_expect_eq(hook_calls_bwd, 2 * PQ_LIN_COUNT, "finish_grads calls backward once per linear");
}
