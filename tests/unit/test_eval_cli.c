/* `pq eval` end to end, in-process: a random model, a BPE tokenizer and task
 * files written to a temporary directory; the results file must hold exactly
 * what the library scores, and bad input must fail with a clear error. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "cli/cli.h"
#include "data/bpe.h"
#include "data/tasks.h"
#include "eval/bpe_tok.h"
#include "eval/mc.h"
#include "eval/model_lm.h"

static char dir[256], model_path[300], tok_path[300], out_path[300], data_dir[300];

static void put(const char *name, const char *text) {
    char *p = pq_path_join(dir, name);
    cr_assert_eq(pq_write_file_atomic(p, text, strlen(text)), 0, "%s", pq_error());
    free(p);
}

/* Byte-level BPE with a few merges (" t", "he", " the") so words span tokens. */
static pq_bpe *make_bpe(void) {
    int32_t merges[][2] = {{' ', 't'}, {'h', 'e'}, {258, 259}};
    return pq_bpe_from_merges((const int32_t(*)[2])merges, 3);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/pq-test-evalcli-%d", (int)getpid());
    pq_remove_tree(dir);
    snprintf(data_dir, sizeof data_dir, "%s/data", dir);
    cr_assert_eq(pq_mkdirs(data_dir), 0);
    snprintf(model_path, sizeof model_path, "%s/model.ckpt", dir);
    snprintf(tok_path, sizeof tok_path, "%s/data/tokenizer.bpe", dir);
    snprintf(out_path, sizeof out_path, "%s/out/results.json", dir);
    pq_bpe *b = make_bpe();
    cr_assert(b, "%s", pq_error());
    cr_assert_eq(pq_bpe_save(b, tok_path), 0, "%s", pq_error());
    pq_model_config cfg = {.dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 48,
                           .vocab = pq_bpe_vocab_size(b), .ctx = 24};
    pq_bpe_free(b);
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 7);
    for (int64_t i = 0; i < m->n_params; i++) m->params[i] *= 5.0f;
    cr_assert_eq(pq_model_save(m, model_path, NULL), 0, "%s", pq_error());
    pq_model_free(m);
    put("data/tasks/choice.jsonl",
        "{\"context\": \"Q: the cat sat on the\", \"choices\": [\"mat\", \"the hat\", \"tree\"], \"gold\": 0}\n"
        "{\"context\": \"the end of the\", \"choices\": [\"story\", \"the\"], \"gold\": 1}\n"
        "{\"context\": \"to be or not to\", \"choices\": [\"be\", \"the\", \"go\", \"sea\"], \"gold\": 0}\n");
    put("data/tasks/wino.jsonl",
        "{\"contexts\": [\"the cat chased the dog\", \"the dog chased the cat\"], \"continuation\": \"and it ran.\", "
        "\"gold\": 0}\n");
    /* A document far longer than the model's context (24 tokens). */
    char doc[2048] = "{\"text\": \"";
    for (int i = 0; i < 12; i++) strcat(doc, "the theory of the thing is that the\\nthe other ");
    strcat(doc, "end\"}\n{\"text\": \"short one\"}\n");
    put("data/tasks/heldout.jsonl", doc);
}

static void teardown(void) { pq_remove_tree(dir); }

static int run(int argc, const char **argv) { return cmd_eval(argc, (char **)argv); }

TestSuite(eval_cli, .init = setup, .fini = teardown);

/* What the command printed on a stream redirected by the test (cr_redirect_*):
 * the expected errors are checked here instead of alarming a reader of the log. */
static const char *captured(FILE *stream, FILE *redirected) {
    static char buf[4096];
    fflush(stream);
    size_t n = fread(buf, 1, sizeof buf - 1, redirected);
    buf[n] = 0;
    return buf;
}
#define CAPTURED_STDERR() captured(stderr, cr_get_redirected_stderr())

