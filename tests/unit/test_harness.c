#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "harness/check.h"
#include "harness/plan.h"
#include "harness/suite.h"

static char dir[64];
static void make_dir(void) {
    strcpy(dir, "/tmp/pq_harness_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void remove_dir(void) { pq_remove_tree(dir); }
TestSuite(harness, .init = make_dir, .fini = remove_dir);

static const char *VALID =
    "{\n"
    "  \"suite\": \"kernels\",\n"
    "  \"artifact\": \"Kernel table\",\n"
    "  \"title\": \"t\",\n"
    "  \"finding\": \"f\",\n"
    "  \"key\": [\"format\"],\n"
    "  \"tiers\": {\n"
    "    \"smoke\": {\"quick\": true},\n"
    "    \"small\": {\"quick\": \"yes\"},\n"
    "    \"full\": {}\n"
    "  },\n"
    "  \"tolerances\": {\"median_us\": {\"ratio\": 2}}\n"
    "}\n";

static void write_suite(const char *name, const char *text) {
    char file[128];
    snprintf(file, sizeof file, "%s.json", name);
    char *path = pq_path_join(dir, file);
    cr_assert_eq(pq_write_file_atomic(path, text, strlen(text)), 0);
    free(path);
}

Test(harness, loads_a_valid_suite_and_expands_it) {
    write_suite("kernels", VALID);
    pq_suite s;
    cr_assert_eq(pq_suite_load(&s, dir, "kernels", "smoke"), 0, "%s", pq_error());
    pq_plan plan;
    pq_plan_init(&plan, "/tmp/runs", "/tmp/data", "none");
    cr_assert_eq(pq_suite_expand(&s, &plan), 0, "%s", pq_error());
    cr_expect_eq(plan.count, 1);
    cr_expect_str_eq(plan.runs[0].kind, "bench_kernels");
    pq_plan_free(&plan);
    pq_suite_free(&s);
}

Test(harness, a_bad_field_is_named_with_its_line) {
    write_suite("kernels", VALID);
    pq_suite s;
    cr_assert_eq(pq_suite_load(&s, dir, "kernels", "small"), 0, "%s", pq_error());
    pq_plan plan;
    pq_plan_init(&plan, "/tmp/runs", "/tmp/data", "none");
    cr_expect_eq(pq_suite_expand(&s, &plan), -1);
    cr_expect(strstr(pq_error(), "kernels.json:9: tiers.small.quick") != NULL, "%s", pq_error());
    pq_plan_free(&plan);
    pq_suite_free(&s);
}

Test(harness, malformed_json_names_file_and_line) {
    write_suite("kernels", "{\n  \"suite\": \"kernels\",\n  \"tiers\": {,\n}\n");
    pq_suite s;
    cr_expect_eq(pq_suite_load(&s, dir, "kernels", "smoke"), -1);
    cr_expect(strstr(pq_error(), "kernels.json:3:") != NULL, "%s", pq_error());
    pq_suite_free(&s);
}

Test(harness, missing_tier_and_bad_tolerance_are_errors) {
    char *text = pq_strdup(VALID);
    char *full = strstr(text, "\"full\"");
    memcpy(full, "\"fuLL\"", 6);
    write_suite("kernels", text);
    pq_suite s;
    cr_expect_eq(pq_suite_load(&s, dir, "kernels", "smoke"), -1);
    cr_expect(strstr(pq_error(), "tiers.full") != NULL, "%s", pq_error());
    pq_suite_free(&s);
    free(text);

    text = pq_strdup(VALID);
    char *ratio = strstr(text, "\"ratio\"");
    memcpy(ratio, "\"ratii\"", 7);
    write_suite("kernels", text);
    cr_expect_eq(pq_suite_load(&s, dir, "kernels", "smoke"), -1);
    cr_expect(strstr(pq_error(), "kernels.json:12: tolerances.median_us") != NULL, "%s", pq_error());
    pq_suite_free(&s);
    free(text);
}

Test(harness, unknown_suite_and_tier) {
    pq_suite s;
    cr_expect_eq(pq_suite_load(&s, dir, "nosuch", "smoke"), -1);
    cr_expect(strstr(pq_error(), "unknown suite 'nosuch'") != NULL, "%s", pq_error());
    pq_suite_free(&s);
    write_suite("kernels", VALID);
    cr_expect_eq(pq_suite_load(&s, dir, "kernels", "huge"), -1);
    cr_expect(strstr(pq_error(), "unknown tier 'huge'") != NULL, "%s", pq_error());
    pq_suite_free(&s);
}

Test(harness, identical_runs_are_planned_once_and_ids_are_stable) {
    pq_plan a, b;
    pq_plan_init(&a, "/tmp/runs", "/tmp/data", "datahash");
    pq_plan_init(&b, "/tmp/runs", "/tmp/data", "datahash");
    int p1 = pq_plan_add0(&a, "pretrain", json_pack("{s:s, s:I}", "model", "tiny", "tokens", 1000));
    int p2 = pq_plan_add0(&a, "pretrain", json_pack("{s:I, s:s}", "tokens", 1000, "model", "tiny"));
    cr_expect_eq(p1, p2);
    int q1 = pq_plan_add1(&a, "qat", json_pack("{s:f}", "bits", 2.0), "from", p1);
    int q2 = pq_plan_add1(&a, "qat", json_pack("{s:f}", "bits", 3.0), "from", p1);
    cr_expect_neq(q1, q2);
    cr_expect_eq(a.count, 3);
    /* The same request in another plan gets the same id; different data does not. */
    int other = pq_plan_add0(&b, "pretrain", json_pack("{s:s, s:I}", "model", "tiny", "tokens", 1000));
    cr_expect_str_eq(a.runs[p1].id, b.runs[other].id);
    pq_plan c;
    pq_plan_init(&c, "/tmp/runs", "/tmp/data", "otherdata");
    int third = pq_plan_add0(&c, "pretrain", json_pack("{s:s, s:I}", "model", "tiny", "tokens", 1000));
    cr_expect_str_neq(a.runs[p1].id, c.runs[third].id);
    /* A QAT run's id depends on its parent's id. */
    int p3 = pq_plan_add0(&a, "pretrain", json_pack("{s:s, s:I}", "model", "tiny", "tokens", 2000));
    int q3 = pq_plan_add1(&a, "qat", json_pack("{s:f}", "bits", 2.0), "from", p3);
    cr_expect_str_neq(a.runs[q1].id, a.runs[q3].id);
    cr_expect(strstr(a.runs[q1].dir, "/tmp/runs/qat-") == a.runs[q1].dir);
    pq_plan_free(&a), pq_plan_free(&b), pq_plan_free(&c);
}

Test(harness, code_hash_depends_on_the_kind) {
    char pre[PQ_SHA256_HEX];
    snprintf(pre, sizeof pre, "%s", pq_code_hash("pretrain", 0));
    cr_expect_str_neq(pre, pq_code_hash("bench_kernels", 0));
    cr_expect_str_eq(pre, pq_code_hash("pretrain", 0));
}

/* A --device cuda run executes the GPU backend (the Makefile's "gpu" area: core/gpu and
 * the .cu files), so its code hash covers it and a GPU code change reruns it; a CPU run's
 * hash leaves it out (tests/integration/source_hashes.sh: a .cu edit moves only "gpu"). */
Test(harness, gpu_sources_count_for_cuda_runs_only) {
    static const char *kinds[] = {"pretrain", "qat", "ptq", "eval"};
    for (size_t i = 0; i < PQ_COUNT(kinds); i++) {
        char cpu[PQ_SHA256_HEX];
        snprintf(cpu, sizeof cpu, "%s", pq_code_hash(kinds[i], 0));
        cr_expect_str_neq(cpu, pq_code_hash(kinds[i], 1), "%s", kinds[i]);
    }
    pq_plan gpu, cpu;
    pq_plan_init(&gpu, "/tmp/runs", "/tmp/data", "datahash");
    pq_plan_init(&cpu, "/tmp/runs", "/tmp/data", "datahash");
    gpu.device = "cuda";
    int g = pq_plan_add0(&gpu, "pretrain", json_pack("{s:s, s:I}", "model", "tiny", "tokens", 1000));
    int c = pq_plan_add0(&cpu, "pretrain", json_pack("{s:s, s:I}", "model", "tiny", "tokens", 1000));
    char want[PQ_SHA256_HEX];
    snprintf(want, sizeof want, "%s", pq_code_hash("pretrain", 1));
    cr_expect_str_eq(pq_run_code_hash(&gpu.runs[g]), want);
    snprintf(want, sizeof want, "%s", pq_code_hash("pretrain", 0));
    cr_expect_str_eq(pq_run_code_hash(&cpu.runs[c]), want);
    /* kernels benchmarks take no --device: the CPU's hash even in a cuda plan */
    int k = pq_plan_add0(&gpu, "bench_kernels", json_pack("{s:s}", "model", "tiny"));
    snprintf(want, sizeof want, "%s", pq_code_hash("bench_kernels", 0));
    cr_expect_str_eq(pq_run_code_hash(&gpu.runs[k]), want);
    pq_plan_free(&gpu), pq_plan_free(&cpu);
}

Test(harness, tolerance_rules) {
    json_t *exact = json_pack("{s:b}", "exact", 1), *rel = json_pack("{s:f}", "rel", 0.02);
    json_t *abs_ = json_pack("{s:f}", "abs", 0.5), *se = json_pack("{s:f}", "stderr", 3.0);
    json_t *ratio = json_pack("{s:f}", "ratio", 2.0);
    cr_expect(pq_check_within(exact, 1, 1, 0, 0));
    cr_expect(!pq_check_within(exact, 1, 1.0000001, 0, 0));
    cr_expect(pq_check_within(rel, 100, 101.9, 0, 0));
    cr_expect(!pq_check_within(rel, 100, 102.1, 0, 0));
    cr_expect(pq_check_within(abs_, 1, 1.5, 0, 0));
    cr_expect(!pq_check_within(abs_, 1, 1.51, 0, 0));
    /* 3 combined standard errors of 0.03 and 0.04 = 0.15 */
    cr_expect(pq_check_within(se, 0.50, 0.64, 0.03, 0.04));
    cr_expect(!pq_check_within(se, 0.50, 0.66, 0.03, 0.04));
    cr_expect(pq_check_within(ratio, 100, 199, 0, 0));
    cr_expect(pq_check_within(ratio, 100, 51, 0, 0));
    cr_expect(!pq_check_within(ratio, 100, 49, 0, 0));
    json_decref(exact), json_decref(rel), json_decref(abs_), json_decref(se), json_decref(ratio);
}

Test(harness, check_reports_regressions_and_missing_rows) {
    json_t *ref = json_pack("{s:s, s:[s], s:{s:{s:f}}, s:[{s:s, s:f}, {s:s, s:f}]}", "suite", "x", "key", "model",
                            "tolerances", "val_loss", "rel", 0.01, "rows", "model", "a", "val_loss", 3.0, "model", "b",
                            "val_loss", 3.0);
    json_t *fresh = json_pack("{s:[s], s:{s:{s:f}}, s:[{s:s, s:f}, {s:s, s:f}]}", "key", "model", "tolerances",
                              "val_loss", "rel", 0.01, "rows", "model", "a", "val_loss", 3.01, "model", "c", "val_loss", 1.0);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    pq_check_summary sum = {0};
    pq_check_suite(ref, fresh, out, &sum);
    fclose(out);
    cr_expect_eq(sum.compared, 1);
    cr_expect_eq(sum.moved_within, 1);
    cr_expect_eq(sum.missing, 1, "row b is gone");
    cr_expect_eq(sum.regressions, 1);
    cr_expect_eq(sum.added, 1, "row c is new");
    cr_expect(strstr(buf, "REGRESSION") != NULL, "%s", buf);

    json_t *worse = json_pack("{s:[s], s:{s:{s:f}}, s:[{s:s, s:f}, {s:s, s:f}]}", "key", "model", "tolerances",
                              "val_loss", "rel", 0.01, "rows", "model", "a", "val_loss", 3.5, "model", "b", "val_loss", 3.0);
    pq_check_summary sum2 = {0};
    FILE *devnull = fopen("/dev/null", "w");
    pq_check_suite(ref, worse, devnull, &sum2);
    fclose(devnull);
    cr_expect_eq(sum2.regressions, 1);
    cr_expect_eq(sum2.missing, 0);
    free(buf);
    json_decref(ref), json_decref(fresh), json_decref(worse);
}
