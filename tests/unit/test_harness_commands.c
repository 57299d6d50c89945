/* The commands the scheduler builds for runs: data paths by the model's vocabulary,
 * explicit learning rates, branch points. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "harness/plan.h"
#include "harness/scheduler.h"
#include "harness/suite.h"

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

/* A tier beyond smoke/small/full (medium) loads where a suite defines it, and only there. */
Test(harness_commands, medium_tier_is_optional) {
    char dir[] = "/tmp/pq_medium_XXXXXX";
    cr_assert(mkdtemp(dir));
    const char *text = "{\"suite\": \"kernels\", \"artifact\": \"a\", \"title\": \"t\", \"finding\": \"f\", \"key\": [\"format\"],\n"
                       " \"tiers\": {\"smoke\": {}, \"small\": {}, \"full\": {}%s}, \"tolerances\": {}}\n";
    char body[512], path[64];
    snprintf(path, sizeof path, "%s/kernels.json", dir);
    for (int with = 0; with < 2; with++) {
        snprintf(body, sizeof body, text, with ? ", \"medium\": {\"quick\": true}" : "");
        cr_assert_eq(pq_write_file_atomic(path, body, strlen(body)), 0);
        pq_suite s;
        int rc = pq_suite_load(&s, dir, "kernels", "medium");
        if (with) {
            cr_expect_eq(rc, 0, "%s", pq_error());
            cr_expect(json_is_true(json_object_get(s.tier, "quick")));
            pq_suite_free(&s);
        } else {
            cr_expect_eq(rc, -1);
            cr_expect(strstr(pq_error(), "unknown tier 'medium'"), "%s", pq_error());
            pq_suite_free(&s); /* a failed load keeps what it read: freed, as the other callers do */
        }
    }
    pq_remove_tree(dir);
}

/* What both executors (scheduler.c, slurm.c) decide the same way: a run whose parent
 * failed or was skipped never runs, timing runs run alone, and a failure is reported
 * as two lines naming how it failed, its log's last line and the log's path. */
Test(harness_commands, blocked_exclusive_and_failure_report, .init = cr_redirect_stderr) {
    char root[] = "/tmp/pq_cmds_XXXXXX";
    cr_assert(mkdtemp(root));
    pq_plan plan;
    pq_plan_init(&plan, root, "/d", "h");
    int p = pq_plan_add0(&plan, "pretrain", json_pack("{s:s, s:o, s:I}", "model", "xs", "config", config(8192), "tokens", 10));
    int e = pq_plan_add1(&plan, "eval", json_pack("{s:[s]}", "tasks", "cloze"), "model", p);
    int d = pq_plan_add1(&plan, "decode", json_object(), "model", p);
    int k = pq_plan_add0(&plan, "bench_kernels", json_object());
    pq_run *pre = &plan.runs[p], *ev = &plan.runs[e];
    const pq_run_state blocks[] = {RUN_FAILED, RUN_SKIPPED}, passes[] = {RUN_PENDING, RUN_RUNNING, RUN_DONE};
    for (size_t i = 0; i < PQ_COUNT(blocks); i++) {
        pre->state = blocks[i];
        cr_expect(pq_run_blocked(&plan, ev));
    }
    for (size_t i = 0; i < PQ_COUNT(passes); i++) {
        pre->state = passes[i];
        cr_expect_not(pq_run_blocked(&plan, ev));
    }
    cr_expect_not(pq_run_blocked(&plan, pre), "a run without parents is never blocked");
    cr_expect(pq_run_exclusive(&plan.runs[d]) && pq_run_exclusive(&plan.runs[k]));
    cr_expect_not(pq_run_exclusive(pre) || pq_run_exclusive(ev));

    cr_assert_eq(pq_mkdirs(ev->dir), 0);
    char *log = pq_run_file(ev, "log.txt");
    const char *text = "step 1\nerror: eval.c: bad task\n\n";
    cr_assert_eq(pq_write_file_atomic(log, text, strlen(text)), 0);
    pq_run_report_failure(ev, "exit 1", 0);
    fflush(stderr);
    char want[1024];
    snprintf(want, sizeof want,
             "pq suite: eval run failed (exit 1): error: eval.c: bad task\n"
             "pq suite:   log: %s (to start this run over instead of resuming it: rm -r %s)\n",
             log, ev->dir);
    cr_expect_stderr_eq_str(want);
    pq_remove_tree(root);
    free(log);
    pq_plan_free(&plan);
}