Test(eval_cli, results_match_the_library, .init = cr_redirect_stdout) {
    const char *argv[] = {"eval", "--model", model_path, "--tasks", "choice,wino,heldout", "--data-dir", data_dir,
                          "--out", out_path};
    cr_assert_eq(run(9, argv), 0);
    /* the table for a person: a row per task, "-" where nothing was measured */
    const char *table = captured(stdout, cr_get_redirected_stdout());
    cr_expect(strstr(table, "task ") && strstr(table, "acc_norm") && strstr(table, "perplexity set"), "%s", table);
    cr_expect(strstr(table, "\nchoice ") && strstr(table, "\nheldout "), "%s", table);
    const char *wino = strstr(table, "\nwino ");
    cr_expect(wino && strstr(wino, " -"), "%s", table); /* one item: no standard error */
    json_t *r = pq_json_read(out_path);
    cr_assert(r, "%s", pq_error());
    json_t *tasks = json_object_get(r, "tasks");
    cr_assert_eq(json_object_size(tasks), 3);
    cr_assert(json_is_true(json_object_get(json_object_get(r, "conventions"), "bos_before_context")));
    cr_assert(json_object_get(json_object_get(json_object_get(r, "manifest"), "inputs"), "model"));
    cr_assert(json_object_get(json_object_get(json_object_get(r, "manifest"), "inputs"), "task:wino"));
    json_t *choice = json_object_get(tasks, "choice");
    cr_assert_eq(json_integer_value(json_object_get(choice, "items")), 3);
    cr_assert_float_eq(json_real_value(json_object_get(choice, "chance_acc")), (1.0 / 3 + 1.0 / 2 + 1.0 / 4) / 3, 1e-15);
    /* The same numbers straight from the library. */
    pq_model *m = pq_eval_load_model(model_path, NULL);
    pq_bpe *b = pq_bpe_load(tok_path);
    pq_lm lm;
    pq_eval_tokenizer tok;
    pq_model_lm_init(&lm, m);
    pq_bpe_eval_tokenizer(&tok, b);
    char *tp = pq_path_join(data_dir, "tasks/choice.jsonl");
    pq_task *t = pq_task_load(tp);
    pq_mc_item items[3];
    for (int i = 0; i < 3; i++)
        items[i] = (pq_mc_item){1, (const char *const *)t->items[i].contexts, t->items[i].n_choices,
                                (const char *const *)t->items[i].choices, t->items[i].gold};
    pq_mc_stats st;
    cr_assert_eq(pq_mc_score(&lm, &tok, items, 3, NULL, &st, NULL, NULL), 0, "%s", pq_error());
    cr_assert_eq(json_real_value(json_object_get(choice, "acc")), st.acc);
    cr_assert_eq(json_real_value(json_object_get(choice, "acc_norm")), st.acc_norm);
    cr_assert_float_eq(json_real_value(json_object_get(choice, "acc_stderr")), st.acc_stderr, 1e-15);
    /* Shared contexts ran once. */
    cr_assert_lt(json_integer_value(json_object_get(choice, "tokens_forward")),
                 json_integer_value(json_object_get(choice, "tokens_without_prefix_sharing")));
    json_t *ppl = json_object_get(tasks, "heldout");
    cr_assert_gt(json_integer_value(json_object_get(ppl, "windows")), 2); /* longer than the context */
    double bpb = json_real_value(json_object_get(ppl, "bits_per_byte"));
    cr_assert(bpb > 0 && isfinite(bpb));
    cr_assert_float_eq(json_real_value(json_object_get(json_object_get(r, "perplexity"), "bits_per_byte")), bpb, 1e-12);
    pq_task_free(t);
    free(tp);
    lm.free(lm.impl);
    pq_bpe_free(b);
    pq_model_free(m);
    json_decref(r);
}

