/* dist.h — data parallelism over processes (MPI ranks): the only place pq calls MPI.
 *
 * `mpirun -np K pq pretrain ...` starts K copies of pq; each holds the whole model and
 * computes the gradients of its share of every optimizer step's micro-batches
 * (pq_dist_split), then all ranks add their gradients together with pq_dist_sum_f32.
 * MPI_Allreduce would do that in an order the library picks (it may depend on message
 * timing, the network or the library version); here the sum is always
 *     out[i] = ((p_0[i] + p_1[i]) + p_2[i]) + ... + p_{K-1}[i]      (p_r: rank r's buffer)
 * so a K-rank run is bitwise reproducible for a given K: the buffer is cut into K
 * chunks, rank c receives chunk c of every rank (MPI_Alltoallv, data movement only),
 * adds them in rank order (pq_dist_sum_ordered) and everyone gathers the sums
 * (MPI_Allgatherv). The result is the same whichever rank adds which chunk.
 *
 * Without a launcher that starts several ranks (OMPI_COMM_WORLD_SIZE, PMI_SIZE, or
 * PMIX_RANK with SLURM_STEP_NUM_TASKS, above 1) pq never initializes MPI: world size 1, rank 0, every collective is a no-op, and a run
 * is exactly what it is in a build without MPI (make MPI=0). */
#ifndef PQ_DIST_H
#define PQ_DIST_H

#include <stdint.h>

/* The world size a launcher announced in the environment (1 if none or unknown). */
int pq_dist_launched_size(void);
/* Joins the launcher's world when it has several ranks (MPI_Init_thread, funneled:
 * only the main thread calls MPI); 0 on success, -1 + pq_error() (e.g. launched by
 * mpirun but built without MPI). Otherwise: nothing, 0. */
int pq_dist_init(void);
/* Leaves the world: MPI_Finalize after success (rc == 0); after a failure with more
 * than one rank MPI_Abort(rc), so ranks waiting in a collective for this one end too. */
void pq_dist_end(int rc);

int pq_dist_rank(void); /* 0 without MPI */
int pq_dist_size(void); /* 1 without MPI */
/* Whether this build can join an MPI world (built with MPI=1). */
int pq_dist_available(void);
/* The MPI library's version line once joined ("" otherwise). */
const char *pq_dist_library(void);

/* Rank r's share [lo, hi) of n items split over k ranks in contiguous blocks, the
 * first n % k ranks one item larger: rank order is item order. */
void pq_dist_split(int64_t n, int k, int r, int64_t *lo, int64_t *hi);
/* out[i] = ((parts[0][i] + parts[1][i]) + ...) + parts[k-1][i], parts[r] = parts + r * n. */
void pq_dist_sum_ordered(const float *parts, int k, int64_t n, float *out);

/* In place on every rank: the fixed-order sum above of all ranks' buf[0..n). */
void pq_dist_sum_f32(float *buf, int64_t n);
/* Every rank has filled its own share buf[lo, hi) (pq_dist_split(n, size, rank)); afterwards
 * every rank holds all of buf. Data movement only: no arithmetic, so no order to fix. */
void pq_dist_gather_f64(double *buf, int64_t n);
/* The fixed-order sum of every rank's v (the same value on every rank). */
double pq_dist_sum_f64(double v);
/* 0 if every rank passed the same value, else -1 + pq_error() "ranks disagree on
 * <what>: rank R has X, rank 0 has Y" on every rank (so all of them stop together). */
int pq_dist_agree(uint64_t value, const char *what);

#endif
