/* bench_train.h — the training-throughput benchmark behind `pq bench train`. */
#ifndef PQ_BENCH_TRAIN_H
#define PQ_BENCH_TRAIN_H

#include <jansson.h>

#include "model/config.h"

/* A measurement added to every config's entry as entry[name], taken at one thread
 * after the step timings (`what` names it in the progress line): how pq bench train
 * reports the QAT step, which lives in quant/, above this area. measure returns a
 * JSON value, or NULL + pq_error() to fail the benchmark. */
typedef struct {
    const char *name, *what;
    json_t *(*measure)(const pq_model_config *mc, int batch, int quick);
} pq_bench_train_extra;

/* Writes out_dir/train.json (with extra's measurement where extra is not NULL);
 * returns 0 on success, -1 + pq_error() on failure. */
int pq_bench_train(const char *out_dir, int quick, const pq_bench_train_extra *extra);

#endif
