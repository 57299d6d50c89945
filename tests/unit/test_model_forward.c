/* Model forward properties, configs, parameter counts and checkpoints. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/util.h"
#include "model/model.h"

static pq_model_config small_cfg(void) {
    pq_model_config c = {.dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 24, .vocab = 13, .ctx = 8};
    return c;
}

Test(model_forward, causal_and_batch_independent) {
    pq_model_config cfg = small_cfg();
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 3);
    int T = 8, V = cfg.vocab;
    pq_acts *a = pq_acts_new(&cfg, 2, T);
    uint16_t seq[8] = {1, 5, 2, 7, 7, 0, 12, 3}, two[16];
    float *l1 = malloc(sizeof(float) * T * V), *l2 = malloc(sizeof(float) * T * V);
    pq_model_logits(m, a, seq, T, l1);
    /* Changing token 5 changes no logits before position 5, and does change position 5. */
    uint16_t alt[8];
    memcpy(alt, seq, sizeof seq);
    alt[5] = 9;
    pq_model_logits(m, a, alt, T, l2);
    for (int i = 0; i < 5 * V; i++) cr_assert_eq(l1[i], l2[i], "logit %d changed", i);
    int differs = 0;
    for (int i = 5 * V; i < 6 * V; i++) differs |= l1[i] != l2[i];
    cr_expect(differs);
    /* The same sequence as row 1 of a batch gives the same logits (up to sgemm blocking). */
    memcpy(two, alt, sizeof alt), memcpy(two + 8, seq, sizeof seq);
    pq_model_forward(m, a, two, NULL, 2, T, 0, 0);
    for (int i = 0; i < T * V; i++) cr_assert_float_eq(a->logits[T * V + i], l1[i], 1e-5);
    /* Initial loss is close to log(vocab): small init, near-uniform predictions. */
    uint16_t tg[16];
    for (int i = 0; i < 16; i++) tg[i] = (uint16_t)(i % V);
    double loss = pq_model_forward(m, a, two, tg, 2, T, 0, 0);
    cr_expect_lt(fabs(loss - log((double)V)), 0.1);
    free(l1), free(l2);
    pq_acts_free(a);
    pq_model_free(m);
}

Test(model_forward, init_is_deterministic_and_seeded) {
    pq_model_config cfg = small_cfg();
    pq_model *a = pq_model_new(&cfg), *b = pq_model_new(&cfg), *c = pq_model_new(&cfg);
    pq_model_init(a, 7), pq_model_init(b, 7), pq_model_init(c, 8);
    cr_expect_eq(memcmp(a->params, b->params, sizeof(float) * a->n_params), 0);
    cr_expect_neq(memcmp(a->params, c->params, sizeof(float) * a->n_params), 0);
    const pq_model_tensor *wq = pq_model_find_tensor(a, "layers.1.wq"), *n = pq_model_find_tensor(a, "final_norm");
    cr_assert(wq && n);
    cr_expect_eq(wq->dims[0], 16); cr_expect_eq(wq->dims[1], 16);
    cr_expect_eq(n->param[0], 1.0f);
    double s2 = 0;
    for (int i = 0; i < wq->numel; i++) s2 += wq->param[i] * wq->param[i];
    cr_expect_lt(fabs(sqrt(s2 / wq->numel) - 0.02), 0.006);
    pq_model_free(a), pq_model_free(b), pq_model_free(c);
}

Test(model_forward, param_counts) {
    pq_model_config cfg = small_cfg(); /* hd 4, kv dim 8 */
    pq_param_counts p = pq_model_param_counts(&cfg);
    cr_expect_eq(p.embedding, 13 * 16);
    int64_t per_layer = 16 * 16 + 2 * 8 * 16 + 16 * 16 + 3 * 16 * 24;
    cr_expect_eq(p.block_linear, 2 * per_layer);
    cr_expect_eq(p.non_embedding, 2 * per_layer + 2 * 2 * 16 + 16);
    pq_model *m = pq_model_new(&cfg);
    cr_expect_eq(m->n_params, p.total);
    int64_t sum = 0;
    for (int i = 0; i < m->n_tensors; i++) sum += m->tensors[i].numel;
    cr_expect_eq(sum, p.total);
    int rows, cols;
    float *g;
    float *wk = pq_model_linear(m, 1, PQ_LIN_K, &rows, &cols, &g);
    cr_expect_eq(wk, pq_model_find_tensor(m, "layers.1.wk")->param);
    cr_expect_eq(rows, 8); cr_expect_eq(cols, 16);
    pq_model_free(m);
}

