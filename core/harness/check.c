#include "harness/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "harness/results_io.h"

int pq_check_within(const json_t *rule, double ref, double fresh, double se_ref, double se_fresh) {
    return pq_check_within_noise(rule, ref, fresh, se_ref, se_fresh, NAN);
}

int pq_check_within_noise(const json_t *rule, double ref, double fresh, double se_ref, double se_fresh, double ci_half) {
    double diff = fabs(fresh - ref);
    json_t *v;
    /* The measured noise first; a reference without an interval falls to the rule's other kind. */
    if ((v = json_object_get(rule, "ci")) && isfinite(ci_half)) return diff <= json_number_value(v) * ci_half;
    if ((v = json_object_get(rule, "exact"))) return fresh == ref;
    if ((v = json_object_get(rule, "rel"))) return diff <= json_number_value(v) * fabs(ref);
    if ((v = json_object_get(rule, "abs"))) return diff <= json_number_value(v);
    if ((v = json_object_get(rule, "stderr"))) {
        double se = sqrt(se_ref * se_ref + se_fresh * se_fresh);
        return diff <= json_number_value(v) * se;
    }
    if ((v = json_object_get(rule, "ratio"))) {
        double f = json_number_value(v);
        if (ref <= 0 || fresh <= 0) return ref == fresh;
        return fresh / ref <= f && ref / fresh <= f;
    }
    return 0;
}

static const json_t *find_row(const json_t *rows, const json_t *key_fields, const char *key) {
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        char *k = pq_results_row_key(row, key_fields);
        int same = !strcmp(k, key);
        free(k);
        if (same) return row;
    }
    return NULL;
}

static double stderr_of(const json_t *row, const char *metric, const char *sub) {
    char name[256];
    snprintf(name, sizeof name, "%s_stderr", metric);
    json_t *se = json_object_get(row, name);
    if (sub) se = json_object_get(se, sub);
    return json_is_number(se) ? json_number_value(se) : 0;
}

/* Half the width of the row's stored 95% interval of metric (ci95.<metric> or
 * ci95.acc.<task>), NAN if it has none. */
static double ci_half_of(const json_t *row, const char *metric, const char *sub) {
    json_t *ci = json_object_get(json_object_get(row, "ci95"), metric);
    if (sub) ci = json_object_get(ci, sub);
    if (!json_is_array(ci) || json_array_size(ci) != 2) return NAN;
    return 0.5 * (json_number_value(json_array_get(ci, 1)) - json_number_value(json_array_get(ci, 0)));
}

/* The interval a difference between the two rows may span: both are estimates with their own
 * noise (another device, thread count or BLAS build moves the trajectory as another seed would),
 * so the 95% half-width of fresh - ref is sqrt(h_ref^2 + h_fresh^2); a fresh row without an
 * interval leaves the reference's. */
static double ci_half_of_difference(const json_t *ref_row, const json_t *new_row, const char *metric, const char *sub) {
    double a = ci_half_of(ref_row, metric, sub), b = ci_half_of(new_row, metric, sub);
    return isfinite(a) && isfinite(b) ? sqrt(a * a + b * b) : a;
}

static void report(FILE *out, const char *suite, const char *key, const char *metric, double ref, double fresh,
                   int ok) {
    fprintf(out, "%-10s %-48.48s %-22.22s %12.6g %12.6g %+9.2f%%  %s\n", suite, key, metric, ref, fresh,
            ref != 0 ? 100 * (fresh - ref) / fabs(ref) : 0.0, ok ? "ok (moved)" : "REGRESSION");
}

static void compare_metric(const char *suite, const char *key, const char *metric, const json_t *rule,
                           const json_t *ref_row, const json_t *new_row, FILE *out, pq_check_summary *sum) {
    json_t *r = json_object_get(ref_row, metric), *n = json_object_get(new_row, metric);
    if (!r) return;
    if (json_is_object(r)) { /* per-task metrics: compare each task */
        const char *sub;
        json_t *rv;
        json_object_foreach(r, sub, rv) {
            char name[256];
            snprintf(name, sizeof name, "%s.%s", metric, sub);
            json_t *nv = json_object_get(n, sub);
            if (!json_is_number(nv)) {
                fprintf(out, "%-10s %-48.48s %-22.22s missing from the new results  REGRESSION\n", suite, key, name);
                sum->missing++, sum->regressions++;
                continue;
            }
            double a = json_number_value(rv), b = json_number_value(nv);
            int ok = pq_check_within_noise(rule, a, b, stderr_of(ref_row, metric, sub), stderr_of(new_row, metric, sub),
                                           ci_half_of_difference(ref_row, new_row, metric, sub));
            sum->compared++;
            if (a != b) report(out, suite, key, name, a, b, ok), ok ? sum->moved_within++ : sum->regressions++;
        }
        return;
    }
    if (!json_is_number(n)) {
        fprintf(out, "%-10s %-48.48s %-22.22s missing from the new results  REGRESSION\n", suite, key, metric);
        sum->missing++, sum->regressions++;
        return;
    }
    double a = json_number_value(r), b = json_number_value(n);
    int ok = pq_check_within_noise(rule, a, b, stderr_of(ref_row, metric, NULL), stderr_of(new_row, metric, NULL),
                                   ci_half_of_difference(ref_row, new_row, metric, NULL));
    sum->compared++;
    if (a != b) report(out, suite, key, metric, a, b, ok), ok ? sum->moved_within++ : sum->regressions++;
}

void pq_check_suite(const json_t *reference, const json_t *fresh, FILE *out, pq_check_summary *sum) {
    const char *suite = json_string_value(json_object_get(reference, "suite"));
    /* Identity and rules come from the current suite definition (carried by the fresh results). */
    const json_t *keys = json_object_get(fresh, "key"), *tolerances = json_object_get(fresh, "tolerances");
    const json_t *ref_rows = json_object_get(reference, "rows"), *new_rows = json_object_get(fresh, "rows");
    size_t i;
    json_t *row;
    json_array_foreach(ref_rows, i, row) {
        char *key = pq_results_row_key(row, keys);
        const json_t *match = find_row(new_rows, keys, key);
        if (!match && json_is_true(json_object_get(fresh, "missing_rows_ok"))) {
            fprintf(out, "%-10s %-48.48s %-22s not measured on this machine\n", suite, key, "(row)");
        } else if (!match) {
            fprintf(out, "%-10s %-48.48s %-22s missing from the new results  REGRESSION\n", suite, key, "(row)");
            sum->missing++, sum->regressions++;
        } else {
            const char *metric;
            json_t *rule;
            json_object_foreach((json_t *)tolerances, metric, rule)
                compare_metric(suite, key, metric, rule, row, match, out, sum);
        }
        free(key);
    }
    json_array_foreach(new_rows, i, row) {
        char *key = pq_results_row_key(row, keys);
        if (!find_row(ref_rows, keys, key)) {
            fprintf(out, "%-10s %-48.48s %-22s new row (not in the reference)\n", suite, key, "(row)");
            sum->added++;
        }
        free(key);
    }
}
