/* results_io.h — writing aggregated suite results. */
#ifndef PQ_RESULTS_IO_H
#define PQ_RESULTS_IO_H

#include <jansson.h>

/* The identity of a row: its key fields (null where absent), canonically
 * serialized; free() it. Rows of one configuration share it. */
char *pq_results_row_key(const json_t *row, const json_t *key_fields);

/* One CSV line per row; nested metrics flattened as "acc.<task>", columns sorted. */
int pq_results_write_csv(const json_t *results, const char *path);

/* A failed or interrupted suite run must not wipe results that were good: every
 * row of fresh marked "incomplete" is replaced by the measured rows of previous
 * that agree with it on the key fields it has (an incomplete row of an exploded
 * suite, transition or kernels, lacks the per-layer/per-kernel fields and takes
 * all their rows). A previous row is used at most once, and never when a
 * measured fresh row has its identity; previous rows with no counterpart in
 * fresh are dropped (the suite no longer has them).
 * Returns how many rows were kept from previous. */
int pq_results_keep_measured(json_t *fresh, const json_t *previous);

#endif
