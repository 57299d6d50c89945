/* bench_step.h — what `pq bench train` and `pq bench bf16` share (internal to
 * core/train, defined in bench_train.c): a training step outside pq_train, the
 * matrix shapes that step multiplies, and the operands to time them on. */
#ifndef PQ_BENCH_STEP_H
#define PQ_BENCH_STEP_H

#include <stdint.h>

#include "model/config.h"
#include "model/model.h"
#include "train/data.h"
#include "train/optim.h"

/* C[M,N] = op(A)[M,K] op(B)[K,N] with op = transpose when ta / tb; count: times per step. */
typedef struct {
    int m, n, k, ta, tb, count;
} pq_gemm_shape;

#define PQ_STEP_SHAPES 15

/* The products of one training step over rows positions: forward, input- and
 * weight-gradient of every block linear and the head. Returns PQ_STEP_SHAPES. */
int pq_bench_step_shapes(const pq_model_config *c, int rows, pq_gemm_shape out[PQ_STEP_SHAPES]);

/* Buffers large enough for every shape's A, B and C (free() each); A and B hold a
 * fixed pattern in [-0.5, 0.5), C is not initialised. */
void pq_bench_gemm_operands(const pq_gemm_shape *sh, int n, float **A, float **B, float **C);

/* What one full optimizer step needs (refresh, forward, backward, clip, AdamW),
 * on the synthetic stream; built once. */
typedef struct {
    pq_model *m;
    pq_acts *a;
    pq_adamw *opt;
    pq_param_group *groups;
    int n_groups, batch, T;
    pq_token_stream ts;
    pq_data_order order;
    pq_optim_config oc;
    uint16_t *x, *y;
    int64_t step; /* steps taken */
} pq_bench_stepper;

void pq_bench_stepper_init(pq_bench_stepper *s, const pq_model_config *mc, int batch);
/* One step on batch number s->step, at the learning rate of schedule step lr_step. */
void pq_bench_stepper_step(pq_bench_stepper *s, int64_t lr_step);
void pq_bench_stepper_free(pq_bench_stepper *s);

#endif
