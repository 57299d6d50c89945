/* hf_bpe.h — the BPE tokenizers of Hugging Face tokenizer.json files, encoding as
 * the `tokenizers` library does: byte-level (GPT-2, LLaMA-3, SmolLM style) and
 * SentencePiece-style (LLaMA-2, TinyLlama, Mistral: characters, "▁" for spaces,
 * byte fallback).
 *
 * What is read (anything else is refused with one line naming the file and field):
 *   - model: type BPE, vocab {token: id}, merges as "a b" strings or ["a", "b"]
 *     arrays (rank = position), ignore_merges; no dropout, no continuing-subword
 *     prefix or end-of-word suffix (LLaMA-family vocabularies have neither).
 *     Without a ByteLevel pre-tokenizer the model is char-level: BPE starts from
 *     characters, and one outside the vocab becomes its bytes' <0xXX> tokens
 *     (byte_fallback) or unk_token (fuse_unk: one per run).
 *   - added_tokens: matched in the raw text first (leftmost, then longest), with
 *     lstrip/rstrip; the text between them goes through the rest, each such
 *     section normalized on its own. Not "normalized" ones where a normalizer
 *     changes text (the library matches those after normalizing).
 *   - normalizer: none, or Prepend, Replace of a String, and Sequences of them.
 *   - pre_tokenizer: Metaspace alone (replacement, prepend_scheme always / first
 *     (the section that starts the text) / never, split false), or
 *     ByteLevel (add_prefix_space, use_regex: the GPT-2 split),
 *     Split with the GPT-2 or the LLaMA-3 pattern (behavior Isolated), Digits
 *     (individual_digits or runs), or a Sequence of these. The two split patterns
 *     are written as C (split_gpt2, split_llama3 in hf_bpe.c) over the Unicode
 *     classes of unicode_classes.h, not run by a regex engine: a pattern is
 *     recognised by its exact text, and another pattern is refused.
 *   - decoder: ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence
 *     (token_bytes gives a token's bytes: "▁" as a space, <0xXX> as its byte).
 *   - post_processor: a TemplateProcessing (possibly inside a Sequence) whose
 *     single-sequence template starts with a special token gives the BOS id.
 *
 * Byte-level: every byte of a piece is first the token of its bytes_to_unicode
 * character, so the vocabulary is kept as raw bytes -> id and merges as
 * (left id, right id) -> rank; a token's bytes decode back exactly. */
#ifndef PQ_HF_BPE_H
#define PQ_HF_BPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pq_hf_bpe pq_hf_bpe;

/* NULL + pq_error() "<path>: <what is wrong>". */
pq_hf_bpe *pq_hf_bpe_load(const char *path);
/* The same from bytes in memory; name is what errors call the file. */
pq_hf_bpe *pq_hf_bpe_parse(const char *data, size_t n, const char *name);
void pq_hf_bpe_free(pq_hf_bpe *t);

/* Largest token id + 1 (model vocab and added tokens). */
int pq_hf_bpe_vocab_size(const pq_hf_bpe *t);
/* The id of a token named as tokenizer.json names it (vocab key or added
 * token content), or -1. */
int32_t pq_hf_bpe_id(const pq_hf_bpe *t, const char *name);
/* The special token the post-processor puts first (the BOS it adds), or -1. */
int32_t pq_hf_bpe_template_bos(const pq_hf_bpe *t);

/* 1 for a SentencePiece-style (char-level) file, 0 for a byte-level one. */
int pq_hf_bpe_char_level(const pq_hf_bpe *t);
/* 1 if a char-level file puts its space marker before the text (a Prepend rule,
 * or Metaspace with prepend_scheme always or first): llama.cpp's add_space_prefix. */
int pq_hf_bpe_prepends_space(const pq_hf_bpe *t);
/* 1 if that is a Prepend normalizer rule (it prepends even before a space). */
int pq_hf_bpe_prepend_rule(const pq_hf_bpe *t);
/* llama.cpp's name (tokenizer.ggml.pre) for this file's pre-tokenization:
 * "llama-bpe" (the LLaMA-3 split), "smollm" (Digits, each, then the GPT-2 split),
 * "gpt-2" (the GPT-2 split alone); NULL if llama.cpp has none. */
const char *pq_hf_bpe_gguf_pre(const pq_hf_bpe *t);

/* Appends the tokens of text to *out (*n_out used, *cap allocated; may start
 * NULL/0). No BOS/EOS is added. Caches pieces: not thread-safe on one t. */
void pq_hf_bpe_encode(pq_hf_bpe *t, const char *text, size_t n, int32_t **out, size_t *n_out, size_t *cap);
/* The bytes of token id (added tokens: their UTF-8 content); NULL if id is unused. */
const uint8_t *pq_hf_bpe_token_bytes(const pq_hf_bpe *t, int32_t id, size_t *len);

#endif
