/* bench_bf16.h — `pq bench bf16`: training tokens/s with --precision bf16 against FP32. */
#ifndef PQ_BENCH_BF16_H
#define PQ_BENCH_BF16_H

/* Writes out_dir/bf16.json (xs4k, s4k and a width-768 model; quick: tiny only); returns 0,
 * or -1 + pq_error() (also on a CPU without AVX-512 BF16). */
int pq_bench_bf16(const char *out_dir, int quick);

#endif
