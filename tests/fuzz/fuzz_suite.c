/* fuzz_suite.c — suite files (pq_suite_load, harness/suite.c; then the
 * expander and the aggregation, which read the tier's parameters and the
 * file's contrasts).
 *
 * Input: one byte choosing the suite name (its expander), one byte choosing the
 * tier, then the JSON text of suites/<name>.json. Nothing is run: the plan's
 * runs are all pending, so aggregation sees every row incomplete. */
#include "harness/plan.h"
#include "harness/suite.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 2) return 0;
    static const char *const tiers[] = {"smoke", "small", "full"};
    const char *name = pq_suite_names[data[0] % pq_suite_count];
    const char *tier = tiers[data[1] % 3];
    char file[64];
    snprintf(file, sizeof file, "%s.json", name);
    fuzz_file(file, data + 2, n - 2);
    pq_suite s;
    if (pq_suite_load(&s, fuzz_dir(), name, tier) != 0) {
        FUZZ_CHECK(pq_error()[0]);
        pq_suite_free(&s);
        return 0;
    }
    char runs[4200];
    snprintf(runs, sizeof runs, "%s/runs", fuzz_dir());
    pq_plan plan;
    pq_plan_init(&plan, runs, fuzz_dir(), "none");
    if (pq_suite_expand(&s, &plan) == 0) {
        json_decref(pq_suite_aggregate(&s, &plan));
    } else {
        FUZZ_CHECK(pq_error()[0]);
    }
    pq_plan_free(&plan);
    pq_suite_free(&s);
    return 0;
}
