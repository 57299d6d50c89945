/* windows.h — lm-evaluation-harness's rolling windows for document perplexity.
 *
 * A document longer than the model's context is scored in windows so that every
 * token is predicted exactly once. We match lm-eval exactly (lm_eval/utils.py,
 * get_rolling_token_windows + make_disjoint_window, as called by HFLM's
 * loglikelihood_rolling with context_len=1 and prefix_token = BOS):
 *   - the first window predicts tokens[0 .. min(L, n)) from [prefix] + tokens[0 .. L-1);
 *   - each later window predicts the next min(remaining, L - context_len + 1)
 *     tokens, its input being the L tokens that end just before its last target;
 *     with context_len = 1 full windows are disjoint, conditioned on one token
 *     of the previous window, and the last partial window gets extra left context;
 *   - make_disjoint_window splits each input into a context (the tokens before the
 *     first target) and the targets: context = a[:len(a) - (len(b) - 1)].
 * L = max_len. A window is therefore a (context, continuation) pair of token
 * ranges, which is exactly one pq_lm_group with one continuation. */
#ifndef PQ_EVAL_WINDOWS_H
#define PQ_EVAL_WINDOWS_H

#include <stdint.h>

typedef struct {
    int64_t ctx_start; /* first context token; -1 = the context is just the prefix token */
    int64_t ctx_len;   /* tokens of context (1 for the prefix token alone) */
    int64_t pred_start, pred_len; /* the predicted tokens: tokens[pred_start .. pred_start + pred_len) */
} pq_window;

/* The windows for a document of n tokens; *out (freed by the caller) gets one
 * entry per window and the count is returned (0 for an empty document), or -1
 * + pq_fail if max_len < 1 or context_len is outside [1, max_len]. */
int64_t pq_rolling_windows(int64_t n, int64_t max_len, int64_t context_len, pq_window **out);

#endif
