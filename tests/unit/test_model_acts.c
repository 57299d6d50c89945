/* Activation plans and lazily made effective weights (model.h): every lighter plan
 * (RECOMPUTE, FORWARD, LAYER) and the one-layer QAT buffer give exactly the bits of
 * the full plan, which keeps every layer's activations. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "model/model.h"

static pq_model_config tiny(void) {
    pq_model_config c = {.dim = 16, .n_layers = 3, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 24, .vocab = 13, .ctx = 8};
    return c;
}

enum { B = 2, T = 7 };

static void tokens(uint16_t *x, uint16_t *y, uint64_t stream) {
    for (int i = 0; i < B * T; i++)
        x[i] = (uint16_t)pq_rng_below(11, stream, (uint64_t)i, 13), y[i] = (uint16_t)pq_rng_below(12, stream, (uint64_t)i, 13);
}

/* W_eff = 2 W + 0.1 (backward dW += 2 dW_eff), counting its calls. */
static int n_forward, n_refresh;
static void affine_fwd(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, float *W_eff) {
    n_forward++;
    for (int i = 0; i < rows * cols; i++) W_eff[i] = 2.0f * W[i] + 0.1f;
}
static void affine_bwd(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, const float *dW_eff,
                       float *dW) {
    for (int i = 0; i < rows * cols; i++) dW[i] += 2.0f * dW_eff[i];
}
static void count_refresh(void *ctx) { n_refresh++; }
static const pq_weight_hook affine = {NULL, affine_fwd, affine_bwd, count_refresh};

/* One optimizer step's gradients over two micro-batches in the given plan; the loss sum. */
static double two_micro_batches(pq_model *m, pq_acts_mode mode) {
    pq_acts *a = pq_acts_new_mode(&m->cfg, B, T, mode);
    uint16_t x[B * T], y[B * T];
    pq_model_refresh_weights(m);
    pq_model_zero_grads(m);
    double loss = 0;
    for (uint64_t s = 0; s < 2; s++) {
        tokens(x, y, s);
        loss += pq_model_forward(m, a, x, y, B, T, 1, 1.0f / (B * T));
        pq_model_backward(m, a, x);
    }
    pq_model_finish_grads(m);
    pq_acts_free(a);
    return loss;
}

static void recompute_matches_train(const pq_weight_hook *hook) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 3);
    if (hook) pq_model_set_hook(m, hook);
    double l0 = two_micro_batches(m, PQ_ACTS_TRAIN);
    float *g0 = malloc(sizeof(float) * m->n_params);
    memcpy(g0, m->grads, sizeof(float) * m->n_params);
    double l1 = two_micro_batches(m, PQ_ACTS_RECOMPUTE);
    cr_expect_eq(l0, l1, "loss %.17g vs %.17g", l0, l1);
    cr_expect_eq(memcmp(g0, m->grads, sizeof(float) * m->n_params), 0, "recomputed gradients differ");
    free(g0);
    pq_model_free(m);
}

Test(model_acts, recompute_is_bitwise_train) { recompute_matches_train(NULL); }
Test(model_acts, recompute_is_bitwise_train_through_hook) { recompute_matches_train(&affine); }

/* ref: a plain model holding m's W_eff = 2 W + 0.1 in its block linears. */
static void materialize(pq_model *ref, const pq_model *m) {
    memcpy(ref->params, m->params, sizeof(float) * m->n_params);
    for (int l = 0; l < ref->cfg.n_layers; l++)
        for (int k = 0; k < PQ_LIN_COUNT; k++) {
            int rows, cols;
            float *W = pq_model_linear(ref, l, (pq_linear_id)k, &rows, &cols, NULL);
            affine_fwd(NULL, l, (pq_linear_id)k, W, rows, cols, W);
        }
}

/* The QAT plumbing with one layer's effective weights equals a plain model holding
 * W_eff (its dL/dW_eff summed over the micro-batches, then the hook's backward). */
Test(model_acts, one_layer_effective_weights_match_materialized) {
    pq_model_config cfg = tiny();
    const int L = cfg.n_layers;
    pq_model *m = pq_model_new(&cfg), *ref = pq_model_new(&cfg);
    pq_model_init(m, 4);
    materialize(ref, m);
    pq_model_set_hook(m, &affine);
    n_forward = n_refresh = 0;
    double lm = two_micro_batches(m, PQ_ACTS_TRAIN), lr = two_micro_batches(ref, PQ_ACTS_TRAIN);
    cr_expect_eq(lm, lr, "loss %.17g vs %.17g", lm, lr);
    cr_expect_eq(n_refresh, 1, "pq_model_refresh_weights calls the hook's refresh");
    /* made when a forward or backward reaches a layer the buffer does not hold: L layers
     * up, L - 1 down (the last is held), then L - 1 up (layer 0 is held) and L - 1 down */
    cr_expect_eq(n_forward, (L + 3 * (L - 1)) * PQ_LIN_COUNT, "hook forwards: %d", n_forward);
    for (int i = 0; i < m->n_tensors; i++) {
        const pq_model_tensor *t = &m->tensors[i], *r = &ref->tensors[i];
        int hooked = strstr(t->name, ".w") != NULL; /* the block linears */
        for (int64_t k = 0; k < t->numel; k++) {
            float want = hooked ? 2.0f * r->grad[k] : r->grad[k];
            cr_assert_eq(t->grad[k], want, "%s[%lld]: %g vs %g", t->name, (long long)k, t->grad[k], want);
        }
    }
    /* a forward leaves the last layer's W_eff in the buffer: a change of that layer's
     * latent weights is seen after a refresh */
    pq_acts *a = pq_acts_new_mode(&cfg, B, T, PQ_ACTS_FORWARD);
    uint16_t x[B * T], y[B * T];
    tokens(x, y, 9);
    pq_model_forward(m, a, x, y, B, T, 0, 0);
    int rows, cols;
    pq_model_linear(m, L - 1, PQ_LIN_DOWN, &rows, &cols, NULL)[0] += 0.25f;
    materialize(ref, m);
    pq_model_refresh_weights(m);
    double l2 = pq_model_forward(m, a, x, y, B, T, 0, 0), l3 = pq_model_forward(ref, a, x, y, B, T, 0, 0);
    cr_expect_eq(l2, l3, "after a refresh: loss %.17g vs %.17g", l2, l3);
    pq_acts_free(a);
    pq_model_free(m), pq_model_free(ref);
}

