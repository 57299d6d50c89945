/* bpe.h — a byte-level BPE tokenizer: training, encoding, decoding, files.
 *
 * Ids: 0..255 are the raw bytes, 256 is BOS, 257 is EOS, and merge i (0-based)
 * creates id 258 + i from two earlier ids. vocab size = 258 + number of merges,
 * so the byte and special ids are the same in every vocab (4k, 8k, ...).
 *
 * Pre-tokenization (shared by training and encoding, GPT-2 style, on bytes):
 * text is cut into chunks and merges never cross a chunk boundary. A chunk is
 *   - an optional single leading space + a run of letters (ASCII letters and
 *     non-ASCII UTF-8 characters outside the punctuation blocks), or
 *   - an optional single leading space + a run of digits, or
 *   - an optional single leading space + a run of other symbols, or
 *   - an English contraction suffix after an apostrophe: 's 't 're 've 'm 'll 'd, or
 *   - a run of whitespace (its last space is left to the next word, so
 *     "a  b" -> "a", " ", " b").
 * Chunks longer than PQ_BPE_MAX_CHUNK bytes are cut. So " word" keeps its
 * leading space and " " + choice scores as the harness expects.
 *
 * Training: the word-count dictionary of the training text's chunks; repeatedly
 * merge the most frequent adjacent pair (ties: the smaller left id, then the
 * smaller right id), with incremental pair counts and a lazy max-heap.
 * Encoding: per chunk, repeatedly merge the adjacent pair of lowest merge rank
 * (the standard BPE rule); per-chunk results are cached.
 *
 * File format (UTF-8 text, '\n' line ends, no trailing spaces):
 *   pq-bpe 1
 *   vocab <V>
 *   bos 256
 *   eos 257
 *   merges <M>            (M = V - 258)
 *   <left> <right>        (M lines: merge i makes id 258 + i; both ids < 258 + i, not BOS/EOS)
 * The tokenizer's hash is the SHA-256 of exactly these bytes; shards and
 * checkpoints record it so a model can be checked against its tokenizer. */
#ifndef PQ_BPE_H
#define PQ_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "base/hash.h"

#define PQ_BPE_BOS 256
#define PQ_BPE_EOS 257
#define PQ_BPE_FIRST_MERGE 258
#define PQ_BPE_MAX_CHUNK 64

typedef struct pq_bpe pq_bpe;
typedef struct pq_bpe_trainer pq_bpe_trainer;

/* ---- pre-tokenization ---- */

/* End (exclusive) of the chunk that starts at text[pos] (pos < n). */
size_t pq_bpe_chunk_end(const uint8_t *text, size_t n, size_t pos);

/* ---- training ---- */

pq_bpe_trainer *pq_bpe_trainer_new(void);
/* Adds text to the word-count dictionary (call once per document). */
void pq_bpe_trainer_add(pq_bpe_trainer *t, const char *text, size_t n);
/* The same, counted `count` times (a document the mixture repeats). */
void pq_bpe_trainer_add_n(pq_bpe_trainer *t, const char *text, size_t n, int64_t count);
/* Unique chunks and total chunks seen so far. */
size_t pq_bpe_trainer_words(const pq_bpe_trainer *t, uint64_t *total);
/* Learns merges until the vocab reaches vocab_size (>= 258) or no pair occurs
 * twice; show_progress: report on stderr via progress.h. Frees the trainer. */
pq_bpe *pq_bpe_trainer_finish(pq_bpe_trainer *t, int vocab_size, int show_progress);
void pq_bpe_trainer_free(pq_bpe_trainer *t);

/* ---- the tokenizer ---- */

/* Builds a tokenizer from a merge list (ids as in the file format); NULL + pq_error() if invalid. */
pq_bpe *pq_bpe_from_merges(const int32_t (*merges)[2], int n_merges);
/* NULL + pq_error() "<path>:<line>: ..." on a malformed file. */
pq_bpe *pq_bpe_load(const char *path);
/* Atomic write of the file format above. */
int pq_bpe_save(const pq_bpe *b, const char *path);
void pq_bpe_free(pq_bpe *b);

int pq_bpe_vocab_size(const pq_bpe *b);
int pq_bpe_n_merges(const pq_bpe *b);
/* Merge i's two ids. */
void pq_bpe_merge(const pq_bpe *b, int i, int32_t *left, int32_t *right);
/* Hex SHA-256 of the serialized tokenizer (the "vocab hash"). */
const char *pq_bpe_hash(const pq_bpe *b);

/* The bytes of token id (empty for BOS/EOS). */
const uint8_t *pq_bpe_token_bytes(const pq_bpe *b, int32_t id, size_t *len);

/* Appends the tokens of text to *out (a malloc'd array with *n used and *cap
 * allocated; both may start at NULL/0). No BOS/EOS is added. Uses and fills the
 * tokenizer's chunk cache: not thread-safe on one pq_bpe. */
void pq_bpe_encode(pq_bpe *b, const char *text, size_t n, int32_t **out, size_t *n_out, size_t *cap);
/* The bytes of tokens (BOS/EOS add nothing), NUL-terminated; *n_out = length.
 * NULL + pq_error() if an id is outside the vocab. */
char *pq_bpe_decode(const pq_bpe *b, const int32_t *tokens, size_t n, size_t *n_out);

#endif
