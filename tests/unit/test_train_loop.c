/* The training loop: it learns (overfits a tiny batch), is bitwise
 * reproducible, and a run interrupted and resumed from its checkpoint ends
 * bitwise identical to an uninterrupted one (also through a QAT-style hook
 * with its own parameter group). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "train/trainer.h"

static pq_model_config cfg_small(int vocab, int ctx) {
    pq_model_config c = {.dim = 32, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 64, .vocab = vocab, .ctx = ctx};
    return c;
}

static char tmpdir[64];
static void mk(void) {
    strcpy(tmpdir, "/tmp/pq_train_XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}
static void rm(void) { pq_remove_tree(tmpdir); }

Test(train_loop, overfits_a_tiny_batch) {
    pq_model_config mc = cfg_small(16, 16);
    pq_token_stream ts;
    pq_tokens_synthetic(&ts, 9, 0, 17, 16); /* exactly one window of 16 + 1 */
    pq_model *m = pq_model_new(&mc);
    pq_model_init(m, 1);
    pq_train_config tc = pq_train_config_default();
    tc.batch = 1, tc.lr = 1e-2, tc.warmup = 5, tc.weight_decay = 0, tc.tokens = 150 * 16, tc.min_lr_ratio = 1.0;
    pq_trainer_spec sp = {.kind = "test", .model = m, .train = tc, .train_data = &ts, .val_data = &ts};
    pq_train_log log;
    cr_assert_eq(pq_train(&sp, &log), 0, "%s", pq_error());
    cr_expect_eq(log.steps_done, 150);
    cr_expect_gt(log.train_loss[0], 2.0f);
    cr_expect_lt(log.train_loss[149], 0.05f, "final loss %g", log.train_loss[149]);
    cr_expect_lt(log.val_loss[log.n_val - 1], 0.05f); /* the same window */
    pq_train_log_free(&log);
    pq_model_free(m);
    pq_tokens_free(&ts);
}

/* ---- a toy QAT hook: W_eff = s_row * W, with learnable per-row scales s ---- */
typedef struct {
    float *scale, *gscale; /* one per row of every hooked linear, in (layer, which) order */
    int64_t *offset;       /* offset[layer * PQ_LIN_COUNT + which] */
} toy_hook;

static void toy_fwd(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, float *W_eff) {
    toy_hook *h = ctx;
    const float *s = h->scale + h->offset[layer * PQ_LIN_COUNT + which];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) W_eff[(size_t)r * cols + c] = s[r] * W[(size_t)r * cols + c];
}
static void toy_bwd(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, const float *dWe,
                    float *dW) {
    toy_hook *h = ctx;
    const float *s = h->scale + h->offset[layer * PQ_LIN_COUNT + which];
    float *gs = h->gscale + h->offset[layer * PQ_LIN_COUNT + which];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            dW[(size_t)r * cols + c] += s[r] * dWe[(size_t)r * cols + c];
            gs[r] += W[(size_t)r * cols + c] * dWe[(size_t)r * cols + c];
        }
}

typedef struct {
    pq_model *m;
    toy_hook th;
    pq_weight_hook hook;
    pq_param_group group;
    pq_train_log log;
} run;

/* recompute: the trainer's activation recomputation (trainer.h), which must not change a bit. */
static int do_run_as(run *r, const char *dir, int with_hook, int64_t stop_after, int recompute) {
    pq_model_config mc = cfg_small(24, 12);
    pq_token_stream tr, va;
    pq_tokens_synthetic(&tr, 1, 0, 4000, 24);
    pq_tokens_synthetic(&va, 1, 1, 400, 24);
    memset(r, 0, sizeof *r);
    r->m = pq_model_new(&mc);
    pq_model_init(r->m, 42);
    pq_train_config tc = pq_train_config_default();
    tc.batch = 2, tc.grad_accum = 2, tc.tokens = 2 * 2 * 12 * 12, tc.eval_interval = 3, tc.eval_tokens = 48,
    tc.ckpt_interval = 4, tc.seed = 7;
    pq_trainer_spec sp = {.kind = "test", .out_dir = dir, .model = r->m, .train = tc, .train_data = &tr, .val_data = &va,
                          .stop_after_steps = stop_after, .recompute = recompute};
    json_t *id = json_pack("{s:s}", "what", "resume-test");
    sp.identity = id;
    if (with_hook) {
        int64_t n = 0;
        r->th.offset = calloc(mc.n_layers * PQ_LIN_COUNT, sizeof(int64_t));
        for (int l = 0; l < mc.n_layers; l++)
            for (int k = 0; k < PQ_LIN_COUNT; k++) {
                int rows, cols;
                pq_model_linear(r->m, l, k, &rows, &cols, NULL);
                r->th.offset[l * PQ_LIN_COUNT + k] = n;
                n += rows;
            }
        r->th.scale = malloc(sizeof(float) * n), r->th.gscale = calloc(n, sizeof(float));
        for (int64_t i = 0; i < n; i++) r->th.scale[i] = 1.0f;
        r->hook = (pq_weight_hook){&r->th, toy_fwd, toy_bwd, NULL};
        r->group = pq_param_group_make("scales", r->th.scale, r->th.gscale, n, 0);
        sp.hook = &r->hook, sp.extra = &r->group, sp.n_extra = 1;
    }
    int rc = pq_train(&sp, &r->log);
    json_decref(id);
    pq_tokens_free(&tr), pq_tokens_free(&va);
    return rc;
}

