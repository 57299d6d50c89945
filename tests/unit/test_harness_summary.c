/* The cost summary `pq suite run` opens with (harness/plan_summary.h): runs per kind and
 * training tokens per model config, of the runs not yet done. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "harness/plan.h"
#include "harness/plan_summary.h"
#include "harness/suite.h"

static char *summary(const pq_plan *p) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert(f);
    pq_plan_summary(p, f);
    fclose(f);
    return text;
}

Test(harness_summary, token_counts_read_short) {
    const struct { long long t; const char *want; } cases[] = {
        {0, "0"},           {999, "999"},         {40000, "40K"},         {480000, "480K"},
        {999499, "999K"},   {3320000, "3.32M"},   {80000000, "80.0M"},    {412000000, "412M"},
        {1412345678, "1,412M"}, {2000000000000LL, "2,000,000M"},
    };
    for (size_t i = 0; i < PQ_COUNT(cases); i++) {
        char buf[32];
        pq_format_tokens(cases[i].t, buf, sizeof buf);
        cr_expect_str_eq(buf, cases[i].want, "%lld", cases[i].t);
    }
}

/* Runs already done leave the counts; a QAT run without its own model name is its
 * parent's model's; a WSD branch counts only the decay it trains (its budget less
 * branch_step x batch x grad_accum x ctx tokens). */
Test(harness_summary, counts_what_is_left_per_kind_and_model) {
    pq_plan plan;
    pq_plan_init(&plan, "/tmp/pq_summary_runs", "/d", "h");
    json_t *cfg = json_pack("{s:{s:i}, s:{s:i, s:i}}", "model", "ctx", 8, "train", "batch", 2, "grad_accum", 3);
    int p = pq_plan_add0(&plan, "pretrain", json_pack("{s:s, s:I}", "model", "s", "tokens", 1000000));
    int done = pq_plan_add0(&plan, "pretrain", json_pack("{s:s, s:I}", "model", "s", "tokens", 7));
    int q = pq_plan_add1(&plan, "qat", json_pack("{s:f, s:I}", "bits", 2.0, "tokens", 500000), "from", p);
    pq_plan_add1(&plan, "ptq", json_pack("{s:s}", "method", "rtn"), "from", p);
    pq_plan_add1(&plan, "eval", json_object(), "model", q);
    pq_plan_add1(&plan, "eval", json_object(), "model", p);
    int b = pq_plan_add1(&plan, "pretrain", json_pack("{s:s, s:O, s:I, s:I}", "model", "m", "config", cfg, "tokens", 1000, "branch_step", 10),
                         "branch", p);
    pq_plan_add0(&plan, "bench_kernels", json_object());
    json_decref(cfg);
    cr_expect_eq(plan.runs[b].train_tokens, 1000 - 10 * 2 * 3 * 8);
    cr_expect_eq(plan.runs[q].train_tokens, 500000);
    plan.runs[done].state = RUN_DONE;
    char *text = summary(&plan);
    cr_expect_str_eq(text, "pq suite: 8 runs, 1 already done, 7 to run\n"
                           "pq suite: to run: 2 pretrain, 1 qat, 1 ptq, 2 eval, 1 bench_kernels\n"
                           "pq suite:   s: 1 pretrain 1.00M tokens, 1 qat 500K tokens\n"
                           "pq suite:   m: 1 pretrain 520 tokens\n"
                           "pq suite:   all models: 2 pretrain 1.00M tokens, 1 qat 500K tokens\n");
    free(text);
    for (int i = 0; i < plan.count; i++) plan.runs[i].state = RUN_DONE;
    text = summary(&plan);
    cr_expect_str_eq(text, "pq suite: 8 runs, 8 already done, 0 to run\n");
    free(text);
    pq_plan_free(&plan);
}

/* The repository's smoke tier (suites/<name>.json, model tiny), counted by hand:
 * pretrain: the shared 200K checkpoint and budget's 100K and 180K ones (480K tokens);
 * qat: budget 5 bit widths x {200K from scratch, 100K, 20K, 0} (1.6M tokens), tokens'
 * sweep 1.58/4 bits x {20K, 80K} from the checkpoint and from scratch (400K), 22
 * distinct 40K fine-tunes (quantfn's 21, whose 1-4-bit members are paretoq's, plus
 * pareto's 8-bit), transition's 3 equal-LR ones (1, 1.58, 2 bits) and 2 FP controls
 * (40K each: 27 x 40K = 1.08M), ternary's absmean from scratch (240K): 56 runs, 3.32M;
 * ptq: ternary rtn and baselines rtn/gptq at 2/3/4 bits (7); eval: budget 20, tokens 8
 * more, quantfn 21, pareto 2 (8 bits, FP), ternary 2 (rtn, absmean), baselines 6 (59);
 * decode at 2, 4, 16 bits (3); one kernel benchmark. 129 in all, as README says. */
Test(harness_summary, smoke_tier_totals) {
    pq_plan plan;
    pq_plan_init(&plan, "/tmp/pq_summary_no_runs", "/d", "none");
    for (int i = 0; i < pq_suite_count; i++) {
        pq_suite s;
        cr_assert_eq(pq_suite_load(&s, "suites", pq_suite_names[i], "smoke"), 0, "%s", pq_error());
        cr_assert_eq(pq_suite_expand(&s, &plan), 0, "%s", pq_error());
        pq_suite_free(&s);
    }
    char *text = summary(&plan);
    cr_expect_str_eq(text, "pq suite: 129 runs, 0 already done, 129 to run\n"
                           "pq suite: to run: 3 pretrain, 56 qat, 7 ptq, 59 eval, 3 decode, 1 bench_kernels\n"
                           "pq suite:   tiny: 3 pretrain 480K tokens, 56 qat 3.32M tokens\n");
    free(text);
    pq_plan_free(&plan);
}
