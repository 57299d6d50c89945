/* lm.h — what the evaluator needs from a language model and a tokenizer.
 *
 * The scorer (mc.h, ppl.h) never sees a transformer or a BPE table: it talks to
 * these two small interfaces. The real model and tokenizer are adapted to them
 * (model_lm.c, bpe_tok.c); tests plug in tiny models with known weights, so
 * every log-likelihood the scorer reports can be computed by hand.
 *
 * The model interface scores *groups*: one token prefix shared by several
 * continuations. Multiple-choice items are groups (the context once, one
 * continuation per choice), and so are rolling perplexity windows (one
 * continuation each). Handing the model the whole group lets it run the shared
 * prefix once, which is most of the work: contexts are long, choices short. */
#ifndef PQ_EVAL_LM_H
#define PQ_EVAL_LM_H

#include <stddef.h>
#include <stdint.h>

/* One shared prefix and n_cont continuations. For continuation j the model
 * writes logp[j][i] = log P(cont[j][i] | prefix, cont[j][0..i-1]) for
 * i < cont_len[j]. Requirements the scorer guarantees: n_prefix >= 1,
 * cont_len[j] >= 1 and n_prefix + cont_len[j] - 1 <= max_len (the tokens the
 * model must see for the last prediction). */
typedef struct {
    const int32_t *prefix;
    int n_prefix;
    int n_cont;
    const int32_t *const *cont;
    const int *cont_len;
    double *const *logp; /* out */
} pq_lm_group;

typedef struct pq_lm {
    int vocab_size;
    int max_len; /* tokens one forward pass can attend to (the context length) */
    void *impl;
    /* Scores n groups; returns 0, or -1 after pq_fail(). The groups are
     * independent: an implementation may batch them any way it likes, but the
     * results must not depend on the batching beyond float rounding. */
    int (*score)(void *impl, int n, const pq_lm_group *groups);
    void (*free)(void *impl);
} pq_lm;

/* A tokenizer as the evaluator uses it: plain encoding (no BOS/EOS added) and
 * the BOS id that starts every scored sequence. */
typedef struct pq_eval_tokenizer {
    int vocab_size;
    int32_t bos;
    void *impl;
    /* Encodes len bytes of UTF-8 text into a new array (*ids, freed by the
     * caller) of *n tokens; 0, or -1 after pq_fail(). */
    int (*encode)(void *impl, const char *text, size_t len, int32_t **ids, int *n);
    /* The bytes token id decodes to (NULL if id is not a token); optional. */
    const uint8_t *(*token_bytes)(void *impl, int32_t id, size_t *len);
    void (*free)(void *impl);
} pq_eval_tokenizer;

/* Checks the model and tokenizer agree on the vocabulary (a checkpoint trained
 * with another tokenizer would score garbage, silently): -1 + pq_fail naming
 * both sizes if not. */
int pq_lm_check_tokenizer(const pq_lm *lm, const pq_eval_tokenizer *tok, const char *model_name,
                          const char *tokenizer_name);

#endif