Test(model_acts, forward_plan_is_bitwise_train) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 5);
    pq_acts *full = pq_acts_new(&cfg, B, T), *fwd = pq_acts_new_mode(&cfg, B, T, PQ_ACTS_FORWARD);
    uint16_t x[B * T], y[B * T];
    tokens(x, y, 7);
    double l0 = pq_model_forward(m, full, x, y, B, T, 0, 0), l1 = pq_model_forward(m, fwd, x, y, B, T, 0, 0);
    cr_expect_eq(l0, l1, "loss %.17g vs %.17g", l0, l1);
    cr_expect_eq(memcmp(full->logits, fwd->logits, sizeof(float) * B * T * cfg.vocab), 0);
    cr_expect_lt(fwd->n_floats, full->n_floats);
    pq_acts_free(full), pq_acts_free(fwd);
    pq_model_free(m);
}

/* Embedding, then each layer on its own (GPTQ's order), is the full forward's residual
 * stream; without update a layer leaves x alone but saves its linears' inputs. */
Test(model_acts, layer_by_layer_is_bitwise_forward) {
    pq_model_config cfg = tiny();
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 6);
    pq_acts *full = pq_acts_new(&cfg, B, T), *one = pq_acts_new_mode(&cfg, B, T, PQ_ACTS_LAYER);
    cr_expect_eq(one->logits, NULL);
    uint16_t x[B * T], y[B * T];
    tokens(x, y, 8);
    pq_model_forward(m, full, x, NULL, B, T, 0, 0);
    const size_t nd = (size_t)B * T * cfg.dim, nf = (size_t)B * T * cfg.ffn_dim;
    float *h = malloc(sizeof(float) * nd), *keep = malloc(sizeof(float) * nd);
    pq_model_embed(m, x, B * T, h);
    for (int l = 0; l < cfg.n_layers; l++) {
        memcpy(keep, h, sizeof(float) * nd);
        pq_model_layer_forward(m, one, l, h, B, T, 0);
        cr_expect_eq(memcmp(keep, h, sizeof(float) * nd), 0, "layer %d without update changed x", l);
        cr_expect_eq(memcmp(one->xn1[l], full->xn1[l], sizeof(float) * nd), 0, "layer %d xn1", l);
        cr_expect_eq(memcmp(one->atty[l], full->atty[l], sizeof(float) * nd), 0, "layer %d atty", l);
        cr_expect_eq(memcmp(one->xn2[l], full->xn2[l], sizeof(float) * nd), 0, "layer %d xn2", l);
        cr_expect_eq(memcmp(one->h[l], full->h[l], sizeof(float) * nf), 0, "layer %d h", l);
        pq_model_layer_forward(m, one, l, h, B, T, 1);
        cr_expect_eq(memcmp(h, full->res[l + 1], sizeof(float) * nd), 0, "layer %d output", l);
    }
    free(h), free(keep);
    pq_acts_free(full), pq_acts_free(one);
    pq_model_free(m);
}

/* The plans' sizes: each lighter one is smaller, and only TRAIN and RECOMPUTE grow by
 * more than the residual stream with depth. */
Test(model_acts, plan_sizes) {
    pq_model_config c = tiny(), deep = tiny();
    deep.n_layers *= 2;
    size_t train = pq_acts_bytes_mode(&c, B, T, PQ_ACTS_TRAIN), rec = pq_acts_bytes_mode(&c, B, T, PQ_ACTS_RECOMPUTE);
    size_t fwd = pq_acts_bytes_mode(&c, B, T, PQ_ACTS_FORWARD), layer = pq_acts_bytes_mode(&c, B, T, PQ_ACTS_LAYER);
    cr_expect(layer < fwd && fwd < rec && rec < train, "%zu %zu %zu %zu", layer, fwd, rec, train);
    cr_expect_eq(pq_acts_bytes(&c, B, T), train);
    const size_t stream = sizeof(float) * B * T * c.dim;
    cr_expect_eq(pq_acts_bytes_mode(&deep, B, T, PQ_ACTS_RECOMPUTE) - rec, (size_t)c.n_layers * stream);
    cr_expect_eq(pq_acts_bytes_mode(&deep, B, T, PQ_ACTS_FORWARD), fwd);
    cr_expect_eq(pq_acts_bytes_mode(&deep, B, T, PQ_ACTS_LAYER), layer);
    cr_expect_gt(pq_acts_bytes_mode(&deep, B, T, PQ_ACTS_TRAIN) - train, (size_t)c.n_layers * stream);
}
