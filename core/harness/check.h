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

#endif
