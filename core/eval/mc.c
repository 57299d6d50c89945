#include "eval/mc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/text.h"

int pq_mc_item_requests(const pq_mc_item *item) {
    return item->n_contexts > 1 ? item->n_contexts : item->n_choices;
}

int pq_mc_item_check(const pq_mc_item *item, int64_t index) {
    long long i = (long long)index;
    if (item->n_contexts < 1) return pq_fail("item %lld: no context", i);
    if (item->n_choices < 1) return pq_fail("item %lld: no choices", i);
    if (item->n_contexts > 1 && item->n_choices != 1)
        return pq_fail("item %lld: %d contexts need exactly one continuation, got %d", i, item->n_contexts,
                       item->n_choices);
    int k = pq_mc_item_requests(item);
    if (k > PQ_MC_MAX_REQUESTS) return pq_fail("item %lld: %d choices, at most %d supported", i, k, PQ_MC_MAX_REQUESTS);
    if (item->gold < 0 || item->gold >= k)
        return pq_fail("item %lld: gold %d is not an index into its %d %s", i, item->gold, k,
                       item->n_contexts > 1 ? "contexts" : "choices");
    for (int j = 0; j < item->n_contexts; j++)
        if (!item->contexts[j]) return pq_fail("item %lld: context %d missing", i, j);
    for (int j = 0; j < item->n_choices; j++) {
        if (!item->choices[j]) return pq_fail("item %lld: choice %d missing", i, j);
        /* An empty choice would make acc_norm divide by zero. */
        if (!item->choices[j][0]) return pq_fail("item %lld: choice %d is empty", i, j);
    }
    return 0;
}

int pq_mc_encode(const pq_eval_tokenizer *tok, int max_len, const char *context, const char *continuation,
                 pq_mc_request *req) {
    memset(req, 0, sizeof *req);
    size_t clen = strlen(context), klen = strlen(continuation);
    /* lm-eval _encode_pair: trailing whitespace of the context joins the continuation. */
    size_t ctx_keep = pq_text_rstrip_len(context, clen);
    char *whole = pq_malloc(clen + klen + 1);
    memcpy(whole, context, clen);
    memcpy(whole + clen, continuation, klen + 1);
    int32_t *whole_ids = NULL, *ctx_ids = NULL;
    int n_whole = 0, n_ctx = 0;
    int rc = tok->encode(tok->impl, whole, clen + klen, &whole_ids, &n_whole);
    if (rc == 0 && ctx_keep > 0) rc = tok->encode(tok->impl, context, ctx_keep, &ctx_ids, &n_ctx);
    free(whole);
    free(ctx_ids);
    if (rc != 0) {
        free(whole_ids);
        return -1;
    }
    int n_score = n_whole - n_ctx;
    if (n_score <= 0) {
        free(whole_ids);
        return pq_fail("continuation '%.40s' adds no token after its context", continuation);
    }
    if (n_score > max_len) {
        free(whole_ids);
        return pq_fail("continuation '%.40s' is %d tokens, longer than the model's context %d", continuation,
                       n_score, max_len);
    }
    /* BOS, then the whole encoding; keep at most max_len + 1 tokens (the last one
     * is only predicted, never input). */
    int n = n_whole + 1, drop = n > max_len + 1 ? n - (max_len + 1) : 0;
    req->tokens = pq_malloc((size_t)(n - drop) * sizeof(int32_t));
    int32_t *full = pq_malloc((size_t)n * sizeof(int32_t));
    full[0] = tok->bos;
    memcpy(full + 1, whole_ids, (size_t)n_whole * sizeof(int32_t));
    memcpy(req->tokens, full + drop, (size_t)(n - drop) * sizeof(int32_t));
    free(full);
    free(whole_ids);
    req->n_tokens = n - drop;
    req->n_score = n_score;
    req->truncated = drop;
    return 0;
}

int pq_argmax_first(const double *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i; /* strictly greater: the first maximum wins */
    return best;
}

