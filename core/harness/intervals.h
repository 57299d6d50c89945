/* intervals.h — seeds merged into rows, and the contrasts a suite declares, with
 * 95% intervals (harness/stats.h; the results schema is in README.md, "Statistics").
 *
 * The expander emits one row per configuration and seed; the aggregation reads
 * each row's runs (metrics, and an eval run's per-unit arrays, units.json) and
 * hands the per-seed rows here:
 *   - rows with the same key fields (the suite's "key") become one row: metrics
 *     averaged over the seeds measured, with "seeds", "per_seed" and "ci95";
 *   - each declared contrast {name, metric, for_each, a, b} becomes one instance
 *     per value tuple of its for_each fields where both sides were measured. */
#ifndef PQ_HARNESS_INTERVALS_H
#define PQ_HARNESS_INTERVALS_H

#include <jansson.h>

/* An eval run's units.json in arrays; NULL if absent or unreadable. */
typedef struct pq_unit_data pq_unit_data;
pq_unit_data *pq_unit_data_load(const char *path);
void pq_unit_data_free(pq_unit_data *u);

typedef struct {
    long long seed;
    json_t *row;                /* the seed's row: key fields and metrics (owned) */
    const pq_unit_data *units;  /* its eval run's units, or NULL (not owned) */
    int complete;               /* every run of the row finished */
} pq_seed_row;

typedef struct {
    json_t *row;          /* the merged row (borrowed from the rows array) */
    int n;                /* seeds measured (complete rows; all rows if none is) */
    pq_seed_row **seeds;  /* [n] */
} pq_row_group;

/* Merges rows[0..n) by key into a new array of rows (in first-seen order; rows of
 * one seed that share a key are different configurations and stay apart) and
 * fills *groups (free with pq_row_groups_free; they point into rows and out). */
json_t *pq_merge_seeds(pq_seed_row *rows, int n, const json_t *key_fields, pq_row_group **groups, int *n_groups);
void pq_row_groups_free(pq_row_group *groups, int n);

/* The instances of every declared contrast (declarations validated by
 * pq_contrasts_check); multi_unit names the unit when a side selects several
 * rows (e.g. "layer"). */
json_t *pq_contrasts_compute(const json_t *decls, const json_t *key_fields, const pq_row_group *groups, int n_groups,
                             const char *multi_unit);

/* Checks a suite's "contrasts" declaration against its key fields and the tier's
 * tasks: 0, or -1 + pq_fail("<path>:<line>: contrasts[i] (name).field: what"). */
int pq_contrasts_check(const json_t *decls, const json_t *key_fields, const json_t *tasks, const char *path,
                       const char *text);

#endif
