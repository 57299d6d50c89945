/* bench_gpu.h — `pq bench gpu`: GPU training speed against PyTorch on the same GPU. */
#ifndef PQ_BENCH_GPU_H
#define PQ_BENCH_GPU_H

/* Writes out_dir/gpu.json; 0, or -1 + pq_error() (no GPU, a build without CUDA, a name in
 * `shapes` that is not a benchmark shape). shapes: NULL for all, else a comma-separated list of
 * names (xs,s,m,l,mobilellm-125m), so one shape can be remeasured without the others' minutes. */
int pq_bench_gpu(const char *out_dir, int quick, const char *shapes);

/* 1 when every name of the comma-separated `shapes` is a benchmark shape, else 0 + pq_error(). */
int pq_bench_gpu_shapes_ok(const char *shapes);

#endif
