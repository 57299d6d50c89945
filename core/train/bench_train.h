/* bench_train.h — the training-throughput benchmark behind `pq bench train`. */
#ifndef PQ_BENCH_TRAIN_H
#define PQ_BENCH_TRAIN_H

/* Writes out_dir/train.json; returns 0 on success, -1 + pq_error() on failure. */
int pq_bench_train(const char *out_dir, int quick);

#endif
