/* dist.c — the fixed-order collectives of dist.h, over MPI when built with PQ_MPI. */
#include "base/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#ifdef PQ_MPI
#include <mpi.h>
#endif

static int world_rank = 0, world_size = 1, joined = 0;

int pq_dist_rank(void) { return world_rank; }
int pq_dist_size(void) { return world_size; }

int pq_dist_launched_size(void) {
    /* OpenMPI's mpirun sets the first, PMI-1/2 launchers (MPICH's, srun --mpi=pmi2) the
     * second; under srun --mpi=pmix only PMIX_RANK tells, and Slurm the step's size. */
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    if (!size) size = getenv("PMI_SIZE");
    if (!size && getenv("PMIX_RANK")) size = getenv("SLURM_STEP_NUM_TASKS");
    int n = size ? atoi(size) : 1;
    return n > 1 ? n : 1;
}

void pq_dist_split(int64_t n, int k, int r, int64_t *lo, int64_t *hi) {
    int64_t base = n / k, extra = n % k;
    *lo = r * base + PQ_MIN((int64_t)r, extra);
    *hi = *lo + base + (r < extra);
}

void pq_dist_sum_ordered(const float *parts, int k, int64_t n, float *out) {
    /* One pass per rank, each adding into out: per element the additions happen in
     * rank order (no reassociation without -ffast-math), and the loop vectorizes over i. */
    if (out != parts) memcpy(out, parts, sizeof(float) * (size_t)n);
    for (int r = 1; r < k; r++) {
        const float *p = parts + (size_t)r * (size_t)n;
        for (int64_t i = 0; i < n; i++) out[i] += p[i];
    }
}

#ifdef PQ_MPI

int pq_dist_available(void) { return 1; }

static char library[MPI_MAX_LIBRARY_VERSION_STRING];

const char *pq_dist_library(void) { return library; }

int pq_dist_init(void) {
    if (pq_dist_launched_size() == 1) return 0;
    int provided;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return pq_fail("MPI_Init_thread failed (launched by mpirun or srun?)");
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    int len = 0;
    MPI_Get_library_version(library, &len);
    library[strcspn(library, ",\n")] = '\0'; /* "Open MPI v4.1.4, package: ..." -> its first part */
    joined = 1;
    return 0;
}

void pq_dist_end(int rc) {
    if (!joined) return;
    joined = 0;
    if (rc && world_size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
}

/* Segments of at most this many floats: bounded scratch, MPI counts stay ints. */
#define SUM_SEGMENT (1 << 22)

void pq_dist_sum_f32(float *buf, int64_t n) {
    if (world_size == 1 || n <= 0) return;
    const int k = world_size;
    int *send_n = pq_malloc(sizeof(int) * (size_t)k), *send_at = pq_malloc(sizeof(int) * (size_t)k);
    int *recv_n = pq_malloc(sizeof(int) * (size_t)k), *recv_at = pq_malloc(sizeof(int) * (size_t)k);
    float *parts = pq_malloc(sizeof(float) * (size_t)PQ_MIN(n, (int64_t)SUM_SEGMENT));
    for (int64_t off = 0; off < n; off += SUM_SEGMENT) {
        int64_t len = PQ_MIN((int64_t)SUM_SEGMENT, n - off), lo, hi, mine_lo, mine_hi;
        pq_dist_split(len, k, world_rank, &mine_lo, &mine_hi);
        int mine = (int)(mine_hi - mine_lo);
        for (int r = 0; r < k; r++) {
            pq_dist_split(len, k, r, &lo, &hi);
            send_n[r] = (int)(hi - lo), send_at[r] = (int)lo; /* chunk r goes to rank r */
            recv_n[r] = mine, recv_at[r] = r * mine;          /* every rank's copy of my chunk, in rank order */
        }
        MPI_Alltoallv(buf + off, send_n, send_at, MPI_FLOAT, parts, recv_n, recv_at, MPI_FLOAT, MPI_COMM_WORLD);
        pq_dist_sum_ordered(parts, k, mine, buf + off + mine_lo);
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf + off, send_n, send_at, MPI_FLOAT, MPI_COMM_WORLD);
    }
    free(send_n), free(send_at), free(recv_n), free(recv_at), free(parts);
}

void pq_dist_gather_f64(double *buf, int64_t n) {
    if (world_size == 1 || n <= 0) return;
    int *count = pq_malloc(sizeof(int) * (size_t)world_size), *at = pq_malloc(sizeof(int) * (size_t)world_size);
    for (int r = 0; r < world_size; r++) {
        int64_t lo, hi;
        pq_dist_split(n, world_size, r, &lo, &hi);
        count[r] = (int)(hi - lo), at[r] = (int)lo;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, count, at, MPI_DOUBLE, MPI_COMM_WORLD);
    free(count), free(at);
}

double pq_dist_sum_f64(double v) {
    if (world_size == 1) return v;
    double *all = pq_malloc(sizeof(double) * (size_t)world_size);
    MPI_Allgather(&v, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, MPI_COMM_WORLD);
    double sum = all[0];
    for (int r = 1; r < world_size; r++) sum += all[r];
    free(all);
    return sum;
}

int pq_dist_agree(uint64_t value, const char *what) {
    if (world_size == 1) return 0;
    uint64_t *all = pq_malloc(sizeof(uint64_t) * (size_t)world_size);
    MPI_Allgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    int rc = 0;
    for (int r = 1; r < world_size && !rc; r++)
        if (all[r] != all[0])
            rc = pq_fail("ranks disagree on %s: rank %d has %llu, rank 0 has %llu", what, r, (unsigned long long)all[r],
                         (unsigned long long)all[0]);
    free(all);
    return rc;
}

#else /* built without MPI: one process, and a refusal when a launcher started several */

int pq_dist_available(void) { return 0; }
const char *pq_dist_library(void) { return ""; }

int pq_dist_init(void) {
    int n = pq_dist_launched_size();
    if (n != 1)
        return pq_fail("started by an MPI launcher as one of several ranks, but this pq was built without MPI "
                       "(install libopenmpi-dev and rebuild with make MPI=1)");
    return 0;
}

void pq_dist_end(int rc) { (void)rc, (void)joined; }
void pq_dist_sum_f32(float *buf, int64_t n) { (void)buf, (void)n; }
void pq_dist_gather_f64(double *buf, int64_t n) { (void)buf, (void)n; }
double pq_dist_sum_f64(double v) { return v; }
int pq_dist_agree(uint64_t value, const char *what) { return (void)value, (void)what, 0; }

#endif