static char tmpdir[64];
static void mk(void) {
    strcpy(tmpdir, "/tmp/pq_model_XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}
static void rm(void) { pq_remove_tree(tmpdir); }

static char *write_tmp(const char *name, const char *text) {
    char *p = pq_path_join(tmpdir, name);
    cr_assert_eq(pq_write_file_atomic(p, text, strlen(text)), 0);
    return p;
}

Test(model_forward, config_file_parsing, .init = mk, .fini = rm) {
    pq_model_config m;
    pq_train_config t;
    char *ok = write_tmp("ok.json", "{\"model\": {\"dim\": 64, \"n_layers\": 2, \"n_heads\": 2, \"n_kv_heads\": 1,"
                                    " \"ffn_dim\": 128, \"vocab\": 300, \"ctx\": 32}, \"train\": {\"batch\": 4, \"lr\": 1e-3,"
                                    " \"tokens\": 1e5}}");
    cr_assert_eq(pq_config_load(ok, &m, &t, NULL), 0, "%s", pq_error());
    cr_expect_eq(m.dim, 64); cr_expect_eq(t.batch, 4); cr_expect_eq(t.tokens, 100000);
    cr_expect_float_eq(t.lr, 1e-3, 1e-12);
    cr_expect_float_eq(t.beta2, 0.95, 1e-12); /* default */
    char *typo = write_tmp("typo.json", "{\"model\": {\"dim\": 64, \"n_layers\": 2, \"n_heads\": 2, \"n_kv_heads\": 1,"
                                        " \"ffn_dim\": 128, \"vocab\": 300, \"ctx\": 32}, \"train\": {\"bacth\": 4}}");
    cr_expect_eq(pq_config_load(typo, &m, &t, NULL), -1);
    cr_expect(strstr(pq_error(), "bacth") && strstr(pq_error(), "typo.json"), "%s", pq_error());
    char *bad = write_tmp("bad.json", "{\"model\": {\"dim\": 60, \"n_layers\": 2, \"n_heads\": 8, \"n_kv_heads\": 1,"
                                      " \"ffn_dim\": 128, \"vocab\": 300, \"ctx\": 32}}");
    cr_expect_eq(pq_config_load(bad, &m, &t, NULL), -1);
    cr_expect(strstr(pq_error(), "n_heads"), "%s", pq_error());
    char *missing = write_tmp("missing.json", "{\"model\": {\"dim\": 64}}");
    cr_expect_eq(pq_config_load(missing, &m, &t, NULL), -1);
    cr_expect(strstr(pq_error(), "missing"), "%s", pq_error());
    free(ok), free(typo), free(bad), free(missing);
}

Test(model_forward, checkpoint_roundtrip, .init = mk, .fini = rm) {
    pq_model_config cfg = small_cfg();
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 11);
    char *path = pq_path_join(tmpdir, "model.ckpt");
    cr_assert_eq(pq_model_save(m, path, NULL), 0, "%s", pq_error());
    pq_model *back = pq_model_load(path);
    cr_assert(back, "%s", pq_error());
    cr_expect_eq(back->cfg.ffn_dim, 24);
    cr_expect_eq(memcmp(m->params, back->params, sizeof(float) * m->n_params), 0);
    /* a model of another shape refuses the file */
    pq_model_config other = cfg;
    other.ffn_dim = 32;
    pq_model *o = pq_model_new(&other);
    pq_ckpt *c = pq_ckpt_load(path);
    cr_expect_eq(pq_model_from_ckpt(o, c, path), -1);
    cr_expect(strstr(pq_error(), "w_gate"), "%s", pq_error());
    pq_ckpt_free(c);
    pq_model_free(o), pq_model_free(back), pq_model_free(m);
    free(path);
}
