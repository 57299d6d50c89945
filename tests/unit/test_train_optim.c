/* AdamW, clipping, the LR schedule and the data order. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "train/data.h"
#include "train/optim.h"

Test(train_optim, adamw_matches_reference_in_double) {
    float p[3] = {0.5f, -1.0f, 2.0f}, g[3], norm_p[2] = {1.0f, 1.0f}, norm_g[2];
    double rp[3] = {0.5, -1.0, 2.0}, rm[3] = {0}, rv[3] = {0}, rq[2] = {1, 1}, qm[2] = {0}, qv[2] = {0};
    pq_param_group groups[2] = {pq_param_group_make("w", p, g, 3, 1), pq_param_group_make("n", norm_p, norm_g, 2, 0)};
    groups[1].lr_scale = 0.5f;
    pq_optim_config c = {.lr = 0.1, .min_lr_ratio = 0.1, .warmup = 0, .total_steps = 10, .weight_decay = 0.2,
                         .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .clip = 0};
    pq_adamw *o = pq_adamw_new(&c, groups, 2);
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < 3; i++) g[i] = (float)(0.3 * t - i);
        for (int i = 0; i < 2; i++) norm_g[i] = (float)(0.1 * i + 0.05 * t);
        pq_adamw_step(o, 0.1, 1.0f);
        for (int i = 0; i < 3; i++) {
            double gi = 0.3 * t - i;
            rm[i] = 0.9 * rm[i] + 0.1 * gi, rv[i] = 0.95 * rv[i] + 0.05 * gi * gi;
            double mh = rm[i] / (1 - pow(0.9, t)), vh = rv[i] / (1 - pow(0.95, t));
            rp[i] -= 0.1 * (0.2 * rp[i] + mh / (sqrt(vh) + 1e-8));
            cr_expect_float_eq(p[i], rp[i], 1e-5, "step %d param %d: %g vs %g", t, i, p[i], rp[i]);
        }
        for (int i = 0; i < 2; i++) {
            double gi = 0.1 * i + 0.05 * t;
            qm[i] = 0.9 * qm[i] + 0.1 * gi, qv[i] = 0.95 * qv[i] + 0.05 * gi * gi;
            double mh = qm[i] / (1 - pow(0.9, t)), vh = qv[i] / (1 - pow(0.95, t));
            rq[i] -= 0.05 * (mh / (sqrt(vh) + 1e-8)); /* no decay, half LR */
            cr_expect_float_eq(norm_p[i], rq[i], 1e-5);
        }
    }
    pq_adamw_free(o);
}

Test(train_optim, clip_and_norm) {
    float a[3] = {3, 0, 0}, b[1] = {4}, pa[3], pb[1];
    pq_param_group g[2] = {pq_param_group_make("a", pa, a, 3, 1), pq_param_group_make("b", pb, b, 1, 0)};
    double n = pq_groups_grad_norm(g, 2);
    cr_expect_float_eq(n, 5.0, 1e-12);
    cr_expect_float_eq(pq_clip_factor(n, 1.0), 0.2f, 1e-7);
    cr_expect_eq(pq_clip_factor(n, 10.0), 1.0f);
    cr_expect_eq(pq_clip_factor(n, 0.0), 1.0f);
    /* a long gradient: the chunked sum equals a plain double sum */
    int N = 100003;
    float *big = malloc(sizeof(float) * N), *pbig = malloc(sizeof(float) * N);
    double ref = 0;
    for (int i = 0; i < N; i++) big[i] = (float)sin(i * 0.37), ref += (double)big[i] * big[i];
    pq_param_group gb = pq_param_group_make("big", pbig, big, N, 1);
    cr_expect_float_eq(pq_groups_grad_norm(&gb, 1), sqrt(ref), 1e-6 * sqrt(ref));
    pq_groups_zero_grads(&gb, 1);
    cr_expect_eq(pq_groups_grad_norm(&gb, 1), 0.0);
    free(big), free(pbig);
}

Test(train_optim, warmup_then_cosine) {
    pq_optim_config c = {.lr = 1.0, .min_lr_ratio = 0.1, .warmup = 4, .total_steps = 14};
    cr_expect_float_eq(pq_lr_at(&c, 0), 0.25, 1e-12);
    cr_expect_float_eq(pq_lr_at(&c, 3), 1.0, 1e-12);
    cr_expect_float_eq(pq_lr_at(&c, 4), 1.0, 1e-12);
    cr_expect_float_eq(pq_lr_at(&c, 13), 0.1, 1e-12);
    double mid = pq_lr_at(&c, 8);
    cr_expect(mid < 1.0 && mid > 0.1);
    for (int s = 4; s < 13; s++) cr_expect_geq(pq_lr_at(&c, s), pq_lr_at(&c, s + 1));
}

