/* qat_bench.h — what fake quantization costs per training step (for `pq bench train`).
 *
 * Trains the same randomly initialized model on the same synthetic tokens for a
 * few steps through the engine's loop (pq_train, no checkpoints, no validation),
 * once in full precision and once with the QAT hook, alternating `repeats` times
 * and keeping each side's fastest run (the machine is shared, so the minimum is
 * the least disturbed measurement). */
#ifndef PQ_QAT_BENCH_H
#define PQ_QAT_BENCH_H

#include <jansson.h>

#include "model/config.h"
#include "quant/quantizer.h"

/* A JSON row: {quantizer, bits, batch, seq_len, steps, repeats, fp_step_seconds,
 * qat_step_seconds, overhead = qat/fp - 1, the same per process CPU second
 * (fp_step_cpu_seconds, qat_step_cpu_seconds, overhead_cpu), fake_quant_forward_seconds and
 * fake_quant_backward_seconds (the hook alone, per step), fake_quant_fraction_of_fp_step}.
 * NULL + pq_error() on an invalid config or quantizer. */
json_t *pq_qat_bench(const pq_model_config *mc, int batch, int seq_len, int steps, int repeats, const char *quantizer,
                     pq_qbits bits);

#endif
