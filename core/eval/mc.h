/* mc.h — multiple-choice scoring with lm-evaluation-harness semantics.
 *
 * An item is scored as lm-eval's "multiple_choice" output type does it:
 *   - one context: request j is (context, " " + choices[j]);
 *   - several contexts (the WinoGrande form): one shared continuation, request
 *     i is (contexts[i], " " + continuation) and the answer indexes the contexts.
 * Each request is tokenized as lm-eval's _encode_pair does: trailing whitespace
 * of the context moves to the front of the continuation, context+continuation is
 * encoded whole, and the continuation's tokens are those after the context's own
 * encoding. A BOS token starts every sequence. loglik = sum of the continuation's
 * token log-probs. Sequences longer than max_len + 1 tokens lose tokens on the
 * left (lm-eval: (context_enc + continuation_enc)[-(max_length + 1):]).
 * acc = [argmax loglik == gold], acc_norm = [argmax loglik / len == gold], argmax
 * taking the first index on ties (numpy.argmax); len is lm-eval's completion_len,
 * float(len(choice)) over doc_to_choice, in code points and without the " ":
 * for the one-context form the choice, for the WinoGrande form the context
 * (doc_to_choice returns the contexts there, as in lm-eval 0.4; WinoGrande
 * itself only reports acc). Standard errors are lm-eval's mean_stderr: the
 * sample standard deviation (n - 1) over sqrt(n). */
#ifndef PQ_EVAL_MC_H
#define PQ_EVAL_MC_H

#include <stdint.h>

#include "eval/lm.h"

typedef struct {
    int n_contexts; /* 1, or >= 2 for the WinoGrande form */
    const char *const *contexts;
    int n_choices; /* >= 1 choices; exactly 1 (the shared continuation) in the WinoGrande form */
    const char *const *choices;
    int gold; /* index into choices, or into contexts for the WinoGrande form */
} pq_mc_item;

/* Requests of an item: n_choices, or n_contexts for the WinoGrande form. */
int pq_mc_item_requests(const pq_mc_item *item);
/* 0 if the item is well formed; -1 + pq_fail("item N: ...") if not. */
int pq_mc_item_check(const pq_mc_item *item, int64_t index);

/* The tokens lm-eval scores for one request. */
typedef struct {
    int32_t *tokens; /* BOS + context + continuation, after left truncation */
    int n_tokens;
    int n_score;     /* the last n_score tokens are the continuation */
    int truncated;   /* tokens lost on the left */
} pq_mc_request;

/* Encodes (context, continuation) as above; -1 + pq_fail if the continuation
 * encodes to no token or is longer than max_len. Free req->tokens. */
int pq_mc_encode(const pq_eval_tokenizer *tok, int max_len, const char *context, const char *continuation,
                 pq_mc_request *req);

typedef struct {
    int n;           /* requests */
    double loglik[16];
    double denom[16]; /* acc_norm denominator (code points) */
    int pred, pred_norm, gold;
} pq_mc_result;
#define PQ_MC_MAX_REQUESTS 16

typedef struct {
    int64_t items;
    double acc, acc_stderr, acc_norm, acc_norm_stderr; /* stderr NaN when items < 2 */
    double chance;           /* expected acc of guessing: mean of 1 / requests per item */
    int64_t tokens_scored;   /* continuation tokens summed */
    int64_t tokens_forward;  /* tokens the model ran (shared prefixes once) */
    int64_t tokens_unshared; /* tokens it would run without prefix sharing */
    int64_t truncated_requests;
} pq_mc_stats;

typedef void (*pq_eval_progress_fn)(void *ctx, int64_t done, int64_t total);

/* Scores n items; results (may be NULL) gets one entry per item. Returns 0, or
 * -1 + pq_fail naming the item on bad input or a model error. */
int pq_mc_score(const pq_lm *lm, const pq_eval_tokenizer *tok, const pq_mc_item *items, int64_t n,
                pq_mc_result *results, pq_mc_stats *stats, pq_eval_progress_fn progress, void *progress_ctx);

/* argmax with the first index on ties (numpy.argmax), ignoring nothing: a NaN
 * wins as in numpy, so callers must reject NaN log-likelihoods first. */
int pq_argmax_first(const double *v, int n);
/* lm-eval's mean_stderr: sample stddev / sqrt(n); NaN for n < 2. */
double pq_mean_stderr(const double *x, int64_t n);

#endif
