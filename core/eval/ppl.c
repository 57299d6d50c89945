#include "eval/ppl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/text.h"
#include "eval/windows.h"

/* Windows handed to the model per call: enough to batch, bounded memory. */
#define PPL_BATCH 16

typedef struct {
    int32_t *prefix; /* owned copy: the first window's prefix is BOS, not a document token */
    int n_prefix;
    const int32_t *cont;
    int cont_len;
    double *logp;
    int64_t doc;
} pending_window;

static int flush(const pq_lm *lm, pending_window *w, int n, double *doc_ll) {
    pq_lm_group groups[PPL_BATCH] = {{0}};
    for (int i = 0; i < n; i++)
        groups[i] = (pq_lm_group){w[i].prefix, w[i].n_prefix, 1, &w[i].cont, &w[i].cont_len, &w[i].logp};
    int rc = n ? lm->score(lm->impl, n, groups) : 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            double s = 0;
            for (int t = 0; t < w[i].cont_len; t++) s += w[i].logp[t];
            doc_ll[w[i].doc] += s;
        }
        free(w[i].prefix);
        free(w[i].logp);
    }
    return rc;
}

int pq_ppl_score(const pq_lm *lm, const pq_eval_tokenizer *tok, const pq_doc *docs, int64_t n, double *doc_loglik,
                 pq_ppl_stats *stats, pq_eval_progress_fn progress, void *progress_ctx) {
    memset(stats, 0, sizeof *stats);
    double *ll = pq_calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    /* Token arrays must live until their windows are scored: keep the docs of
     * the pending batch. */
    int32_t **ids = pq_calloc((size_t)(n > 0 ? n : 1), sizeof *ids);
    pending_window pend[PPL_BATCH];
    int n_pend = 0, rc = 0;
    int64_t first_live = 0; /* docs before this have no pending window */

    for (int64_t d = 0; d < n && rc == 0; d++) {
        int n_ids = 0;
        if (tok->encode(tok->impl, docs[d].text, docs[d].len, &ids[d], &n_ids) != 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", pq_error());
            rc = pq_fail("document %lld: %s", (long long)d, msg);
            break;
        }
        stats->documents++;
        stats->tokens += n_ids;
        stats->bytes += (int64_t)docs[d].len;
        stats->words += pq_text_count_words(docs[d].text, docs[d].len);
        pq_window *win = NULL;
        int64_t nw = pq_rolling_windows(n_ids, lm->max_len, 1, &win);
        if (nw < 0) {
            rc = -1;
            break;
        }
        stats->windows += nw;
        for (int64_t k = 0; k < nw && rc == 0; k++) {
            pending_window *p = &pend[n_pend++];
            p->doc = d;
            p->n_prefix = (int)win[k].ctx_len;
            p->prefix = pq_malloc((size_t)p->n_prefix * sizeof(int32_t));
            if (win[k].ctx_start < 0)
                p->prefix[0] = tok->bos;
            else
                memcpy(p->prefix, ids[d] + win[k].ctx_start, (size_t)p->n_prefix * sizeof(int32_t));
            p->cont = ids[d] + win[k].pred_start;
            p->cont_len = (int)win[k].pred_len;
            p->logp = pq_malloc((size_t)p->cont_len * sizeof(double));
            if (n_pend == PPL_BATCH) {
                rc = flush(lm, pend, n_pend, ll);
                n_pend = 0;
                for (; first_live < d; first_live++) free(ids[first_live]), ids[first_live] = NULL;
            }
        }
        free(win);
        if (rc == 0 && n_pend == 0)
            for (; first_live <= d; first_live++) free(ids[first_live]), ids[first_live] = NULL;
        if (rc == 0 && progress) progress(progress_ctx, d + 1, n);
    }
    if (rc == 0) rc = flush(lm, pend, n_pend, ll);
    else
        for (int i = 0; i < n_pend; i++) free(pend[i].prefix), free(pend[i].logp);
    for (int64_t d = 0; d < n; d++) free(ids[d]);
    free(ids);

    for (int64_t d = 0; d < n && rc == 0; d++) {
        if (!isfinite(ll[d])) rc = pq_fail("document %lld: log-likelihood is %g", (long long)d, ll[d]);
        stats->loglik += ll[d];
        if (doc_loglik) doc_loglik[d] = ll[d];
    }
    free(ll);
    if (rc != 0) return -1;
    if (stats->tokens == 0) return pq_fail("no document has any token to score");
    stats->token_perplexity = exp(-stats->loglik / (double)stats->tokens);
    stats->word_perplexity = exp(-stats->loglik / (double)stats->words);
    stats->byte_perplexity = stats->bytes ? exp(-stats->loglik / (double)stats->bytes) : NAN;
    stats->bits_per_byte = stats->bytes ? -stats->loglik / (double)stats->bytes / log(2.0) : NAN;
    return 0;
}
