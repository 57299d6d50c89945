/* results_io.h — writing aggregated suite results. */
#ifndef PQ_RESULTS_IO_H
#define PQ_RESULTS_IO_H

#include <jansson.h>

/* One CSV line per row; nested metrics flattened as "acc.<task>", columns sorted. */
int pq_results_write_csv(const json_t *results, const char *path);

#endif
