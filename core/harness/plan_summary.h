/* plan_summary.h — what a plan's runs cost, said before they start.
 *
 * `pq suite run` (its --dry-run too, and the Slurm executor) opens with:
 *   pq suite: 129 runs, 0 already done, 129 to run
 *   pq suite: to run: 3 pretrain, 56 qat, 7 ptq, 59 eval, 3 decode, 1 bench_kernels
 *   pq suite:   tiny: 3 pretrain 480K tokens, 56 qat 3.32M tokens
 * one line per model config that has training runs left (in plan order), and when
 * there are several, an "all models" line of the same form. Counted from the
 * expanded runs (pq_run.kind, .train_tokens), not from their commands. */
#ifndef PQ_PLAN_SUMMARY_H
#define PQ_PLAN_SUMMARY_H

#include <stdio.h>

#include "harness/plan.h"

/* Prints the summary of the runs whose state is not RUN_DONE (states must be set). */
void pq_plan_summary(const pq_plan *p, FILE *out);

/* A token count as the summary writes it: "480K", "3.32M", "80.0M", "1,412M". */
void pq_format_tokens(long long tokens, char *buf, size_t n);

#endif
