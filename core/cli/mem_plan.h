/* mem_plan.h — --max-memory SIZE: the peak resident memory a command will need,
 * planned from its config before it allocates, so that a run too large for the
 * machine fails at once with one line (what it needs, what is allowed; exit 1)
 * instead of being killed hours in.
 *
 * pq.c takes "--max-memory SIZE" off any command's line (pq_mem_take_flag); the
 * commands that plan (pretrain, qat, ptq, eval, generate) call a guard where
 * their config is known. With a limit the plan is printed on stderr as
 *   pq CMD: planned peak 145.2 MiB (model+grads+AdamW 118.6, activations 2.1, ...) within --max-memory 8 GiB
 * and `pq bench memory` checks the planned figure against the measured peak.
 * The plan is the sum of the buffers the code allocates for this config (the
 * same arithmetic: pq_acts_bytes, parameter counts, the checkpoint's payload size)
 * plus PQ_MEM_FIXED for the process itself (libraries, OpenBLAS, allocator). */
#ifndef PQ_CLI_MEM_PLAN_H
#define PQ_CLI_MEM_PLAN_H

#include <stdint.h>

#include "cli/train_flags.h"
#include "model/config.h"

#define PQ_MEM_FIXED ((double)(24 << 20))

/* --max-memory's value (NULL: no limit), set by pq_mem_take_flag. */
extern const char *pq_max_memory;
/* Removes "--max-memory SIZE" from argv[1..] (argc updated); a malformed SIZE is a
 * usage error of cmd (exit 2). SIZE: bytes, or a number with K, M, G or T (binary). */
void pq_mem_take_flag(const char *cmd, int *argc, char **argv);
/* SIZE as bytes; -1 if malformed. */
double pq_parse_size(const char *text);

/* The guards: 0 = go on (no limit, or the plan fits); 1 = the line was printed,
 * exit 1. data: the --data spec (its tokens are loaded); out_dir: a state there is
 * resumed (it is loaded next to the model). recompute (NULL: the run cannot, as on
 * cuda): in, whether --recompute was given (the activations planned as PQ_ACTS_RECOMPUTE
 * keeps them); out, set to 1 when the plan is over the limit with every layer's
 * activations but within it with recomputation, which the run then uses (a line on
 * stderr says so): recomputing gives the same bits, only slower. */
int pq_mem_guard_train(const char *cmd, const pq_model_config *mc, const pq_train_config *tc, int T, int qat,
                       const char *data, const char *out_dir, int *recompute);
/* pq qat before it reads --from (the model and train config come from the checkpoint)
 * or --config, with the command's overrides (flags) applied. */
int pq_mem_guard_qat(const char *from, const char *config, const pq_train_flags *flags, const char *data,
                     const char *out_dir, int *recompute);
/* pq ptq (gptq_tokens: GPTQ's calibration tokens, 0 without GPTQ), eval, generate;
 * act_batch: sequences of the model context per forward (0: none, as rtn without --data). */
int pq_mem_guard_ckpt(const char *cmd, const char *ckpt, long long gptq_tokens, int act_batch);

#endif
