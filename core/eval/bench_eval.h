/* bench_eval.h — the zero-shot scoring benchmark behind `pq bench eval`.
 *
 * Scores a synthetic workload shaped like the built-in tasks (per item one
 * context of 48 tokens and 4 choices of 2..8 tokens; random token ids from the
 * seeded RNG) with random models of the default ladder's largest shape (l) and the
 * training benchmark's reference shape, with
 * shared prefixes (what pq eval does) and without (every choice re-reads its
 * context), plus rolling perplexity windows. Writes out_dir/eval.json with
 * items/s, tokens/s and the projected time for 5 tasks x 1,000 items. */
#ifndef PQ_BENCH_EVAL_H
#define PQ_BENCH_EVAL_H

int pq_bench_eval(const char *out_dir, int quick);

#endif
