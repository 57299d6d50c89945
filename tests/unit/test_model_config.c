/* Config validation: every size bounded and computed without overflow (issue 14, defect 1). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/util.h"
#include "model/config.h"
#include "model/model.h"

static char tmpdir[64];
static void mk(void) {
    strcpy(tmpdir, "/tmp/pq_config_XXXXXX");
    cr_assert(mkdtemp(tmpdir));
}
static void rm(void) { pq_remove_tree(tmpdir); }

/* Writes text to tmpdir/cfg.json and loads it; returns pq_config_load's result. */
static int load_text(const char *text, pq_model_config *m, pq_train_config *t) {
    char *p = pq_path_join(tmpdir, "cfg.json");
    cr_assert_eq(pq_write_file_atomic(p, text, strlen(text)), 0);
    int rc = pq_config_load(p, m, t, NULL);
    free(p);
    return rc;
}

static void expect_error(const char *a, const char *b) {
    cr_expect(strstr(pq_error(), a) != NULL, "error lacks '%s': %s", a, pq_error());
    if (b) cr_expect(strstr(pq_error(), b) != NULL, "error lacks '%s': %s", b, pq_error());
    cr_expect(strchr(pq_error(), '\n') == NULL, "error is not one line: %s", pq_error());
}

static pq_model_config llama7b(void) {
    return (pq_model_config){.dim = 4096, .n_layers = 32, .n_heads = 32, .n_kv_heads = 8, .ffn_dim = 11008, .vocab = 32000,
                             .ctx = 4096};
}

/* The config of issue 14: pq_model_new computed its sizes in unchecked int and overran the heap. */
Test(model_config, issue_config_is_refused_naming_file_and_field, .init = mk, .fini = rm) {
    pq_model_config m;
    pq_train_config t;
    cr_assert_eq(load_text("{\"model\": {\"dim\": 1073741824, \"n_layers\": 1, \"n_heads\": 4, \"n_kv_heads\": 1, "
                           "\"ffn_dim\": 536868180, \"vocab\": 8197, \"ctx\": 1}, \"train\": {\"batch\": 1, \"tokens\": 100, "
                           "\"eval_tokens\": 10, \"eval_interval\": 0}}",
                           &m, &t),
                 -1);
    expect_error("cfg.json: model", "dim 1073741824");
}

Test(model_config, every_field_has_an_upper_bound) {
    struct {
        const char *field;
        pq_model_config c;
    } cases[] = {
        {"dim", {.dim = PQ_MAX_WIDTH * 2, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab = 8, .ctx = 8}},
        {"ffn_dim", {.dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = INT_MAX, .vocab = 8, .ctx = 8}},
        {"ctx", {.dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab = 8, .ctx = PQ_MAX_WIDTH + 1}},
        {"n_layers", {.dim = 8, .n_layers = PQ_MAX_LAYERS + 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab = 8, .ctx = 8}},
        {"vocab", {.dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab = PQ_MAX_VOCAB + 1, .ctx = 8}},
    };
    for (size_t i = 0; i < PQ_COUNT(cases); i++) {
        cr_expect_eq(pq_model_config_check(&cases[i].c), -1, "%s passed", cases[i].field);
        expect_error(cases[i].field, "exceeds the limit");
    }
}

/* An imported LLaMA-3 (vocab 128256) is a valid model that pq eval and pq generate
 * score with int32 ids; the training forward, which reads uint16 tokens, refuses it. */
Test(model_config, vocab_above_uint16_is_a_model_but_not_trainable) {
    pq_model_config c = {.dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab = 128256, .ctx = 8};
    cr_expect_eq(pq_model_config_check(&c), 0, "%s", pq_error());
    cr_expect_eq(pq_acts_check(&c, 1, 8), -1);
    expect_error("uint16", NULL);
    c.vocab = PQ_MAX_TRAIN_VOCAB;
    cr_expect_eq(pq_acts_check(&c, 1, 8), 0, "%s", pq_error());
}

