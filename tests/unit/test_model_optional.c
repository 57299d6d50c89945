/* The config's optional fields for imported models (issue 19): RoPE theta, norm eps,
 * LLaMA-3 RoPE scaling, an untied head. Defaults must leave a model as it was. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "model/config.h"
#include "model/layers.h"
#include "model/model.h"

static const pq_model_config base = PQ_MODEL_SHAPE(16, 2, 4, 2, 24, 13, 8);

/* A default config's JSON has exactly the seven shape keys (its hashes are unchanged). */
Test(model_optional, default_json_has_no_new_keys) {
    json_t *o = pq_model_config_to_json(&base);
    cr_expect_eq(json_object_size(o), 7);
    pq_model_config back;
    cr_assert_eq(pq_model_config_from_json(&back, o, "t"), 0, "%s", pq_error());
    cr_expect_eq(memcmp(&back, &base, sizeof back), 0);
    json_decref(o);
}

Test(model_optional, optional_fields_round_trip_and_are_checked) {
    pq_model_config c = base;
    c.rope_theta = 500000, c.norm_eps = 1e-6, c.untied_head = 1;
    c.rope_llama3_factor = 8, c.rope_llama3_low = 1, c.rope_llama3_high = 4, c.rope_llama3_orig_ctx = 8192;
    json_t *o = pq_model_config_to_json(&c);
    pq_model_config back;
    cr_assert_eq(pq_model_config_from_json(&back, o, "t"), 0, "%s", pq_error());
    cr_expect_eq(memcmp(&back, &c, sizeof back), 0);
    json_object_set_new(o, "untied_head", json_integer(2));
    cr_expect_neq(pq_model_config_from_json(&back, o, "t"), 0);
    cr_expect(strstr(pq_error(), "untied_head"), "%s", pq_error());
    json_object_set_new(o, "untied_head", json_integer(1));
    json_object_set_new(json_object_get(o, "rope_llama3"), "bogus", json_integer(1));
    cr_expect_neq(pq_model_config_from_json(&back, o, "t"), 0);
    cr_expect(strstr(pq_error(), "bogus"), "%s", pq_error());
    json_decref(o);
}

/* theta given as 10000 is the default bit for bit; another theta changes the tables as
 * theta^(-2i/hd); LLaMA-3 scaling slows the lowest frequencies by the factor. */
Test(model_optional, rope_tables) {
    int half = 2, ctx = base.ctx; /* hd = 4 */
    float c0[64], s0[64], c1[64], s1[64];
    pq_rope_tables(c0, s0, ctx, 4, PQ_ROPE_THETA);
    pq_model_config c = base;
    c.rope_theta = 10000;
    pq_model_rope_tables(&c, c1, s1);
    cr_expect_eq(memcmp(c0, c1, sizeof(float) * ctx * half), 0);
    c.rope_theta = 100;
    pq_model_rope_tables(&c, c1, s1);
    for (int p = 0; p < ctx; p++)
        for (int i = 0; i < half; i++)
            cr_expect_float_eq(c1[p * half + i], (float)cos(p * pow(100.0, -2.0 * i / 4)), 1e-6);
    c.rope_llama3_factor = 8, c.rope_llama3_low = 1, c.rope_llama3_high = 4, c.rope_llama3_orig_ctx = 32;
    pq_model_rope_tables(&c, c1, s1);
    /* i = 0: freq 1, wavelength 2π < 32/4: kept; i = 1: freq 0.1, wavelength 63 > 32/1: / 8 */
    cr_expect_float_eq(c1[3 * half + 0], (float)cos(3.0), 1e-6);
    cr_expect_float_eq(s1[3 * half + 1], (float)sin(3 * 0.1 / 8), 1e-7);
}

/* An untied head is a separate "head" tensor after final_norm; the logits use it and its
 * gradient goes to it, not to the embedding. */
Test(model_optional, untied_head) {
    pq_model_config c = base;
    c.untied_head = 1;
    pq_model *m = pq_model_new(&c), *t = pq_model_new(&base);
    cr_expect_eq(m->n_params, t->n_params + (int64_t)c.vocab * c.dim);
    cr_expect_eq(pq_model_param_counts(&c).total, m->n_params);
    const pq_model_tensor *h = pq_model_find_tensor(m, "head");
    cr_assert(h && h->param == m->head && m->head != m->tok_emb);
    cr_expect_null(pq_model_find_tensor(t, "head"));
    pq_model_init(m, 3);
    pq_acts *a = pq_acts_new(&c, 1, 4);
    uint16_t tok[4] = {1, 2, 3, 4}, tgt[4] = {2, 3, 4, 5};
    float *l1 = pq_malloc(sizeof(float) * 4 * c.vocab), *l2 = pq_malloc(sizeof(float) * 4 * c.vocab);
    pq_model_logits(m, a, tok, 4, l1);
    for (int i = 0; i < c.vocab * c.dim; i++) m->head[i] *= 2; /* logits are linear in the head */
    pq_model_logits(m, a, tok, 4, l2);
    for (int i = 0; i < 4 * c.vocab; i++) cr_expect_float_eq(l2[i], 2 * l1[i], 1e-5 + 1e-5 * fabsf(l1[i]));
    pq_model_zero_grads(m);
    pq_model_forward(m, a, tok, tgt, 1, 4, 1, 0.25f);
    pq_model_backward(m, a, tok);
    double g_head = 0, g_unused_emb = 0;
    for (int i = 0; i < c.vocab * c.dim; i++) g_head += fabsf(m->g_head[i]);
    for (int i = 6 * c.dim; i < c.vocab * c.dim; i++) g_unused_emb += fabsf(m->g_tok_emb[i]); /* tokens >= 6 never read */
    cr_expect_gt(g_head, 0);
    cr_expect_eq(g_unused_emb, 0);
    free(l1), free(l2);
    pq_acts_free(a);
    pq_model_free(m), pq_model_free(t);
}
