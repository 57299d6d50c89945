/* Rows merged over seeds and declared contrasts (harness/intervals.h), without
 * runs: rows whose metrics have no units take the seed spread alone; a side of
 * several rows (layers) makes each row a unit. Also the "ci" tolerance and the
 * expansion of a tier's seeds. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fsio.h"
#include "base/util.h"
#include "harness/check.h"
#include "harness/intervals.h"
#include "harness/plan.h"
#include "harness/stats.h"
#include "harness/suite.h"

static json_t *row(const char *model, double bits, long long seed, double val_loss) {
    return json_pack("{s:s, s:f, s:I, s:f, s:i, s:[s]}", "model", model, "bits", bits, "_seed", seed, "val_loss", val_loss,
                     "fp_tokens", 100, "run_ids", "x");
}

Test(intervals, seeds_merge_into_one_row_with_per_seed_values_and_t_intervals) {
    json_t *key = json_pack("[s, s]", "model", "bits");
    pq_seed_row rows[6];
    const double v2[] = {3.0, 3.2, 3.1}, v4[] = {2.0, 2.1, 2.3};
    for (int s = 0; s < 3; s++) {
        rows[2 * s] = (pq_seed_row){s + 1, row("xs", 2, s + 1, v2[s]), NULL, 1};
        rows[2 * s + 1] = (pq_seed_row){s + 1, row("xs", 4, s + 1, v4[s]), NULL, 1};
    }
    pq_row_group *groups;
    int ng;
    json_t *merged = pq_merge_seeds(rows, 6, key, &groups, &ng);
    cr_assert_eq(ng, 2);
    json_t *r2 = json_array_get(merged, 0);
    cr_expect(fabs(json_number_value(json_object_get(r2, "val_loss")) - 3.1) < 1e-12);
    cr_expect(json_is_integer(json_object_get(r2, "fp_tokens")), "a field equal over seeds is kept as it is");
    cr_expect_eq(json_array_size(json_object_get(r2, "seeds")), 3);
    cr_expect_eq(json_array_size(json_object_get(r2, "run_ids")), 3);
    cr_expect(!json_object_get(r2, "_seed"));
    json_t *ps = json_object_get(json_object_get(r2, "per_seed"), "val_loss");
    cr_expect(json_array_size(ps) == 3 && json_real_value(json_array_get(ps, 1)) == 3.2);
    /* no units: mean ± t(2) · sd / sqrt(3) = 3.1 ± 4.302653 · 0.1 / sqrt(3) */
    json_t *ci = json_object_get(json_object_get(r2, "ci95"), "val_loss");
    double half = 4.302653 * 0.1 / sqrt(3.0);
    cr_expect(fabs(json_number_value(json_array_get(ci, 0)) - (3.1 - half)) < 1e-5);

    json_t *decls = json_pack("[{s:s, s:s, s:[s], s:{s:i}, s:{s:i}}]", "name", "two_vs_four", "metric", "val_loss",
                              "for_each", "model", "a", "bits", 2, "b", "bits", 4);
    json_t *out = pq_contrasts_compute(decls, key, groups, ng, "row");
    cr_assert_eq(json_array_size(out), 1);
    json_t *c = json_array_get(out, 0);
    /* d_s = 1.0, 1.1, 0.8: effect 0.9667, se_seeds = sd / sqrt(3) */
    double d[] = {1.0, 1.1, 0.8}, m = (d[0] + d[1] + d[2]) / 3, ss = 0;
    for (int s = 0; s < 3; s++) ss += (d[s] - m) * (d[s] - m);
    double se = sqrt(ss / 2) / sqrt(3.0);
    cr_expect(fabs(json_number_value(json_object_get(c, "effect")) - m) < 1e-12);
    cr_expect(fabs(json_number_value(json_object_get(c, "se_seeds")) - se) < 1e-12);
    cr_expect(json_is_null(json_object_get(c, "unit")));
    cr_expect_str_eq(json_string_value(json_object_get(c, "verdict_hint")), "b_better", "4-bit's loss is lower");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(c, "where"), "model")), "xs");
    cr_expect_eq(json_integer_value(json_object_get(c, "n_seeds")), 3);
    json_decref(out), json_decref(decls);
    pq_row_groups_free(groups, ng);
    json_decref(merged);
    for (int i = 0; i < 6; i++) json_decref(rows[i].row);
    json_decref(key);
}

