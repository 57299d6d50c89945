/* eval_toy.h — tiny language models and tokenizers with known behaviour, for
 * the eval tests (static functions: each test file includes its own copy).
 *
 * toy_tokenizer: greedy longest match over a short list of strings; id = index
 * in the list; BOS = the list length; vocab = list length + 1.
 * bigram_lm: log P(next | ..., prev) = table[prev][next], a table of exact
 * logs of simple fractions so the tests can add them up by hand.
 * spy_lm: uniform over the vocabulary, and it records every sequence it was
 * asked to read (prefix + continuation minus its last token). */
#ifndef EVAL_TOY_H
#define EVAL_TOY_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "eval/lm.h"

typedef struct {
    const char *const *pieces;
    int n;
} toy_tok;

static __attribute__((unused)) int toy_encode(void *impl, const char *text, size_t len, int32_t **ids, int *n) {
    const toy_tok *t = impl;
    int32_t *out = pq_malloc((len + 1) * sizeof(int32_t));
    int m = 0;
    for (size_t i = 0; i < len;) {
        int best = -1;
        size_t best_len = 0;
        for (int p = 0; p < t->n; p++) {
            size_t pl = strlen(t->pieces[p]);
            if (pl > best_len && pl <= len - i && !memcmp(text + i, t->pieces[p], pl)) best = p, best_len = pl;
        }
        if (best < 0) {
            free(out);
            return pq_fail("toy tokenizer: no piece for byte 0x%02x", (unsigned char)text[i]);
        }
        out[m++] = best;
        i += best_len;
    }
    *ids = out;
    *n = m;
    return 0;
}

static __attribute__((unused)) pq_eval_tokenizer toy_tokenizer(toy_tok *t) {
    return (pq_eval_tokenizer){.vocab_size = t->n + 1, .bos = t->n, .impl = t, .encode = toy_encode};
}

typedef struct {
    int V;
    const double *table; /* V x V log-probs */
    int64_t calls, tokens_read;
} bigram;

static __attribute__((unused)) int bigram_score(void *impl, int n, const pq_lm_group *g) {
    bigram *b = impl;
    b->calls++;
    for (int i = 0; i < n; i++) {
        b->tokens_read += g[i].n_prefix;
        for (int j = 0; j < g[i].n_cont; j++) {
            int32_t prev = g[i].prefix[g[i].n_prefix - 1];
            for (int t = 0; t < g[i].cont_len[j]; t++) {
                int32_t next = g[i].cont[j][t];
                g[i].logp[j][t] = b->table[prev * b->V + next];
                prev = next;
            }
            b->tokens_read += g[i].cont_len[j] - 1;
        }
    }
    return 0;
}

static __attribute__((unused)) pq_lm bigram_lm(bigram *b, int max_len) {
    return (pq_lm){.vocab_size = b->V, .max_len = max_len, .impl = b, .score = bigram_score};
}

#define SPY_MAX 64
typedef struct {
    int V, max_len;
    int n_seen;
    int32_t seen[SPY_MAX][256]; /* the inputs the model read */
    int seen_len[SPY_MAX];
    int seen_pred[SPY_MAX]; /* how many predictions were asked of it */
} spy;

static __attribute__((unused)) int spy_score(void *impl, int n, const pq_lm_group *g) {
    spy *s = impl;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < g[i].n_cont; j++) {
            int len = g[i].n_prefix + g[i].cont_len[j] - 1;
            if (len > s->max_len) return pq_fail("spy: %d tokens exceed max_len %d", len, s->max_len);
            if (s->n_seen == SPY_MAX) return pq_fail("spy: too many sequences");
            int k = s->n_seen++;
            memcpy(s->seen[k], g[i].prefix, (size_t)g[i].n_prefix * sizeof(int32_t));
            memcpy(s->seen[k] + g[i].n_prefix, g[i].cont[j], (size_t)(g[i].cont_len[j] - 1) * sizeof(int32_t));
            s->seen_len[k] = len;
            s->seen_pred[k] = g[i].cont_len[j];
            for (int t = 0; t < g[i].cont_len[j]; t++) g[i].logp[j][t] = -log((double)s->V);
        }
    return 0;
}

static __attribute__((unused)) pq_lm spy_lm(spy *s) {
    return (pq_lm){.vocab_size = s->V, .max_len = s->max_len, .impl = s, .score = spy_score};
}

#endif
