/* bench.h — what the speed benchmarks of every area share (pq bench kernels,
 * train, bf16, qat, the quiet-machine check): the process CPU clock, the median
 * of repeated timings and the machine's load average. On a shared machine a
 * benchmark reports medians (robust to a preempted repeat) and CPU seconds
 * beside wall seconds (robust to other jobs), and records the load it ran under. */
#ifndef PQ_BENCH_H
#define PQ_BENCH_H

/* CPU seconds of this process (user + system, all threads) on the
 * CLOCK_PROCESS_CPUTIME_ID clock; differences of two calls are what counts. */
double pq_cpu_now(void);

/* The median of v[0..n) (n >= 1; the mean of the middle two when n is even);
 * v is not changed. */
double pq_median(const double *v, int n);

/* The 1-, 5- and 15-minute load averages of /proc/loadavg: 0, or -1 with all
 * three -1 where it cannot be read. */
int pq_load_average(double load[3]);

#endif