Test(intervals, rows_of_one_seed_sharing_a_key_stay_apart) {
    json_t *key = json_pack("[s]", "model");
    pq_seed_row rows[4];
    for (int i = 0; i < 4; i++) rows[i] = (pq_seed_row){1 + i / 2, row("xs", 2, 1 + i / 2, i), NULL, 1};
    pq_row_group *groups;
    int ng;
    json_t *merged = pq_merge_seeds(rows, 4, key, &groups, &ng);
    cr_expect_eq(ng, 2, "the first and the second row of each seed are two configurations");
    cr_expect(fabs(json_number_value(json_object_get(json_array_get(merged, 0), "val_loss")) - 1.0) < 1e-12);
    cr_expect(fabs(json_number_value(json_object_get(json_array_get(merged, 1), "val_loss")) - 2.0) < 1e-12);
    pq_row_groups_free(groups, ng);
    json_decref(merged);
    for (int i = 0; i < 4; i++) json_decref(rows[i].row);
    json_decref(key);
}

Test(intervals, a_side_of_several_rows_makes_each_row_a_unit_and_max_picks_by_rank) {
    json_t *key = json_pack("[s, s, s]", "model", "bits", "layer");
    pq_seed_row rows[8];
    int n = 0;
    for (int bits = 2; bits <= 3; bits++)
        for (int layer = 0; layer < 4; layer++) {
            json_t *r = json_pack("{s:s, s:i, s:i, s:i, s:f, s:[]}", "model", "xs", "bits", bits, "layer", layer, "_seed", 1,
                                  "rel_l1", (bits == 2 ? 0.4 : 0.1) + 0.01 * layer, "run_ids");
            rows[n] = (pq_seed_row){1, r, NULL, 1}, n++;
        }
    pq_row_group *groups;
    int ng;
    json_t *merged = pq_merge_seeds(rows, n, key, &groups, &ng);
    cr_assert_eq(ng, 8);
    json_t *decls = json_pack("[{s:s, s:s, s:[s], s:{s:s}, s:{s:i}, s:s}]", "name", "t", "metric", "rel_l1", "for_each",
                              "model", "a", "bits", "$max", "b", "bits", 2, "better", "higher");
    json_t *out = pq_contrasts_compute(decls, key, groups, ng, "layer");
    cr_assert_eq(json_array_size(out), 1);
    json_t *c = json_array_get(out, 0);
    cr_expect(fabs(json_number_value(json_object_get(c, "effect")) + 0.3) < 1e-12, "3-bit minus 2-bit");
    cr_expect_str_eq(json_string_value(json_object_get(c, "unit")), "layer");
    cr_expect_eq(json_integer_value(json_object_get(c, "n_units")), 8);
    cr_expect(json_is_false(json_object_get(c, "paired")));
    cr_expect(json_object_get(json_object_get(c, "a"), "layer") == NULL, "the side's key: the fields its rows share");
    cr_expect_str_eq(json_string_value(json_object_get(c, "verdict_hint")), "b_better");
    json_decref(out), json_decref(decls);
    pq_row_groups_free(groups, ng);
    json_decref(merged);
    for (int i = 0; i < n; i++) json_decref(rows[i].row);
    json_decref(key);
}

