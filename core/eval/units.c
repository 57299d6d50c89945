#include "eval/units.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

enum { WINDOWS_PER_CALL = 16 };

void pq_doc_losses_free(pq_doc_losses *d) {
    free(d->nll), free(d->targets);
    memset(d, 0, sizeof *d);
}

int pq_eval_doc_losses(const pq_lm *lm, const uint16_t *tokens, int64_t n, int T, int64_t val_tokens, int32_t bos,
                       pq_doc_losses *out) {
    memset(out, 0, sizeof *out);
    if (T < 1 || T > lm->max_len) return pq_fail("validation windows of %d tokens do not fit the model context %d", T, lm->max_len);
    if (n < (int64_t)T + 1) return pq_fail("validation stream of %lld tokens is shorter than one window", (long long)n);
    int64_t windows = val_tokens / T;
    if (windows < 1) windows = 1;
    if (windows > (n - 1) / T) windows = (n - 1) / T;
    /* Documents: one more at every BOS after position 0, up to the last input scored. */
    int64_t last_input = windows * T - 1, n_docs = 1;
    for (int64_t p = 1; p <= last_input; p++) n_docs += tokens[p] == bos;
    out->n_docs = n_docs, out->windows = windows, out->tokens = windows * T;
    out->nll = pq_calloc((size_t)n_docs, sizeof *out->nll);
    out->targets = pq_calloc((size_t)n_docs, sizeof *out->targets);

    int32_t *ids = pq_malloc(sizeof *ids * (size_t)WINDOWS_PER_CALL * (T + 1));
    double *logp = pq_malloc(sizeof *logp * (size_t)WINDOWS_PER_CALL * T);
    pq_lm_group groups[WINDOWS_PER_CALL];
    const int32_t *conts[WINDOWS_PER_CALL];
    double *logps[WINDOWS_PER_CALL];
    int lens[WINDOWS_PER_CALL];
    int64_t doc = 0;
    int rc = 0;
    for (int64_t w0 = 0; w0 < windows && rc == 0; w0 += WINDOWS_PER_CALL) {
        int nb = (int)PQ_MIN((int64_t)WINDOWS_PER_CALL, windows - w0);
        for (int b = 0; b < nb; b++) {
            int32_t *seq = ids + (size_t)b * (T + 1);
            for (int t = 0; t <= T; t++) seq[t] = tokens[(w0 + b) * T + t];
            conts[b] = seq + 1, lens[b] = T, logps[b] = logp + (size_t)b * T;
            groups[b] = (pq_lm_group){seq, 1, 1, &conts[b], &lens[b], &logps[b]};
        }
        rc = lm->score(lm->impl, nb, groups);
        for (int b = 0; b < nb && rc == 0; b++)
            for (int t = 0; t < T; t++) {
                int64_t p = (w0 + b) * T + t; /* the input position */
                if (p > 0 && tokens[p] == bos) doc++;
                out->nll[doc] -= logps[b][t];
                out->targets[doc]++;
            }
    }
    free(ids), free(logp);
    if (rc != 0) pq_doc_losses_free(out);
    return rc;
}