Test(model_config, matrices_and_total_parameters_are_bounded) {
    /* Each field within bounds, but tok_emb would have 2^36 elements. */
    pq_model_config wide = {.dim = PQ_MAX_WIDTH, .n_layers = 1, .n_heads = 1024, .n_kv_heads = 1, .ffn_dim = 8,
                            .vocab = 65536, .ctx = 8};
    cr_expect_eq(pq_model_config_check(&wide), -1);
    expect_error("tok_emb", NULL);
    /* Every matrix below 2^31 elements, but 4096 layers of them: ~2^42 parameters. */
    pq_model_config deep = {.dim = 32768, .n_layers = PQ_MAX_LAYERS, .n_heads = 256, .n_kv_heads = 256, .ffn_dim = 32768,
                            .vocab = 256, .ctx = 8};
    cr_expect_eq(pq_model_config_check(&deep), -1);
    expect_error("parameters exceed the limit", NULL);
    /* A 7B LLaMA shape is within every bound, and its count is what pq_model_param_counts says. */
    pq_model_config big = llama7b();
    cr_expect_eq(pq_model_config_check(&big), 0, "%s", pq_error());
    cr_expect_lt(pq_model_param_counts(&big).total, PQ_MAX_PARAMS);
}

Test(model_config, activations_are_bounded) {
    pq_model_config big = llama7b();
    /* 8 x 4096 tokens: 32 layers of 8 x 32 x 4096^2 attention probabilities alone are 512 GiB. */
    cr_expect_eq(pq_acts_check(&big, 8, 4096), -1);
    expect_error("batch 8 x 4096 tokens", "GiB");
    cr_expect_eq(pq_acts_check(&big, 1, 256), 0, "%s", pq_error());
    /* Sizes that wrap size_t arithmetic (2047 x 2^19 heads x 2^40 attention scores) saturate
     * and are refused, never allocated. */
    pq_model_config many_heads = {.dim = PQ_MAX_WIDTH, .n_layers = 1, .n_heads = PQ_MAX_WIDTH / 2,
                                  .n_kv_heads = PQ_MAX_WIDTH / 2, .ffn_dim = 8, .vocab = 8, .ctx = PQ_MAX_WIDTH};
    cr_expect_eq(pq_acts_check(&many_heads, 2047, PQ_MAX_WIDTH), -1);
    expect_error("overflows", NULL);
    pq_model_config tiny = {.dim = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 8, .vocab = 8, .ctx = PQ_MAX_WIDTH};
    cr_expect_eq(pq_acts_check(&tiny, INT_MAX, PQ_MAX_WIDTH), -1);
    expect_error("positions", NULL);
    cr_expect_eq(pq_acts_check(&tiny, 0, 8), -1);
    cr_expect_eq(pq_acts_check(&tiny, 1, 8), 0, "%s", pq_error());
}

Test(model_config, train_batch_is_checked_against_memory, .init = mk, .fini = rm) {
    pq_model_config m;
    pq_train_config t;
    cr_expect_eq(load_text("{\"model\": {\"dim\": 64, \"n_layers\": 2, \"n_heads\": 2, \"n_kv_heads\": 1, \"ffn_dim\": 128, "
                           "\"vocab\": 300, \"ctx\": 4096}, \"train\": {\"batch\": 100000}}",
                           &m, &t),
                 -1);
    expect_error("cfg.json: train", "batch 100000");
}

Test(model_config, integers_out_of_range_are_errors_not_conversions, .init = mk, .fini = rm) {
    pq_model_config m;
    pq_train_config t;
    const char *model = "\"model\": {\"dim\": 64, \"n_layers\": 2, \"n_heads\": 2, \"n_kv_heads\": 1, \"ffn_dim\": 128, "
                        "\"vocab\": 300, \"ctx\": 32}";
    char text[512];
    /* 1e300 as a real: converting it to an integer type would be undefined behaviour. */
    snprintf(text, sizeof text, "{%s, \"train\": {\"tokens\": 1e300}}", model);
    cr_expect_eq(load_text(text, &m, &t), -1);
    expect_error("tokens", "non-negative integer");
    snprintf(text, sizeof text, "{%s, \"train\": {\"batch\": 3000000000}}", model);
    cr_expect_eq(load_text(text, &m, &t), -1);
    expect_error("batch", "too large");
    snprintf(text, sizeof text, "{%s, \"train\": {\"tokens\": 2.5}}", model);
    cr_expect_eq(load_text(text, &m, &t), -1);
    expect_error("tokens", NULL);
    snprintf(text, sizeof text, "{%s, \"train\": {\"tokens\": 4e6}}", model);
    cr_expect_eq(load_text(text, &m, &t), 0, "%s", pq_error());
    cr_expect_eq(t.tokens, 4000000);
}

/* Found by tests/fuzz/fuzz_config.c: the message named a key of the JSON it had just freed. */
Test(model_config, unknown_top_level_key_is_named, .init = mk, .fini = rm) {
    pq_model_config m;
    pq_train_config t;
    cr_expect_eq(load_text("{\"name\": \"x\", \"modell\": {\"dim\": 64}}", &m, &t), -1);
    expect_error("unknown key \"modell\"", "expected model, train");
}
