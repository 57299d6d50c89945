/* pool.h — a few worker threads that wait actively between short parallel calls.
 *
 * pq's OpenMP loops wait passively (base/blas.c): right for training, where
 * they alternate with OpenBLAS on two shared vCPUs. A decoder step is the
 * opposite case: a hundred GEMV calls of 5-300 µs each, back to back, and
 * waking a sleeping OpenMP worker for each one cost more than the second
 * thread saved (two threads decoded slower than one). Workers here spin for
 * PQ_POOL_SPIN_SECONDS after their last job, so consecutive calls find them
 * awake, then sleep on a condition variable, so an idle pool costs nothing.
 * Spinning threads yield every few microseconds: when the caller and a worker
 * share a CPU (the other busy, or the process pinned), neither holds it for
 * long (a 2-thread decode pinned to one CPU went from 26 ms to 1.4 ms a token,
 * against 1.0 ms on one thread).
 *
 * One caller at a time: pq_pool_run is not reentrant and not meant to be
 * called from several threads at once. */
#ifndef PQ_POOL_H
#define PQ_POOL_H

#define PQ_POOL_MAX_PARTS 16
#define PQ_POOL_SPIN_SECONDS 200e-6

/* Runs fn(ctx, part, nparts) for every part in [0, nparts): part 0 on the
 * calling thread, the others on pool workers (started on first use), and
 * returns when all are done. nparts is capped at PQ_POOL_MAX_PARTS; with
 * nparts <= 1 it is a plain call. */
void pq_pool_run(void (*fn)(void *ctx, int part, int nparts), void *ctx, int nparts);

#endif
