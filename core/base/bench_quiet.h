/* bench_quiet.h — was the machine quiet while a speed benchmark ran?
 *
 * On a shared 2-vCPU VM a benchmark that shares its cores with a build or a
 * training run measures the other job as much as itself: the 2-bit/4-bit
 * decode ratio moved from 1.33x to 1.89x between runs of the same code. So a
 * benchmark samples the machine before and after (load average, the CPU time
 * of the whole system from /proc/stat and of this process from its CPU clock,
 * VM steal time, and a fixed calibration spin timed several times) and states
 * whether the numbers were taken on a quiet machine. */
#ifndef PQ_BENCH_QUIET_H
#define PQ_BENCH_QUIET_H

#include <jansson.h>

#define PQ_QUIET_SPINS 5

typedef struct {
    double wall;                     /* pq_now() */
    double load1;                    /* 1-minute load average (/proc/loadavg), -1 if unknown */
    double busy_s, steal_s;          /* CPU seconds of all CPUs since boot: busy (user..softirq) and stolen */
    double own_cpu_s;                /* this process's CPU time (user + system, all threads) */
    double spin_ms[PQ_QUIET_SPINS];  /* the calibration spin, each run */
    double spin_median_ms;
} pq_machine_sample;

typedef struct {
    int quiet;
    char why[320];                   /* "" when quiet, else each reason, "; "-separated */
    double others_cpu_fraction;      /* CPU the rest of the machine used during the run, of all CPUs */
    double steal_fraction;           /* CPU the hypervisor took, of all CPUs */
    double spin_drift;               /* spin median after / before - 1 */
    double spin_spread;              /* the worst max/min of a sample's spins */
} pq_quiet_verdict;

/* Limits of a quiet machine (what pq_quiet_judge uses). */
#define PQ_QUIET_MAX_LOAD_PER_CPU 0.5   /* load average before the run, per CPU */
#define PQ_QUIET_MAX_OTHERS 0.10        /* others' CPU share during the run */
#define PQ_QUIET_MAX_STEAL 0.05         /* hypervisor steal share during the run */
#define PQ_QUIET_MAX_SPIN_DRIFT 0.10    /* the spin 10% slower (or faster) after than before */
#define PQ_QUIET_MAX_SPIN_SPREAD 1.25   /* the slowest spin of a sample 25% over its fastest */

/* Reads the machine's state and times the calibration spin (about 0.1 s). */
void pq_machine_sample_take(pq_machine_sample *s);

/* The verdict from two samples; pure (a function of its arguments only). */
pq_quiet_verdict pq_quiet_judge(const pq_machine_sample *before, const pq_machine_sample *after, int ncpu);

/* {quiet, why, limits, before: {...}, after: {...}, others_cpu_fraction, ...} */
json_t *pq_quiet_json(const pq_machine_sample *before, const pq_machine_sample *after, const pq_quiet_verdict *v);

#endif
