/* check.h — comparing fresh suite results with the stored reference.
 *
 * Rows are matched on the suite's "key" fields; each metric named in the suite's
 * "tolerances" is compared under its rule:
 *   exact       equal
 *   rel r       |new − ref| ≤ r·|ref|
 *   abs a       |new − ref| ≤ a
 *   stderr k    |new − ref| ≤ k·sqrt(se_ref² + se_new²), se from "<metric>_stderr"
 *               (per-task metrics "acc.<task>" use "acc_stderr.<task>")
 *   ratio f     1/f ≤ new/ref ≤ f (timings)
 *   ci k        |new − ref| ≤ k·(half the width of the reference row's 95% interval,
 *               "ci95".<metric>, per task "ci95.acc.<task>"); a row without one is
 *               judged by the rule's other kind if it has one ({"ci": 1, "rel": 0.02}),
 *               else it must be unchanged
 * A row or metric present in the reference but missing from the new results is
 * a regression too; new rows are reported but pass. */
#ifndef PQ_CHECK_H
#define PQ_CHECK_H

#include <stdio.h>

#include <jansson.h>

typedef struct {
    int compared, moved_within, regressions, missing, added;
} pq_check_summary;

/* Compares one suite's results; prints a table of what moved to out. */
void pq_check_suite(const json_t *reference, const json_t *fresh, FILE *out, pq_check_summary *sum);

/* Applies one tolerance rule; returns 1 if within. */
int pq_check_within(const json_t *rule, double ref, double fresh, double se_ref, double se_fresh);
/* The same with the reference's interval half-width for "ci" rules (NAN: none). */
int pq_check_within_noise(const json_t *rule, double ref, double fresh, double se_ref, double se_fresh, double ci_half);

#endif