static int do_run(run *r, const char *dir, int with_hook, int64_t stop_after) {
    return do_run_as(r, dir, with_hook, stop_after, 0);
}

static void free_run(run *r) {
    pq_train_log_free(&r->log);
    pq_model_free(r->m);
    free(r->th.scale), free(r->th.gscale), free(r->th.offset);
}

static void expect_same(run *a, run *b) {
    cr_assert_eq(a->log.steps_done, b->log.steps_done);
    cr_expect_eq(memcmp(a->m->params, b->m->params, sizeof(float) * a->m->n_params), 0, "weights differ");
    cr_expect_eq(memcmp(a->log.train_loss, b->log.train_loss, sizeof(float) * a->log.steps_done), 0, "loss curve differs");
    cr_assert_eq(a->log.n_val, b->log.n_val);
    cr_expect_eq(memcmp(a->log.val_loss, b->log.val_loss, sizeof(float) * a->log.n_val), 0);
    if (a->th.scale) cr_expect_eq(memcmp(a->th.scale, b->th.scale, sizeof(float) * a->group.n), 0, "scales differ");
}

static void resume_case(int with_hook) {
    char d1[128], d2[128];
    snprintf(d1, sizeof d1, "%s/a", tmpdir), snprintf(d2, sizeof d2, "%s/b", tmpdir);
    run a, b, c;
    cr_assert_eq(do_run(&a, d1, with_hook, 0), 0, "%s", pq_error());
    cr_expect_eq(a.log.steps_done, 12);
    cr_expect_eq(a.log.n_val, 5); /* steps 0, 3, 6, 9, 12 */
    cr_expect_lt(a.log.train_loss[11], a.log.train_loss[0]);
    /* interrupted after 6 steps (last checkpoint at 4), then rerun */
    cr_assert_eq(do_run(&b, d2, with_hook, 6), 0, "%s", pq_error());
    cr_expect_eq(b.log.steps_done, 6);
    free_run(&b);
    cr_assert_eq(do_run(&b, d2, with_hook, 0), 0, "%s", pq_error());
    cr_expect_eq(b.log.resumed_from, 4);
    expect_same(&a, &b);
    /* a finished run reruns as a no-op with the same result */
    cr_assert_eq(do_run(&c, d1, with_hook, 0), 0, "%s", pq_error());
    cr_expect_eq(c.log.resumed_from, 12);
    expect_same(&a, &c);
    free_run(&a), free_run(&b), free_run(&c);
}

Test(train_loop, resume_is_bitwise_identical, .init = mk, .fini = rm) { resume_case(0); }
Test(train_loop, resume_with_hook_and_extra_group, .init = mk, .fini = rm) { resume_case(1); }

/* Recomputing the activations in the backward gives the run of keeping them, bit for
 * bit (weights, curves, the hook's scales), and a run killed with it resumes without it
 * (and the reverse) to the same end: it is not part of the identity. */
static void recompute_case(int with_hook) {
    char d1[128], d2[128], d3[128];
    snprintf(d1, sizeof d1, "%s/kept", tmpdir), snprintf(d2, sizeof d2, "%s/recomputed", tmpdir);
    snprintf(d3, sizeof d3, "%s/mixed", tmpdir);
    run a, b, c;
    cr_assert_eq(do_run_as(&a, d1, with_hook, 0, 0), 0, "%s", pq_error());
    cr_assert_eq(do_run_as(&b, d2, with_hook, 0, 1), 0, "%s", pq_error());
    expect_same(&a, &b);
    size_t n1 = 0, n2 = 0;
    char *p1 = pq_path_join(d1, "state.ckpt"), *p2 = pq_path_join(d2, "state.ckpt");
    char *s1 = pq_read_file(p1, &n1), *s2 = pq_read_file(p2, &n2);
    cr_assert(s1 && s2);
    cr_expect(n1 == n2 && !memcmp(s1, s2, n1), "the state files differ");
    free(s1), free(s2), free(p1), free(p2);
    free_run(&b);
    cr_assert_eq(do_run_as(&b, d3, with_hook, 6, 1), 0, "%s", pq_error());
    free_run(&b);
    cr_assert_eq(do_run_as(&c, d3, with_hook, 0, 0), 0, "%s", pq_error());
    cr_expect_eq(c.log.resumed_from, 4);
    expect_same(&a, &c);
    free_run(&a), free_run(&c);
}

