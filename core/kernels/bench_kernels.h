/* bench_kernels.h — the low-bit kernel benchmark behind `pq bench kernels`. */
#ifndef PQ_BENCH_KERNELS_H
#define PQ_BENCH_KERNELS_H

/* Writes out_dir/kernels.json; returns 0 on success, -1 + pq_error() on failure. */
int pq_bench_kernels(const char *out_dir, int quick);

#endif
