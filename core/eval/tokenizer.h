/* tokenizer.h — opens any tokenizer file pq reads as a pq_eval_tokenizer:
 *
 *   pq's own BPE (data/bpe.h: a "pq-bpe 1" file, tokenizer.bpe),
 *   a Hugging Face tokenizer.json with a BPE model, byte-level or
 *   SentencePiece-style (data/hf_bpe.h),
 *   a SentencePiece tokenizer.model, BPE or unigram (data/spm.h),
 *
 * told apart by their first bytes, not their names. The evaluator, pq tokenize
 * and pq generate see only the interface. */
#ifndef PQ_EVAL_TOKENIZER_H
#define PQ_EVAL_TOKENIZER_H

#include <jansson.h>

#include "base/hash.h"
#include "eval/lm.h"

typedef struct {
    const char *kind;         /* "pq-bpe", "tokenizer.json" or "sentencepiece-bpe" / "sentencepiece-unigram" */
    char hash[PQ_SHA256_HEX]; /* pq-bpe: its vocab hash (data/bpe.h); the others: SHA-256 of the file */
    const char *bos_from;     /* where tok->bos came from, for results and messages */
    int32_t eos;              /* where generation stops: pq's 257, config.json's eos_token_id, the tokenizer's; -1 */
} pq_tokenizer_info;

/* Opens path into *tok (release with tok->free(tok->impl)). The BOS id: bos if
 * >= 0; else pq-bpe's 256; else, for a foreign tokenizer, bos_token_id of the
 * config.json in the same directory (the model's), then the tokenizer's own (the
 * tokenizer.json post-processor's first special token, SentencePiece's bos_id);
 * -1 if none of these exists. -1 + pq_error() naming the file if it is not a
 * tokenizer pq reads. */
int pq_eval_tokenizer_open(const char *path, int32_t bos, pq_eval_tokenizer *tok, pq_tokenizer_info *info);

/* pq import hf: finds the model's own tokenizer in a Hugging Face directory
 * (tokenizer.json if pq reads it, else tokenizer.model) and records it in the
 * checkpoint meta: source.tokenizer (its absolute path), source.bos (config.json's
 * bos_token_id, else the tokenizer's) and tokenizer_hash (SHA-256 of the file: QAT
 * carries it on, and pq eval checks it). A vocabulary larger than the model's is
 * not recorded. Returns the path recorded (free it) or NULL, with *why saying why
 * not (a pq_error() copy; free it) when a file was there but not usable. */
char *pq_record_tokenizer(json_t *meta, const char *dir, int model_vocab, char **why);
/* The tokenizer pq import hf recorded in meta: 1 with *path (into meta) and, if
 * *bos < 0, *bos; 0 if none. */
int pq_imported_tokenizer(const json_t *meta, const char **path, long long *bos);

#endif
