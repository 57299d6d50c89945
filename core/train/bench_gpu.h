/* bench_gpu.h — `pq bench gpu`: GPU training speed against PyTorch on the same GPU. */
#ifndef PQ_BENCH_GPU_H
#define PQ_BENCH_GPU_H

/* Writes out_dir/gpu.json; 0, or -1 + pq_error() (no GPU, a build without CUDA). */
int pq_bench_gpu(const char *out_dir, int quick);

#endif
