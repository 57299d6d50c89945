/* progress.h — a single self-overwriting status line on stderr for long work.
 *
 *   pretrain  step 120/2000  6.0%  1843 tok/s  ETA 12m04s  loss 4.812
 *
 * When stderr is not a terminal (a log), one newline-terminated line about every
 * 30 s instead (PQ_PROGRESS_INTERVAL=<seconds> changes it), the first only after
 * 30 s and the "done" line only after one of them, so short work writes nothing
 * and long work never goes silent for minutes. PQ_PROGRESS=0 silences it
 * everywhere. */
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
    int printed;          /* a line has been printed */
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
