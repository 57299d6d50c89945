/* progress.h — a single self-overwriting status line on stderr for long work.
 *
 *   pretrain  step 120/2000  6.0%  1843 tok/s  ETA 12m04s  loss 4.812
 *
 * Silent when stderr is not a terminal, unless PQ_PROGRESS=1 (then one line per
 * update interval, newline-terminated, so logs stay readable). PQ_PROGRESS=0
 * silences it everywhere. */
#ifndef PQ_PROGRESS_H
#define PQ_PROGRESS_H

#include <stdint.h>

#include "base/util.h"

typedef struct {
    const char *label;
    const char *unit;     /* what `rate` counts, e.g. "tok" */
    int64_t total;        /* steps */
    double t_start, t_last_print;
    double interval;      /* seconds between prints */
    int enabled, tty;
    int64_t rate_base;    /* units done at the first update (resumed work starts there) */
    int64_t step_base;    /* steps done at the first update */
} pq_progress;

void pq_progress_begin(pq_progress *p, const char *label, int64_t total, const char *unit);
/* step: steps done; units: units done (for the rate); extra: printf-style tail, may be NULL. */
void pq_progress_update(pq_progress *p, int64_t step, int64_t units, const char *extra, ...) PQ_PRINTF(4, 5);
void pq_progress_end(pq_progress *p);

/* "1h02m", "12m04s", "9.5s" */
void pq_format_duration(double seconds, char *buf, int n);

#endif
