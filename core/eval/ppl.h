/* ppl.h — document perplexity that compares across tokenizers.
 *
 * Each document is encoded without BOS and scored with lm-eval's rolling windows
 * (windows.h; the BOS token is the prefix the first token is predicted from), so
 * every token is predicted exactly once. Following lm-eval's perplexity tasks
 * (wikitext), the corpus-level metrics divide the summed log-likelihood by units
 * of the original text, which do not depend on the tokenizer:
 *   word_perplexity = exp(-Σ loglik / Σ words), words = len(re.split(r"\s+", doc))
 *   byte_perplexity = exp(-Σ loglik / Σ bytes), bytes = len(doc.encode("utf-8"))
 *   bits_per_byte   = -Σ loglik / Σ bytes / ln 2
 * and, for the curious, token_perplexity = exp(-Σ loglik / Σ tokens), which does
 * depend on the tokenizer. */
#ifndef PQ_EVAL_PPL_H
#define PQ_EVAL_PPL_H

#include <stddef.h>
#include <stdint.h>

#include "eval/lm.h"
#include "eval/mc.h"

typedef struct {
    const char *text;
    size_t len;
} pq_doc;

typedef struct {
    int64_t documents, tokens, bytes, words, windows;
    double loglik;
    double token_perplexity, word_perplexity, byte_perplexity, bits_per_byte;
} pq_ppl_stats;

/* Scores n documents; doc_loglik (may be NULL) gets each document's summed
 * log-likelihood. 0, or -1 + pq_fail naming the document. */
int pq_ppl_score(const pq_lm *lm, const pq_eval_tokenizer *tok, const pq_doc *docs, int64_t n, double *doc_loglik,
                 pq_ppl_stats *stats, pq_eval_progress_fn progress, void *progress_ctx);

#endif