Test(intervals, ci_tolerance_follows_the_stored_interval) {
    json_t *rule = json_pack("{s:f}", "ci", 2.0), *with_rel = json_pack("{s:f, s:f}", "ci", 1.0, "rel", 0.5);
    cr_expect(pq_check_within_noise(rule, 1.0, 1.19, 0, 0, 0.1));
    cr_expect(!pq_check_within_noise(rule, 1.0, 1.21, 0, 0, 0.1));
    cr_expect(!pq_check_within_noise(rule, 1.0, 1.01, 0, 0, NAN), "no interval, no other rule: must be unchanged");
    cr_expect(pq_check_within_noise(with_rel, 1.0, 1.4, 0, 0, NAN), "no interval: the rule's other kind");
    cr_expect(!pq_check_within_noise(with_rel, 1.0, 1.4, 0, 0, 0.1));
    json_t *ref = json_pack("{s:[s], s:{s:{s:f}}, s:[{s:s, s:f, s:{s:[f,f]}}]}", "key", "model", "tolerances", "val_loss",
                            "ci", 1.0, "rows", "model", "a", "val_loss", 3.0, "ci95", "val_loss", 2.9, 3.1);
    json_t *fresh = json_pack("{s:[s], s:{s:{s:f}}, s:[{s:s, s:f}]}", "key", "model", "tolerances", "val_loss", "ci", 1.0,
                              "rows", "model", "a", "val_loss", 3.15);
    FILE *devnull = fopen("/dev/null", "w");
    pq_check_summary sum = {0};
    pq_check_suite(ref, fresh, devnull, &sum);
    cr_expect_eq(sum.regressions, 1, "0.15 beyond the half-width 0.1");
    json_object_set_new(json_array_get(json_object_get(fresh, "rows"), 0), "val_loss", json_real(3.05));
    pq_check_summary sum2 = {0};
    pq_check_suite(ref, fresh, devnull, &sum2);
    cr_expect_eq(sum2.regressions, 0);
    /* Both rows with an interval: the difference of two noisy estimates spans
     * sqrt(0.1^2 + 0.1^2) = 0.141, so 0.13 is noise and 0.15 is not. */
    json_t *row = json_array_get(json_object_get(fresh, "rows"), 0);
    json_object_set_new(row, "ci95", json_pack("{s:[f,f]}", "val_loss", 3.03, 3.23));
    json_object_set_new(row, "val_loss", json_real(3.13));
    pq_check_summary sum3 = {0};
    pq_check_suite(ref, fresh, devnull, &sum3);
    cr_expect_eq(sum3.regressions, 0, "0.13 within the difference's half-width 0.141");
    json_object_set_new(row, "val_loss", json_real(3.15));
    pq_check_summary sum4 = {0};
    pq_check_suite(ref, fresh, devnull, &sum4);
    cr_expect_eq(sum4.regressions, 1, "0.15 beyond 0.141");
    fclose(devnull);
    json_decref(rule), json_decref(with_rel), json_decref(ref), json_decref(fresh);
}

/* ---- seeds in a suite file ---------------------------------------------------------- */

