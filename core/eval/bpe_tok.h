/* bpe_tok.h — the byte-level BPE tokenizer (data/bpe.h) as a pq_eval_tokenizer. */
#ifndef PQ_EVAL_BPE_TOK_H
#define PQ_EVAL_BPE_TOK_H

#include "data/bpe.h"
#include "eval/lm.h"

/* Wraps b (not owned). BOS is the tokenizer's BOS id. */
void pq_bpe_eval_tokenizer(pq_eval_tokenizer *tok, pq_bpe *b);

#endif