Test(train_loop, recompute_is_bitwise_identical, .init = mk, .fini = rm) { recompute_case(0); }
Test(train_loop, recompute_with_hook_and_extra_group, .init = mk, .fini = rm) { recompute_case(1); }

Test(train_loop, two_runs_bitwise_equal_and_seed_matters) {
    run a, b;
    cr_assert_eq(do_run(&a, NULL, 1, 0), 0, "%s", pq_error());
    cr_assert_eq(do_run(&b, NULL, 1, 0), 0, "%s", pq_error());
    expect_same(&a, &b);
    /* the hook's scales actually trained */
    int moved = 0;
    for (int64_t i = 0; i < a.group.n; i++) moved |= a.th.scale[i] != 1.0f;
    cr_expect(moved);
    free_run(&a), free_run(&b);
}

Test(train_loop, mismatched_state_is_refused, .init = mk, .fini = rm) {
    run a;
    char d[128];
    snprintf(d, sizeof d, "%s/x", tmpdir);
    cr_assert_eq(do_run(&a, d, 0, 5), 0, "%s", pq_error());
    free_run(&a);
    /* same directory, but the state has the hook's extra group missing: refuses, names the file */
    cr_expect_eq(do_run(&a, d, 1, 0), -1);
    cr_expect(strstr(pq_error(), "state.ckpt"), "%s", pq_error());
    free_run(&a);
    /* a corrupted state file is an error, not a crash */
    char *p = pq_path_join(d, "state.ckpt");
    cr_assert_eq(pq_write_file_atomic(p, "PQCKPT01garbage", 15), 0);
    cr_expect_eq(do_run(&a, d, 0, 0), -1);
    cr_expect(strstr(pq_error(), "state.ckpt"), "%s", pq_error());
    free(p);
    free_run(&a);
}

/* grad_accum = 2 with batch 2 sees the same sequences as batch 4 (sequence i =
 * (step * accum + micro) * batch + row) and averages the same gradients. */
Test(train_loop, grad_accumulation_equals_a_bigger_batch) {
    pq_model_config mc = cfg_small(24, 12);
    pq_token_stream tr;
    pq_tokens_synthetic(&tr, 1, 0, 4000, 24);
    pq_model *a = pq_model_new(&mc), *b = pq_model_new(&mc);
    pq_model_init(a, 5), pq_model_init(b, 5);
    pq_train_config tc = pq_train_config_default();
    tc.tokens = 5 * 4 * 12, tc.seed = 3;
    pq_train_config ta = tc, tb = tc;
    ta.batch = 4, ta.grad_accum = 1;
    tb.batch = 2, tb.grad_accum = 2;
    pq_trainer_spec sa = {.kind = "test", .model = a, .train = ta, .train_data = &tr};
    pq_trainer_spec sb = {.kind = "test", .model = b, .train = tb, .train_data = &tr};
    pq_train_log la, lb;
    cr_assert_eq(pq_train(&sa, &la), 0, "%s", pq_error());
    cr_assert_eq(pq_train(&sb, &lb), 0, "%s", pq_error());
    cr_assert_eq(la.steps_done, 5);
    cr_assert_eq(lb.steps_done, 5);
    for (int s = 0; s < 5; s++) cr_expect_float_eq(la.train_loss[s], lb.train_loss[s], 1e-5, "step %d", s);
    double maxdiff = 0;
    for (int64_t i = 0; i < a->n_params; i++) maxdiff = fmax(maxdiff, fabs(a->params[i] - b->params[i]));
    cr_expect_lt(maxdiff, 1e-5);
    pq_train_log_free(&la), pq_train_log_free(&lb);
    pq_model_free(a), pq_model_free(b);
    pq_tokens_free(&tr);
}

Test(train_loop, weight_decay_only_on_matrices) {
    pq_model_config mc = cfg_small(24, 12);
    pq_model *m = pq_model_new(&mc);
    pq_param_group *g = NULL;
    int n = 0;
    pq_model_param_groups(m, &g, &n);
    cr_assert_eq(n, m->n_tensors);
    int matrices = 0;
    for (int i = 0; i < n; i++) {
        int is_norm = strstr(g[i].name, "norm") != NULL;
        cr_expect_eq(g[i].decay, !is_norm, "%s", g[i].name);
        cr_expect_eq(g[i].lr_scale, 1.0f);
        matrices += g[i].decay;
    }
    cr_expect_eq(matrices, 1 + 7 * mc.n_layers); /* tok_emb + q k v o gate up down */
    free(g);
    pq_model_free(m);
}