static char dir[64];
static void make_dir(void) {
    strcpy(dir, "/tmp/pq_intervals_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void remove_dir(void) { pq_remove_tree(dir); }

static const char *SUITE =
    "{\n"
    "  \"suite\": \"transition\", \"artifact\": \"Fig. 4\", \"title\": \"t\", \"finding\": \"f\",\n"
    "  \"key\": [\"model\", \"bits\", \"layer\", \"which\"],\n"
    "  \"tiers\": {\n"
    "    \"smoke\": {\"models\": [\"tiny\"], %s, \"tasks\": [\"cloze\"], \"pretrain_tokens\": 1000,\n"
    "              \"qat_tokens\": 100, \"bits\": [2, 3]},\n"
    "    \"small\": {}, \"full\": {}\n"
    "  },\n"
    "  \"contrasts\": [\n"
    "    {\"name\": \"ok\", \"metric\": \"rel_l1\", \"for_each\": [\"model\"], \"a\": {\"bits\": 2}, \"b\": {\"bits\": 3}},\n"
    "    %s\n"
    "  ],\n"
    "  \"tolerances\": {\"rel_l1\": {\"ci\": 1, \"rel\": 0.05}}\n"
    "}\n";

static int load(pq_suite *s, const char *seeds, const char *contrast) {
    char text[4096];
    snprintf(text, sizeof text, SUITE, seeds, contrast);
    char *path = pq_path_join(dir, "transition.json");
    cr_assert_eq(pq_write_file_atomic(path, text, strlen(text)), 0);
    free(path);
    char models[256];
    snprintf(models, sizeof models, "%s/models", dir);
    mkdir(models, 0755);
    char *tiny = pq_path_join(models, "tiny.json");
    const char *cfg = "{\"model\": {\"dim\": 64, \"n_layers\": 2, \"n_heads\": 2, \"n_kv_heads\": 1, \"ffn_dim\": 176, "
                      "\"vocab\": 8192, \"ctx\": 64}, \"train\": {\"eval_tokens\": 2048}}";
    cr_assert_eq(pq_write_file_atomic(tiny, cfg, strlen(cfg)), 0);
    free(tiny);
    return pq_suite_load(s, dir, "transition", "smoke");
}

Test(intervals, a_tier_runs_every_configuration_once_per_seed, .init = make_dir, .fini = remove_dir) {
    pq_suite s;
    const char *extra = "{\"name\": \"ok2\", \"metric\": \"rel_l1\", \"a\": {\"bits\": 2}, \"b\": {\"bits\": \"$max\"}}";
    cr_assert_eq(load(&s, "\"seeds\": [1, 2, 3]", extra), 0, "%s", pq_error());
    pq_plan plan;
    pq_plan_init(&plan, dir, dir, "none");
    cr_assert_eq(pq_suite_expand(&s, &plan), 0, "%s", pq_error());
    cr_expect_eq(plan.count, 3 * 3, "per seed: one pretrain, two QAT runs");
    cr_expect_eq(json_array_size(s.rows), 6);
    int seeds[4] = {0};
    for (int i = 0; i < plan.count; i++) seeds[json_integer_value(json_object_get(plan.runs[i].args, "seed"))]++;
    cr_expect(seeds[1] == 3 && seeds[2] == 3 && seeds[3] == 3);
    pq_plan_free(&plan);
    pq_suite_free(&s);

    cr_assert_eq(load(&s, "\"seed\": 4, \"seeds\": [1]", extra), 0, "%s", pq_error());
    pq_plan_init(&plan, dir, dir, "none");
    cr_expect_eq(pq_suite_expand(&s, &plan), -1);
    cr_expect(strstr(pq_error(), "tiers.smoke.seeds: give \"seeds\" or \"seed\", not both") != NULL, "%s", pq_error());
    pq_plan_free(&plan);
    pq_suite_free(&s);
}

Test(intervals, bad_contrast_declarations_name_file_line_and_field, .init = make_dir, .fini = remove_dir) {
    static const struct { const char *decl, *error; } cases[] = {
        {"{\"name\": \"x\", \"metric\": \"rel_l1\", \"a\": {\"bitz\": 2}, \"b\": {\"bits\": 3}}",
         "transition.json:11: contrasts[1] (x).a: 'bitz' is not one of the suite's key fields"},
        {"{\"name\": \"ok\", \"metric\": \"rel_l1\", \"a\": {\"bits\": 2}, \"b\": {\"bits\": 4}}",
         "contrasts[1] (ok).name: is used by an earlier contrast"},
        {"{\"name\": \"x\", \"metric\": \"acc.nope\", \"a\": {\"bits\": 2}, \"b\": {\"bits\": 3}}",
         "contrasts[1] (x).metric: names a task the tier does not evaluate"},
        {"{\"name\": \"x\", \"metric\": \"rel_l1\", \"for_each\": [\"bits\"], \"a\": {\"bits\": 2}, \"b\": {\"bits\": 3}}",
         "contrasts[1] (x).a: 'bits' is in for_each"},
        {"{\"name\": \"x\", \"metric\": \"rel_l1\", \"a\": {\"bits\": 2}, \"b\": {\"bits\": 2}}",
         "contrasts[1] (x).b: selects the same rows as a"},
        {"{\"name\": \"x\", \"metric\": \"rel_l1\", \"a\": {\"bits\": \"$top\"}, \"b\": {\"bits\": 2}}",
         "contrasts[1] (x).a: a value by rank is"},
        {"{\"name\": \"x\", \"metric\": \"rel_l1\", \"a\": {\"bits\": 1}, \"b\": {\"bits\": 2}, \"better\": \"up\"}",
         "contrasts[1] (x).better: must be \"lower\" or \"higher\""},
        {"{\"name\": \"x\", \"metrc\": \"rel_l1\", \"a\": {\"bits\": 1}, \"b\": {\"bits\": 2}}", "contrasts[1] (x).metrc: unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pq_suite s;
        cr_expect_eq(load(&s, "\"seed\": 1", cases[i].decl), -1, "case %zu loaded", i);
        cr_expect(strstr(pq_error(), cases[i].error) != NULL, "case %zu: %s", i, pq_error());
        cr_expect(strchr(pq_error(), '\n') == NULL);
        pq_suite_free(&s);
    }
}