Test(eval_cli, bpe_continuation_tokens) {
    /* With the merges " t", "he", " the": ("the cat", " the") -> whole "the cat the"
     * = [t, he, ' ', c, a, t, ' the']; the context alone ends at 't', so the
     * continuation is the single token ' the' (id 260). A trailing space in the
     * context moves: ("the cat ", " the") -> continuation "  the" = [' ', ' the']. */
    pq_bpe *b = make_bpe();
    pq_eval_tokenizer tok;
    pq_bpe_eval_tokenizer(&tok, b);
    pq_mc_request req;
    cr_assert_eq(pq_mc_encode(&tok, 64, "the cat", " the", &req), 0, "%s", pq_error());
    cr_assert_eq(req.tokens[0], PQ_BPE_BOS);
    cr_assert_eq(req.n_score, 1);
    cr_assert_eq(req.tokens[req.n_tokens - 1], 260);
    free(req.tokens);
    cr_assert_eq(pq_mc_encode(&tok, 64, "the cat ", " the", &req), 0, "%s", pq_error());
    cr_assert_eq(req.n_score, 2);
    cr_assert_eq(req.tokens[req.n_tokens - 2], ' ');
    cr_assert_eq(req.tokens[req.n_tokens - 1], 260);
    free(req.tokens);
    pq_bpe_free(b);
}

Test(eval_cli, checkpoint_of_another_tokenizer_fails, .init = cr_redirect_stderr) {
    /* Same vocabulary size, different tokenizer: caught by the recorded hash. */
    pq_model *m = pq_eval_load_model(model_path, NULL);
    json_t *meta = json_pack("{s:s}", "vocab_hash", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    cr_assert_eq(pq_model_save(m, model_path, meta), 0);
    json_decref(meta);
    pq_model_free(m);
    const char *argv[] = {"eval", "--model", model_path, "--tasks", "choice", "--data-dir", data_dir, "--out", out_path};
    cr_assert_eq(run(9, argv), 1);
    cr_assert_not(pq_file_exists(out_path));
    const char *err = CAPTURED_STDERR();
    cr_expect(strstr(err, "model.ckpt: trained with tokenizer 0123456789ab"), "%s", err);
}

Test(eval_cli, unknown_task_is_a_usage_error, .exit_code = 2, .init = cr_redirect_stderr) {
    const char *argv[] = {"eval", "--model", model_path, "--tasks", "choice,hellaswag", "--data-dir", data_dir,
                          "--out", out_path};
    run(9, argv);
}

Test(eval_cli, vocab_mismatch_fails, .init = cr_redirect_stderr) {
    /* A tokenizer with one merge fewer than the model's vocabulary. */
    int32_t merges[][2] = {{' ', 't'}, {'h', 'e'}};
    pq_bpe *b = pq_bpe_from_merges((const int32_t(*)[2])merges, 2);
    char other[320];
    snprintf(other, sizeof other, "%s/other.bpe", dir);
    cr_assert_eq(pq_bpe_save(b, other), 0);
    pq_bpe_free(b);
    const char *argv[] = {"eval", "--model", model_path, "--tasks", "choice", "--data-dir", data_dir,
                          "--tokenizer", other, "--out", out_path};
    cr_assert_eq(run(11, argv), 1);
    cr_assert_not(pq_file_exists(out_path));
    const char *err = CAPTURED_STDERR();
    cr_expect(strstr(err, "does not match tokenizer"), "%s", err);
}

Test(eval_cli, malformed_item_and_bad_checkpoint_fail, .init = cr_redirect_stderr) {
    put("data/tasks/bad.jsonl", "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 7}\n");
    const char *argv[] = {"eval", "--model", model_path, "--tasks", "bad", "--data-dir", data_dir, "--out", out_path};
    cr_assert_eq(run(9, argv), 1);
    cr_assert_not(pq_file_exists(out_path));
    /* A truncated checkpoint. */
    size_t n;
    char *bytes = pq_read_file(model_path, &n);
    cr_assert_eq(pq_write_file_atomic(model_path, bytes, n / 2), 0);
    free(bytes);
    const char *argv2[] = {"eval", "--model", model_path, "--tasks", "choice", "--data-dir", data_dir, "--out", out_path};
    cr_assert_eq(run(9, argv2), 1);
    cr_assert_not(pq_file_exists(out_path));
    const char *err = CAPTURED_STDERR();
    cr_expect(strstr(err, "bad.jsonl:1: \"gold\" is 7") && strstr(err, "model.ckpt: truncated checkpoint"), "%s", err);
}
