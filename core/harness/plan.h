/* plan.h — the runs of one `pq suite run` invocation, as a DAG.
 *
 * A run is (kind, arguments, inputs). Its id is the SHA-256 of the canonical
 * JSON {kind, args, deps: {role: dep id}, code: hash of the sources that kind
 * executes, data: hash of the built data}, so a finished run is found again by
 * any suite that asks for the same thing, and a change to the model code reruns
 * training while a change to the plots reruns nothing. Outputs live in
 * work/runs/<kind>-<id>/; the file DONE marks a run that finished. */
#ifndef PQ_PLAN_H
#define PQ_PLAN_H

#include <jansson.h>

#include "base/hash.h"

#define PQ_RUN_MAX_DEPS 4

typedef enum { RUN_PENDING, RUN_RUNNING, RUN_DONE, RUN_FAILED, RUN_SKIPPED } pq_run_state;

typedef struct {
    char id[PQ_SHA256_HEX];
    char *kind;   /* pretrain, qat, ptq, eval, bench_kernels, decode */
    json_t *args; /* kind-specific arguments */
    int ndeps;
    int deps[PQ_RUN_MAX_DEPS];             /* indices into the plan */
    const char *dep_roles[PQ_RUN_MAX_DEPS]; /* e.g. "from", "model" */
    char *dir;
    long long train_tokens; /* tokens it trains on (pretrain, qat; a WSD branch: its own decay only); else 0 */
    double cost; /* estimated relative cost (training tokens), for the ETA */
    pq_run_state state;
} pq_run;

typedef struct {
    pq_run *runs;
    int count, cap;
    const char *runs_root; /* work/runs */
    /* "cuda": the kinds that take --device (pq_plan_device_kind) run on the GPU, and their
     * args say so, so a GPU run never shares an id (a directory) with a CPU run: its
     * numbers are another computation's. NULL: the CPU (ids as before devices existed). */
    const char *device;
    char data_hash[PQ_SHA256_HEX];
    char *data_dir;
} pq_plan;

void pq_plan_init(pq_plan *p, const char *runs_root, const char *data_dir, const char *data_hash);
void pq_plan_free(pq_plan *p);

/* 1 if runs of this kind take --device (pretrain, qat, ptq, eval). */
int pq_plan_device_kind(const char *kind);
/* Adds a run (args is stolen) or finds the identical one already planned; returns its index. */
int pq_plan_add(pq_plan *p, const char *kind, json_t *args, int ndeps, const char **roles, const int *deps);
static inline int pq_plan_add0(pq_plan *p, const char *kind, json_t *args) { return pq_plan_add(p, kind, args, 0, NULL, NULL); }
static inline int pq_plan_add1(pq_plan *p, const char *kind, json_t *args, const char *role, int dep) {
    return pq_plan_add(p, kind, args, 1, &role, &dep);
}

/* The hash of the sources a run kind executes (generated at build time); cuda: the run
 * is on the GPU (its args' "device" is "cuda"), so the GPU backend's sources (the "gpu"
 * area: core/gpu, every .cu of core/) count too. CPU runs' hashes leave them out. */
const char *pq_code_hash(const char *kind, int cuda);
/* pq_code_hash of r's kind and device. */
const char *pq_run_code_hash(const pq_run *r);

/* A run's output files. */
char *pq_run_file(const pq_run *r, const char *name);
/* The run's results.json, or NULL (no pq_fail) if absent or unreadable. */
json_t *pq_run_results(const pq_run *r);

#endif