double pq_mean_stderr(const double *x, int64_t n) {
    if (n < 2) return NAN;
    double mu = 0;
    for (int64_t i = 0; i < n; i++) mu += x[i];
    mu /= (double)n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (x[i] - mu) * (x[i] - mu);
    return sqrt(ss / (double)(n - 1)) / sqrt((double)n);
}

/* The requests of one item, encoded, with the prefix all of them share. */
typedef struct {
    int k;
    pq_mc_request req[PQ_MC_MAX_REQUESTS];
    double denom[PQ_MC_MAX_REQUESTS];
    int shared; /* tokens of the shared prefix (0: no sharing, one group per request) */
} item_batch;

static int encode_item(const pq_lm *lm, const pq_eval_tokenizer *tok, const pq_mc_item *item, int64_t index,
                       item_batch *b) {
    memset(b, 0, sizeof *b);
    if (pq_mc_item_check(item, index) != 0) return -1;
    b->k = pq_mc_item_requests(item);
    int multi = item->n_contexts > 1;
    for (int r = 0; r < b->k; r++) {
        const char *ctx = multi ? item->contexts[r] : item->contexts[0];
        const char *choice = multi ? item->choices[0] : item->choices[r];
        /* target_delimiter " " + choice. */
        size_t cl = strlen(choice);
        char *cont = pq_malloc(cl + 2);
        cont[0] = ' ';
        memcpy(cont + 1, choice, cl + 1);
        int rc = pq_mc_encode(tok, lm->max_len, ctx, cont, &b->req[r]);
        free(cont);
        if (rc != 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", pq_error());
            for (int j = 0; j < r; j++) free(b->req[j].tokens);
            return pq_fail("item %lld, request %d: %s", (long long)index, r, msg);
        }
        /* completion_len = len(doc_to_choice(doc)[r]): the choice, or the context
         * in the WinoGrande form (lm-eval 0.4). */
        const char *c = multi ? item->contexts[r] : item->choices[r];
        b->denom[r] = (double)pq_utf8_length(c, strlen(c));
    }
    /* Shared prefix: the longest common token prefix that leaves every scored
     * token outside it (a token's log-prob belongs to the continuation). */
    int p = b->req[0].n_tokens - b->req[0].n_score;
    for (int r = 1; r < b->k; r++) {
        const pq_mc_request *q = &b->req[r];
        p = PQ_MIN(p, q->n_tokens - q->n_score);
        int l = 0;
        while (l < p && b->req[0].tokens[l] == q->tokens[l]) l++;
        p = l;
    }
    b->shared = p;
    return 0;
}

static void free_item(item_batch *b) {
    for (int r = 0; r < b->k; r++) free(b->req[r].tokens);
    b->k = 0;
}

/* How many items one call to lm->score gets: enough to batch well, small enough
 * that progress moves and memory stays small. */
#define MC_CHUNK 32

