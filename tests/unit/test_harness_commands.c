/* The commands the scheduler builds for runs: data paths by the model's vocabulary,
 * explicit learning rates, branch points. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "harness/plan.h"
#include "harness/scheduler.h"

/* The argument after `flag` in argv, or NULL. */
static const char *after(char **argv, const char *flag) {
    for (char **p = argv; *p; p++)
        if (!strcmp(*p, flag)) return p[1];
    return NULL;
}

static json_t *config(int vocab) {
    return json_pack("{s:{s:i}, s:{s:f}}", "model", "vocab", vocab, "train", "lr", 0.003);
}

Test(harness_commands, data_paths_follow_the_model_vocab) {
    pq_plan plan;
    pq_plan_init(&plan, "/tmp/runs", "/d", "h");
    int p8 = pq_plan_add0(&plan, "pretrain", json_pack("{s:s, s:o, s:I}", "model", "xs", "config", config(8192), "tokens", 10));
    int p4 = pq_plan_add0(&plan, "pretrain", json_pack("{s:s, s:o, s:I}", "model", "xs4k", "config", config(4096), "tokens", 10));
    int q4 = pq_plan_add1(&plan, "qat",
                          json_pack("{s:s, s:f, s:s, s:I, s:I}", "model", "xs4k", "bits", 2.0, "quantizer", "paretoq", "tokens", 5,
                                    "seed", 1),
                          "from", p4);
    int e4 = pq_plan_add1(&plan, "eval", json_pack("{s:[s]}", "tasks", "cloze"), "model", q4);
    int e8 = pq_plan_add1(&plan, "eval", json_pack("{s:[s]}", "tasks", "cloze"), "model", p8);
    char **c = pq_run_command(&plan, p8, "pq");
    cr_expect_str_eq(after(c, "--data"), "/d/shards");
    pq_free_argv(c);
    c = pq_run_command(&plan, p4, "pq");
    cr_expect_str_eq(after(c, "--data"), "/d/shards-4096");
    pq_free_argv(c);
    c = pq_run_command(&plan, q4, "pq");
    cr_expect_str_eq(after(c, "--data"), "/d/shards-4096");
    cr_expect_null(after(c, "--lr"));
    pq_free_argv(c);
    c = pq_run_command(&plan, e4, "pq");
    cr_expect_str_eq(after(c, "--tokenizer"), "/d/tokenizer-4096.bpe");
    pq_free_argv(c);
    c = pq_run_command(&plan, e8, "pq");
    cr_expect_str_eq(after(c, "--tokenizer"), "/d/tokenizer.bpe");
    pq_free_argv(c);
    pq_plan_free(&plan);
}
