/* bench_kernels.h — the low-bit kernel benchmark behind `pq bench kernels`. */
#ifndef PQ_BENCH_KERNELS_H
#define PQ_BENCH_KERNELS_H

#include <jansson.h>

/* Writes out_dir/kernels.json; returns 0 on success, -1 + pq_error() on failure. */
int pq_bench_kernels(const char *out_dir, int quick);
/* Writes out_dir/gpu_kernels.json (bench_gpu_kernels.cu: the packed GEMV on the GPU against
 * cuBLAS FP16 and the measured memory bandwidth, and the attention kernels); 0, or -1 +
 * pq_error() (also in a build without CUDA, and when a GPU kernel disagrees with the CPU). */
int pq_bench_gpu_kernels(const char *out_dir, int quick);

/* The cold/hot check: a streamed (cold) single-token row must read its weights
 * no faster than PQ_COLD_MAX_OVER_READ x read_limit_gbs[threads] (the best
 * read-only bandwidth pass: a streamed set the caches partly hold beats it),
 * and take at least PQ_COLD_MIN_OVER_HOT x the time of the same configuration
 * resident (hot). Returns {passed, checked, failed, rule, failures: [...], ...}
 * for the rows of a kernels array; pure. */
#define PQ_COLD_MAX_OVER_READ 1.25
#define PQ_COLD_MIN_OVER_HOT 0.9
json_t *pq_bench_cold_hot_check(const json_t *kernels, const double read_limit_gbs[3]);

/* The twin check: t2 and b2 share their storage and their kernel (gemv.c
 * dispatches both to the same function), so in every one-thread configuration
 * (kernel, activations, shape, placement) their medians must agree within
 * PQ_TWIN_MAX_RATIO either way. A pair that does not timed a machine that
 * changed speed between two configurations seconds apart, which a guest's load
 * and steal figures may not show (a neighbour on the host). Two-thread rows are
 * left out: in runs otherwise clean their small shapes' twins differed by up to
 * 1.49x. Returns {passed, checked, failed, rule, max_ratio, failures: [...]};
 * pure. */
#define PQ_TWIN_MAX_RATIO 1.25
json_t *pq_bench_twin_check(const json_t *kernels);

#endif