int pq_mc_score(const pq_lm *lm, const pq_eval_tokenizer *tok, const pq_mc_item *items, int64_t n,
                pq_mc_result *results, pq_mc_stats *stats, pq_eval_progress_fn progress, void *progress_ctx) {
    memset(stats, 0, sizeof *stats);
    double *acc = pq_calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    double *acc_norm = pq_calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    item_batch *batch = pq_calloc(MC_CHUNK, sizeof *batch);
    /* Worst case one group per request. */
    pq_lm_group *groups = pq_calloc(MC_CHUNK * PQ_MC_MAX_REQUESTS, sizeof *groups);
    const int32_t **conts = pq_calloc(MC_CHUNK * PQ_MC_MAX_REQUESTS, sizeof *conts);
    int *cont_len = pq_calloc(MC_CHUNK * PQ_MC_MAX_REQUESTS, sizeof *cont_len);
    double **logp = pq_calloc(MC_CHUNK * PQ_MC_MAX_REQUESTS, sizeof *logp);
    int rc = 0;

    for (int64_t start = 0; start < n && rc == 0; start += MC_CHUNK) {
        int m = (int)PQ_MIN((int64_t)MC_CHUNK, n - start), encoded = 0, n_groups = 0, slot = 0;
        for (; encoded < m; encoded++)
            if (encode_item(lm, tok, &items[start + encoded], start + encoded, &batch[encoded]) != 0) break;
        if (encoded < m) {
            rc = -1;
            m = encoded;
        }
        for (int i = 0; i < m && rc == 0; i++) {
            item_batch *b = &batch[i];
            int first_slot = slot;
            for (int r = 0; r < b->k; r++, slot++) {
                const pq_mc_request *q = &b->req[r];
                int skip = b->shared ? b->shared : q->n_tokens - q->n_score;
                conts[slot] = q->tokens + skip;
                cont_len[slot] = q->n_tokens - skip;
                logp[slot] = pq_malloc((size_t)cont_len[slot] * sizeof(double));
                stats->tokens_unshared += q->n_tokens - 1;
                stats->truncated_requests += q->truncated > 0;
                if (!b->shared)
                    groups[n_groups++] = (pq_lm_group){q->tokens, skip, 1, &conts[slot], &cont_len[slot], &logp[slot]};
                stats->tokens_forward += cont_len[slot] - 1 + (b->shared ? 0 : skip);
            }
            if (b->shared) {
                groups[n_groups++] = (pq_lm_group){b->req[0].tokens, b->shared, b->k, &conts[first_slot],
                                                   &cont_len[first_slot], &logp[first_slot]};
                stats->tokens_forward += b->shared;
            }
        }
        if (rc == 0 && lm->score(lm->impl, n_groups, groups) != 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", pq_error());
            rc = pq_fail("items %lld..%lld: %s", (long long)start, (long long)(start + m - 1), msg);
        }
        slot = 0;
        for (int i = 0; i < m; i++) {
            item_batch *b = &batch[i];
            int64_t index = start + i;
            pq_mc_result res = {.n = b->k, .gold = items[index].gold};
            for (int r = 0; r < b->k; r++, slot++) {
                if (rc == 0) {
                    /* Sum only the scored tail: the continuation's own tokens. */
                    const pq_mc_request *q = &b->req[r];
                    double s = 0;
                    for (int t = cont_len[slot] - q->n_score; t < cont_len[slot]; t++) s += logp[slot][t];
                    if (!isfinite(s) && rc == 0)
                        rc = pq_fail("item %lld, request %d: log-likelihood is %g", (long long)index, r, s);
                    res.loglik[r] = s;
                    res.denom[r] = b->denom[r];
                    stats->tokens_scored += q->n_score;
                }
                free(logp[slot]);
                logp[slot] = NULL;
            }
            if (rc == 0) {
                double norm[PQ_MC_MAX_REQUESTS];
                for (int r = 0; r < b->k; r++) norm[r] = res.loglik[r] / res.denom[r];
                res.pred = pq_argmax_first(res.loglik, b->k);
                res.pred_norm = pq_argmax_first(norm, b->k);
                acc[index] = res.pred == res.gold;
                stats->chance += 1.0 / b->k;
                acc_norm[index] = res.pred_norm == res.gold;
                if (results) results[index] = res;
            }
            free_item(b);
        }
        if (rc == 0 && progress) progress(progress_ctx, start + m, n);
    }
    if (rc == 0) {
        double sa = 0, sn = 0;
        for (int64_t i = 0; i < n; i++) sa += acc[i], sn += acc_norm[i];
        stats->items = n;
        stats->acc = n ? sa / (double)n : NAN;
        stats->acc_norm = n ? sn / (double)n : NAN;
        stats->chance = n ? stats->chance / (double)n : NAN;
        stats->acc_stderr = pq_mean_stderr(acc, n);
        stats->acc_norm_stderr = pq_mean_stderr(acc_norm, n);
    }
    free(acc);
    free(acc_norm);
    free(batch);
    free(groups);
    free(conts);
    free(cont_len);
    free(logp);
    return rc;
}
