/* suite.h — fixed experiment definitions (suites/<name>.json).
 *
 * A suite file is a JSON object:
 *   "suite"      its name (must match the file name),
 *   "artifact"   the paper artifact it regenerates ("Fig. 2"),
 *   "title", "finding"  what it shows and what the paper found,
 *   "key"        the row fields that identify a row (for `pq check`),
 *   "tiers"      {"smoke": {...}, "small": {...}, "full": {...}}: the parameters of
 *                each tier (models, token budgets, bit widths, ...; see suites/README.md),
 *   "tolerances" {metric: {"exact": true} | {"rel": r} | {"abs": a} | {"stderr": k} |
 *                {"ratio": f} | {"ci": k}}: how far a rerun may move each metric in
 *                `pq check`; a tier may override rules with its own "tolerances" object,
 *   "contrasts"  [{name, metric, for_each, a, b, better?}]: the comparisons the finding
 *                rests on, each computed with a 95% interval (harness/intervals.h).
 * Each suite name has an expander (harness/expand.c) that turns a tier's
 * parameters into runs and result rows. */
#ifndef PQ_SUITE_H
#define PQ_SUITE_H

#include <jansson.h>

#include "harness/plan.h"

typedef struct {
    char *name, *path;
    char *text;       /* the file, for locating fields in error messages */
    json_t *root;     /* the whole file */
    json_t *tier;     /* the chosen tier's parameters (borrowed from root) */
    const char *tier_name;
    json_t *rows;     /* result rows: parameters + "sources" {role: run index} */
    json_t *tolerances; /* the suite's rules with the tier's "tolerances" merged over them */
} pq_suite;

/* Every suite name, in the order `all` runs them. */
extern const char *const pq_suite_names[];
extern const int pq_suite_count;

/* Every tier, smallest first: the one list `pq suite`/`pq check` validate --tier
 * against and print in their usage. Every suite defines smoke, small and full;
 * medium (16-64 cores) only where a suite defines it. */
extern const char *const pq_tier_names[];
extern const int pq_tier_count;
/* 1 when tier is one of pq_tier_names. */
int pq_tier_known(const char *tier);
/* pq_tier_names joined with ", ": "smoke, small, medium, full". */
const char *pq_tier_list(void);

/* Loads suites_dir/<name>.json and selects a tier; -1 + pq_error() naming the file, line and field. */
int pq_suite_load(pq_suite *s, const char *suites_dir, const char *name, const char *tier);
void pq_suite_free(pq_suite *s);

/* Fails with "<file>:<line>: tiers.<tier>.<field>: <what>" (the line of the field if found). */
int pq_suite_field_error(const pq_suite *s, const char *field, const char *what);

/* Typed access to the tier's parameters; each fails with pq_suite_field_error. */
int pq_suite_int(const pq_suite *s, const char *field, long long *out);
int pq_suite_number(const pq_suite *s, const char *field, double *out);
int pq_suite_string(const pq_suite *s, const char *field, const char **out);
/* A non-empty array; elements are checked by the caller with pq_suite_elem_*. */
int pq_suite_array(const pq_suite *s, const char *field, json_t **out);

/* Expands the suite into runs added to plan and rows in s->rows. */
int pq_suite_expand(pq_suite *s, pq_plan *plan);
/* Fills each row's metrics from its finished runs; returns the aggregated results object. */
json_t *pq_suite_aggregate(pq_suite *s, pq_plan *plan);

#endif