Test(train_optim, data_order_is_a_pure_function_of_seed_and_index) {
    pq_token_stream ts;
    pq_tokens_synthetic(&ts, 3, 0, 1000, 50);
    for (int64_t i = 0; i < ts.n; i++) cr_assert_lt(ts.tokens[i], 50);
    pq_data_order a, b;
    cr_assert_eq(pq_data_order_init(&a, &ts, 9, 5), 0);
    cr_assert_eq(pq_data_order_init(&b, &ts, 9, 5), 0);
    cr_expect_eq(a.n_chunks, 111);
    uint16_t xa[4 * 9], ya[4 * 9], xb[4 * 9], yb[4 * 9];
    /* b jumps straight to sequence 500 (epoch 4); a walks there through every batch */
    for (int64_t i = 0; i < 500; i += 4) pq_data_train_batch(&a, i, 4, xa, ya);
    pq_data_train_batch(&a, 500, 4, xa, ya);
    pq_data_train_batch(&b, 500, 4, xb, yb);
    cr_expect_eq(memcmp(xa, xb, sizeof xa), 0);
    cr_expect_eq(memcmp(ya, yb, sizeof ya), 0);
    /* targets are inputs shifted by one */
    for (int t = 0; t < 8; t++) cr_expect_eq(ya[t], xa[t + 1]);
    /* one epoch visits every window exactly once */
    int *seen = calloc(111, sizeof(int));
    for (int64_t i = 222; i < 333; i++) {
        pq_data_train_batch(&a, i, 1, xa, ya);
        int64_t w = -1;
        for (int64_t c = 0; c < 111 && w < 0; c++)
            if (!memcmp(ts.tokens + c * 9, xa, 9 * sizeof(uint16_t)) && ts.tokens[c * 9 + 9] == ya[8]) w = c;
        cr_assert_geq(w, 0);
        seen[w]++;
    }
    int distinct = 0;
    for (int c = 0; c < 111; c++) distinct += seen[c] > 0;
    cr_expect_geq(distinct, 100); /* windows with identical text may alias; nearly all distinct */
    free(seen);
    pq_data_order_free(&a), pq_data_order_free(&b);
    pq_tokens_free(&ts);
}

/* Warmup-stable-decay: constant after warmup, linear to lr * min_lr_ratio over the last
 * round(decay_fraction * total) steps; every step before the decay has the LR any longer
 * WSD run has there (what branching relies on). */
Test(train_optim, warmup_stable_decay) {
    pq_optim_config c = {.lr = 1.0, .min_lr_ratio = 0.1, .warmup = 4, .total_steps = 20, .schedule = PQ_SCHEDULE_WSD,
                         .decay_fraction = 0.25};
    cr_expect_eq(pq_wsd_decay_start(20, 0.25), 15);
    cr_expect_eq(pq_wsd_decay_start(20, 0.01), 19); /* at least one decay step */
    cr_expect_eq(pq_wsd_decay_start(20, 1.0), 0);
    cr_expect_float_eq(pq_lr_at(&c, 0), 0.25, 1e-12);
    for (int s = 3; s < 15; s++) cr_expect_eq(pq_lr_at(&c, s), 1.0, "step %d", s);
    cr_expect_float_eq(pq_lr_at(&c, 15), 1.0 - 0.9 / 5, 1e-12);
    cr_expect_float_eq(pq_lr_at(&c, 19), 0.1, 1e-12);
    for (int s = 15; s < 19; s++) cr_expect_gt(pq_lr_at(&c, s), pq_lr_at(&c, s + 1));
    pq_optim_config longer = c;
    longer.total_steps = 200;
    for (int s = 0; s < 15; s++) cr_expect_eq(pq_lr_at(&c, s), pq_lr_at(&longer, s));
    /* decay_fraction 1 with warmup: the decay starts after the warmup */
    c.decay_fraction = 1.0;
    cr_expect_eq(pq_lr_at(&c, 3), 1.0);
    cr_expect_float_eq(pq_lr_at(&c, 19), 0.1, 1e-12);
}

/* The config names the schedule; anything else is refused, naming the field. */
Test(train_optim, schedule_in_config) {
    pq_train_config t;
    json_t *o = json_pack("{s:s, s:f}", "schedule", "wsd", "decay_fraction", 0.1);
    cr_assert_eq(pq_train_config_from_json(&t, o, "cfg"), 0, "%s", pq_error());
    cr_expect_eq(t.schedule, PQ_SCHEDULE_WSD);
    cr_expect_float_eq(t.decay_fraction, 0.1, 1e-12);
    json_t *back = pq_train_config_to_json(&t);
    cr_expect_str_eq(json_string_value(json_object_get(back, "schedule")), "wsd");
    json_decref(back), json_decref(o);
    o = json_object();
    cr_expect_eq(pq_train_config_from_json(&t, o, "cfg"), 0);
    cr_expect_eq(t.schedule, PQ_SCHEDULE_COSINE);
    json_decref(o);
    o = json_pack("{s:s}", "schedule", "linear");
    cr_expect_eq(pq_train_config_from_json(&t, o, "cfg"), -1);
    cr_expect(strstr(pq_error(), "\"schedule\""), "%s", pq_error());
    json_decref(o);
    o = json_pack("{s:f}", "decay_fraction", 0.0);
    cr_expect_eq(pq_train_config_from_json(&t, o, "cfg"), -1);
    json_decref(o);
}
