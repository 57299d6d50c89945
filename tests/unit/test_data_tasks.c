/* JSONL task files: the three item forms, write/load round trip, and malformed lines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/tasks.h"

static char tmpdir[256];
static void setup(void) {
    strcpy(tmpdir, "/tmp/pq-test-tasks-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}
static void teardown(void) { pq_remove_tree(tmpdir); }

static char *write_tmp(const char *name, const char *text) {
    char *p = pq_path_join(tmpdir, name);
    cr_assert_eq(pq_write_file_atomic(p, text, strlen(text)), 0);
    return p;
}

TestSuite(data_tasks, .init = setup, .fini = teardown);

Test(data_tasks, loads_multiple_choice) {
    char *p = write_tmp("arc_easy.jsonl",
                        "{\"id\": \"q1\", \"context\": \"Question: 2+2?\\nAnswer:\", \"choices\": [\"3\", \"4\", \"5\"], \"gold\": 1, \"extra\": 7}\n"
                        "\n"
                        "{\"context\": \"Sky is\", \"choices\": [\"blue\", \"green\"], \"gold\": 0}\n");
    pq_task *t = pq_task_load(p);
    cr_assert_not_null(t, "%s", pq_error());
    cr_assert_str_eq(t->name, "arc_easy");
    cr_assert_eq(t->kind, PQ_TASK_CHOICE);
    cr_assert_eq(t->n_items, 2);
    cr_assert_str_eq(t->items[0].id, "q1");
    cr_assert_str_eq(t->items[0].contexts[0], "Question: 2+2?\nAnswer:");
    cr_assert_eq(t->items[0].n_choices, 3);
    cr_assert_str_eq(t->items[0].choices[1], "4");
    cr_assert_eq(t->items[0].gold, 1);
    cr_assert_eq(t->items[1].line, 3);
    char *g = pq_task_item_gold_text(t, &t->items[1]);
    cr_assert_str_eq(g, "Sky is blue");
    free(g);
    pq_task_free(t);
    free(p);
}

Test(data_tasks, loads_wino_and_ppl) {
    char *p = write_tmp("wg.jsonl", "{\"contexts\": [\"Anna helped Bo because Anna\", \"Anna helped Bo because Bo\"], "
                                    "\"continuation\": \"was kind.\", \"gold\": 0}\n");
    pq_task *t = pq_task_load(p);
    cr_assert_not_null(t, "%s", pq_error());
    cr_assert_eq(t->kind, PQ_TASK_WINO);
    cr_assert_eq(t->items[0].n_contexts, 2);
    cr_assert_str_eq(t->items[0].choices[0], "was kind.");
    char *g = pq_task_item_gold_text(t, &t->items[0]);
    cr_assert_str_eq(g, "Anna helped Bo because Anna was kind.");
    free(g);
    pq_task_free(t);
    free(p);
    p = write_tmp("wikitext.jsonl", "{\"text\": \" = Article = \\n Body text .\"}\n{\"text\": \"two\"}\n");
    t = pq_task_load(p);
    cr_assert_not_null(t, "%s", pq_error());
    cr_assert_eq(t->kind, PQ_TASK_PPL);
    cr_assert_eq(t->n_items, 2);
    cr_assert_str_eq(t->items[1].contexts[0], "two");
    pq_task_free(t);
    free(p);
}

Test(data_tasks, write_then_load_round_trip) {
    pq_task *t = pq_task_new("mine", PQ_TASK_CHOICE);
    for (int i = 0; i < 5; i++) {
        char ctx[64];
        snprintf(ctx, sizeof ctx, "item \"%d\" \\ ünïcode", i);
        const char *ch[] = {"alpha", "beta\n", "gamma", "delta"};
        pq_task_add(t, i % 2 ? "odd" : NULL, 1, (const char *const[]){ctx}, 4, ch, i % 4);
    }
    char *p = pq_path_join(tmpdir, "mine.jsonl");
    cr_assert_eq(pq_task_write(t, p), 0, "%s", pq_error());
    pq_task *u = pq_task_load(p);
    cr_assert_not_null(u, "%s", pq_error());
    cr_assert_eq(u->n_items, 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_str_eq(u->items[i].contexts[0], t->items[i].contexts[0]);
        cr_assert_str_eq(u->items[i].id, t->items[i].id);
        cr_assert_eq(u->items[i].gold, i % 4);
        for (int c = 0; c < 4; c++) cr_assert_str_eq(u->items[i].choices[c], t->items[i].choices[c]);
    }
    pq_task_free(t);
    pq_task_free(u);
    free(p);
}

/* The error must name the file and the line, and say what is wrong. */
static void expect_error(const char *body, const char *line_tag, const char *what) {
    char *p = write_tmp("bad.jsonl", body);
    pq_task *t = pq_task_load(p);
    cr_assert_null(t, "should fail: %s", body);
    char want[512];
    snprintf(want, sizeof want, "bad.jsonl%s", line_tag);
    cr_assert(strstr(pq_error(), want), "'%s' not in: %s", want, pq_error());
    cr_assert(strstr(pq_error(), what), "'%s' not in: %s", what, pq_error());
    free(p);
}

#define OK "{\"context\": \"c\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n"

Test(data_tasks, malformed_lines_name_file_and_line) {
    expect_error(OK OK "{\"context\": \"c\", \"choices\": [\"a\", \"b\"], \"gold\": 0\n", ":3:", "invalid JSON");
    expect_error(OK "{\"context\": \"c\", \"choices\": [\"a\", \"b\"], \"gold\": 2}\n", ":2:", "outside 0..1");
    expect_error(OK "{\"context\": \"c\", \"choices\": [\"a\", \"b\"]}\n", ":2:", "missing \"gold\"");
    expect_error(OK "{\"context\": \"c\", \"choices\": [\"a\"], \"gold\": 0}\n", ":2:", "at least 2");
    expect_error(OK "{\"context\": \"c\", \"choices\": [\"a\", 3], \"gold\": 0}\n", ":2:", "not a string");
    expect_error(OK "{\"context\": \"c\", \"choices\": [\"a\", \"b\"], \"gold\": \"0\"}\n", ":2:", "integer");
    expect_error(OK "{\"context\": 5, \"choices\": [\"a\", \"b\"], \"gold\": 0}\n", ":2:", "\"context\" must be");
    expect_error(OK "{\"text\": \"doc\"}\n", ":2:", "ppl item in a file of choice items");
    expect_error(OK "{\"question\": \"q\"}\n", ":2:", "not a task item");
    expect_error(OK "[1, 2]\n", ":2:", "JSON object");
    expect_error("{\"contexts\": [\"x\"], \"continuation\": \"y\", \"gold\": 0}\n", ":1:", "at least 2");
    expect_error("\n\n", "", "no items");
    cr_assert_null(pq_task_load("/nonexistent/task.jsonl"));
    cr_assert(strstr(pq_error(), "/nonexistent/task.jsonl"));
}
