/* Task resolution and whole-task runs on JSONL files, with a toy model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "base/fsio.h"
#include "eval/eval.h"
#include "eval_toy.h"

/* Character tokenizer over a small alphabet; bigram model that prefers 'b'
 * after a space (P = 1/2) and is uniform elsewhere. */
static const char *const chars[] = {" ", "a", "b", "c", "d", "e", "?", "."};
static toy_tok ctok = {chars, 8};
static double table[81];
static bigram bg;
static char dir[256];

static void put_file(const char *name, const char *text) {
    char *p = pq_path_join(dir, name);
    cr_assert_eq(pq_write_file_atomic(p, text, strlen(text)), 0, "%s", pq_error());
    free(p);
}

static void setup(void) {
    for (int p = 0; p < 9; p++)
        for (int n = 0; n < 9; n++) table[p * 9 + n] = p == 0 ? (n == 2 ? log(0.5) : log(0.5 / 8)) : -log(9.0);
    bg = (bigram){.V = 9, .table = table};
    snprintf(dir, sizeof dir, "/tmp/pq-test-eval-%d", (int)getpid());
    pq_remove_tree(dir);
    cr_assert_eq(pq_mkdirs(dir), 0);
    put_file("abc.jsonl", "{\"context\": \"a c\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n"
                       "{\"context\": \"a c\", \"choices\": [\"dd\", \"b\"], \"gold\": 0}\n");
    put_file("wino.jsonl", "{\"contexts\": [\"a b\", \"a c\"], \"continuation\": \"d.\", \"gold\": 1}\n");
    put_file("docs.jsonl", "{\"text\": \"abc abc\"}\n{\"text\": \"b\"}\n");
}

static void teardown(void) { pq_remove_tree(dir); }

TestSuite(eval_tasks, .init = setup, .fini = teardown);

Test(eval_tasks, resolves_builtin_names_paths_and_all) {
    char **names, **paths;
    int n;
    char ext[512];
    snprintf(ext, sizeof ext, "%s/wino.jsonl", dir);
    const char *specs[] = {"abc", ext};
    cr_assert_eq(pq_eval_resolve_tasks(specs, 2, dir, &names, &paths, &n), 0, "%s", pq_error());
    cr_assert_eq(n, 2);
    cr_assert_str_eq(names[0], "abc");
    cr_assert_str_eq(names[1], "wino");
    pq_eval_free_specs(names, paths, n);
    const char *all[] = {"all"};
    cr_assert_eq(pq_eval_resolve_tasks(all, 1, dir, &names, &paths, &n), 0, "%s", pq_error());
    cr_assert_eq(n, 3);
    cr_assert_str_eq(names[0], "abc");
    cr_assert_str_eq(names[1], "docs");
    pq_eval_free_specs(names, paths, n);
}

Test(eval_tasks, unknown_task_names_the_builtin_ones) {
    char **names, **paths;
    int n;
    const char *specs[] = {"abc", "hellaswag"};
    cr_assert_eq(pq_eval_resolve_tasks(specs, 2, dir, &names, &paths, &n), -1);
    cr_assert(strstr(pq_error(), "unknown task 'hellaswag'") && strstr(pq_error(), "abc, docs, wino"), "%s",
              pq_error());
    const char *dup[] = {"abc", "abc"};
    cr_assert_eq(pq_eval_resolve_tasks(dup, 2, dir, &names, &paths, &n), -1);
    cr_assert(strstr(pq_error(), "twice"), "%s", pq_error());
    const char *missing[] = {"/nonexistent/x.jsonl"};
    cr_assert_eq(pq_eval_resolve_tasks(missing, 1, dir, &names, &paths, &n), -1);
    cr_assert(strstr(pq_error(), "not found"), "%s", pq_error());
}

Test(eval_tasks, runs_every_kind) {
    pq_lm lm = bigram_lm(&bg, 16);
    pq_eval_tokenizer tok = toy_tokenizer(&ctok);
    char **names, **paths;
    int n;
    const char *all[] = {"all"};
    cr_assert_eq(pq_eval_resolve_tasks(all, 1, dir, &names, &paths, &n), 0);
    char *samples = pq_path_join(dir, "out/samples.jsonl");
    pq_eval_options opt = {.samples = samples};
    json_t *r = pq_eval_run(&lm, &tok, names, paths, n, &opt, NULL);
    cr_assert(r, "%s", pq_error());
    /* Item 0: " b" = 1 + 1 bits... both items: "b" after ' ' costs ln 2 plus the
     * space after c (ln 9); "c" and "dd" cost more, so item 0 is right (gold 0)
     * and item 1 wrong (gold 0 = "dd"). */
    json_t *abc = json_object_get(r, "abc");
    cr_assert_float_eq(json_real_value(json_object_get(abc, "acc")), 0.5, 1e-15);
    cr_assert_float_eq(json_real_value(json_object_get(abc, "acc_stderr")), 0.5, 1e-15);
    cr_assert_eq(json_integer_value(json_object_get(abc, "items")), 2);
    /* WinoGrande form: same continuation, both contexts end in a letter: equal
     * log-likelihoods, the tie goes to context 0, gold is 1. */
    json_t *wino = json_object_get(r, "wino");
    cr_assert_eq(json_real_value(json_object_get(wino, "acc")), 0.0);
    cr_assert(json_is_null(json_object_get(wino, "acc_stderr")));
    json_t *docs = json_object_get(r, "docs");
    cr_assert_eq(json_integer_value(json_object_get(docs, "tokens")), 8);
    cr_assert_eq(json_integer_value(json_object_get(docs, "words")), 3);
    cr_assert_eq(json_integer_value(json_object_get(docs, "bytes")), 8);
    /* "abc abc": a|BOS, b|a, c|b, ' '|c, a|' ', b|a, c|b: 6 x ln 9 + ln(1/16);
     * "b": b|BOS: ln 9. */
    double ll = -7 * log(9.0) + log(0.5 / 8);
    cr_assert_float_eq(json_real_value(json_object_get(docs, "loglik")), ll, 1e-9);
    cr_assert_float_eq(json_real_value(json_object_get(docs, "bits_per_byte")), -ll / 8 / log(2.0), 1e-12);
    json_decref(r);
    size_t len;
    char *s = pq_read_file(samples, &len);
    cr_assert(s, "%s", pq_error());
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += s[i] == '\n';
    cr_assert_eq(lines, 3); /* 2 + 1 multiple-choice items, no documents */
    free(s);
    free(samples);
    pq_eval_free_specs(names, paths, n);
}

Test(eval_tasks, bad_items_name_file_and_line) {
    pq_lm lm = bigram_lm(&bg, 16);
    pq_eval_tokenizer tok = toy_tokenizer(&ctok);
    put_file("bad.jsonl", "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 0}\n"
                       "{\"context\": \"a\", \"choices\": [\"b\", \"x\"], \"gold\": 0}\n");
    char *path = pq_path_join(dir, "bad.jsonl");
    char *names[] = {"bad"}, *paths[] = {path};
    pq_eval_options opt = {0};
    cr_assert_null(pq_eval_run(&lm, &tok, names, paths, 1, &opt, NULL));
    cr_assert(strstr(pq_error(), "bad.jsonl:2:"), "%s", pq_error());
    put_file("bad.jsonl", "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 5}\n");
    cr_assert_null(pq_eval_run(&lm, &tok, names, paths, 1, &opt, NULL));
    cr_assert(strstr(pq_error(), "bad.jsonl:1"), "%s", pq_error());
    free(path);
}
