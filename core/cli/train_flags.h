/* train_flags.h — the command-line flags of pq pretrain, qat and ptq.
 *
 * Each of the three commands lists the flags it takes in a table (pq_flag: the
 * name and where its value goes) and hands argv to pq_parse_flags, which holds
 * the one parsing loop and its usage errors (one line, exit 2, via
 * pq_usage_error):
 *   "unexpected argument 'X'"  X does not start with "--"
 *   "unknown argument '--X'"   --X is not in the table
 *   "--X needs a value"        --X is last on the line
 *   "--X expects an integer / a number, got 'V'"   (pq_parse_int, pq_parse_double)
 *   "--X must be a positive integer, got 'V'" ...   (the flag's range: pq_parse_int_in)
 * The training-config overrides of pretrain and qat (--tokens, --lr, --batch,
 * ...) are fields of pq_train_flags: "not given" is -1, and pq_train_flags_apply
 * writes the given ones into a pq_train_config. Checks that belong to one
 * command (required flags, ranges) stay in that command. */
#ifndef PQ_CLI_TRAIN_FLAGS_H
#define PQ_CLI_TRAIN_FLAGS_H

#include <stddef.h>

#include <jansson.h>

#include "cli/cli.h"
#include "gpu/gpu.h"
#include "model/config.h"

/* One flag: its name and exactly one destination. A switch (.on) takes no
 * value and sets *on = 1; the others take the next argument. A numeric flag's
 * value is checked against range (and max for integers; cli.h) when parsed, so
 * a command never sees --batch -3 or --lr nan. */
typedef struct {
    const char *name;  /* e.g. "--data" */
    int *on;           /* switch */
    const char **text; /* the argument itself */
    long long *integer;
    double *number;
    pq_range range;    /* default PQ_ANY */
    long long max;     /* integers: the largest value (0: no bound) */
} pq_flag;

/* Parses argv[1..argc-1] (argv[0] = the command) against flags[0..n-1]; any
 * other argument is a usage error naming it. A flag given twice keeps the last value. */
void pq_parse_flags(const char *cmd, int argc, char **argv, const pq_flag *flags, size_t n);

/* Overrides of the training config's fields; -1 = not given (a given value is
 * never negative: their flags are PQ_NONNEG or PQ_POSITIVE). */
typedef struct {
    long long tokens, batch, grad_accum, seq_len, seed, warmup, eval_interval, eval_tokens, ckpt_interval;
    double lr, min_lr_ratio;
} pq_train_flags;

/* All fields -1 (not given). */
void pq_train_flags_init(pq_train_flags *f);
/* Writes the given fields into tc: tokens, seed, warmup, eval_interval,
 * eval_tokens, ckpt_interval and min_lr_ratio when >= 0; batch, grad_accum and
 * lr when > 0. seq_len is not a pq_train_config field: the caller uses it. */
void pq_train_flags_apply(const pq_train_flags *f, pq_train_config *tc);

/* --device of pretrain, qat and ptq (NULL: PQ_DEVICE, else cpu) into *out: 0; else the reason
 * on stderr as "pq CMD: ..." and the exit status: 1 for a device this build lacks (a failure
 * at work), 2 for an unknown name (a usage error). */
int pq_device_flag(const char *cmd, const char *text, pq_device *out);
/* --precision of pretrain and qat: "bf16" (the CPU's bf16 matmuls) returns 1 with *gpu = FP32;
 * "fp32" (default) and "tf32" (cuda's TF32 tensor cores) set *gpu and return 0; anything else
 * is a usage error naming the three. */
int pq_parse_precision(const char *cmd, const char *text, pq_gpu_precision *gpu);
/* After the device is known: bf16 on cuda is a usage error (the GPU offers fp32 and tf32);
 * bf16 on the CPU switches this process's linears to pq_gemm_bf16 (base/bf16.h). The command
 * then records "precision": "bf16" in its identity (a bf16 run never resumes or reuses an FP32
 * state; FP32 identities are unchanged) and pq_matmul_info() as the manifest's "matmul". */
void pq_apply_precision(const char *cmd, int bf16, pq_device device);
/* {"precision": "bf16", "kernel": ..., ...} of this process (or {"precision": "fp32"}). */
json_t *pq_matmul_info(void);
/* --recompute of pretrain and qat (trainer.h): records in the manifest "recompute": on,
 * and when on without asked (--max-memory turned it on: cli/mem_plan.h)
 * "recompute_reason": "--max-memory SIZE". */
void pq_manifest_recompute(json_t *manifest, int on, int asked);

#endif
