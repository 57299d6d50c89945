/* eval.h — scoring a list of tasks and reporting them as lm-eval would.
 *
 * A task spec is a built-in task name (a file <tasks_dir>/<name>.jsonl, made by
 * `pq data build`), "all" (every built-in task), or the path of a JSONL file in
 * the format of data/tasks.h (anything containing '/' or ending in ".jsonl").
 * Multiple-choice and WinoGrande-form tasks are scored by mc.h, perplexity
 * documents by ppl.h. The result is a JSON object per task; the conventions
 * used (BOS, delimiter, normalisation, windows) are stated next to them. */
#ifndef PQ_EVAL_EVAL_H
#define PQ_EVAL_EVAL_H

#include <stdint.h>

#include <jansson.h>

#include "eval/lm.h"

/* Expands specs into (name, path) pairs; *names and *paths are new arrays of new
 * strings (free with pq_eval_free_specs). -1 + pq_fail on an unknown task (the
 * message lists the built-in ones), a missing file or a name used twice. */
int pq_eval_resolve_tasks(const char *const *specs, int n_specs, const char *tasks_dir, char ***names,
                          char ***paths, int *n_out);
void pq_eval_free_specs(char **names, char **paths, int n);

typedef struct {
    int64_t limit;       /* score at most this many items per task (0 = all) */
    const char *samples; /* if set, per-item log-likelihoods go to this JSONL file */
    json_t *units;       /* if set, gets per task the per-unit arrays the statistics resample:
                          * {"kind": "mc", "acc": [0|1 per item], "acc_norm": [...]} or
                          * {"kind": "ppl", "nll": [per document], "bytes": [...]} */
} pq_eval_options;

/* Loads and scores every task; returns {"<name>": {metrics...}, ...} or NULL +
 * pq_fail. Each task file is recorded in the manifest (may be NULL) as an input
 * "task:<name>". */
json_t *pq_eval_run(const pq_lm *lm, const pq_eval_tokenizer *tok, char *const *names, char *const *paths, int n,
                    const pq_eval_options *opt, json_t *manifest);

/* Corpus-level perplexity pooled over every perplexity task of a pq_eval_run
 * result (Σ loglik over Σ tokens, words, bytes), or NULL if there is none. */
json_t *pq_eval_pool_perplexity(const json_t *tasks);

/* The scoring conventions, for the results file. */
json_t *pq_eval_conventions(void);

#endif
