/* units.h — the per-unit numbers behind the suites' confidence intervals.
 *
 * A difference between two configurations is measured on the same units: the
 * same validation documents (val_loss), the same task items (accuracy). The
 * statistics (harness/stats.h) resample those units, so an eval run keeps them
 * (pq eval --units FILE; the format is in README.md, "Statistics").
 *
 * Validation documents: the trainer's validation loss is the mean cross entropy
 * over the first val_tokens/T windows of the validation stream (consecutive
 * windows of T+1 tokens, inputs the first T, targets the last T; train/trainer.h).
 * Here each window is scored as a group with its first token as prefix and its T
 * targets as continuation, so the sum over documents is the trainer's loss. The
 * stream is cut into documents at BOS tokens; predicting token p+1 belongs to
 * the document that holds token p (so predicting the next BOS ends a document). */
#ifndef PQ_EVAL_UNITS_H
#define PQ_EVAL_UNITS_H

#include <stdint.h>

#include "eval/lm.h"

typedef struct {
    int64_t n_docs, windows, tokens; /* documents touched, windows and targets scored */
    double *nll;                     /* [n_docs] summed negative log-likelihood */
    int64_t *targets;                /* [n_docs] targets scored */
} pq_doc_losses;

/* Scores the first max(1, val_tokens / T) windows (at most (n-1)/T) of tokens[n].
 * T + 1 <= lm->max_len + 1 is required. 0, or -1 + pq_fail. */
int pq_eval_doc_losses(const pq_lm *lm, const uint16_t *tokens, int64_t n, int T, int64_t val_tokens, int32_t bos,
                       pq_doc_losses *out);
void pq_doc_losses_free(pq_doc_losses *d);

#endif
