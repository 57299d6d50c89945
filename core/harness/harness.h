/* harness.h — `pq suite run` and `pq check` share this pipeline:
 * load suites → build data → plan runs → execute → aggregate. */
#ifndef PQ_HARNESS_H
#define PQ_HARNESS_H

#include <jansson.h>

#include "harness/slurm.h"

typedef struct {
    const char *tier;
    int jobs;
    int dry_run;       /* print the commands of runs not yet done */
    int execute;       /* 0: only aggregate what is already done (pq check --reuse) */
    const char *pq;    /* this executable */
    const char *suites_dir, *data_dir, *runs_dir;
    const char *out_dir; /* aggregated results go to out_dir/<tier>/<suite>.{json,csv}; NULL: nowhere */
    const char *device;  /* "cuda" (--device, else PQ_DEVICE): training runs on the GPU; NULL: the CPU */
    const pq_slurm_options *slurm; /* NULL: the local scheduler; else runs are sbatch jobs (slurm.h) */
    int status;        /* 1: print the runs' states (pq suite status), 2: scancel their jobs (pq suite cancel) */
} pq_harness_options;

/* names: suite names (or the single name "all"). On success *results is a JSON
 * object {suite: aggregated results}. Returns 0 when every run finished, 1 when
 * some failed (results still hold what finished), -1 + pq_error() on bad input. */
int pq_harness_run(const char *const *names, int count, const pq_harness_options *opt, json_t **results);

#endif
