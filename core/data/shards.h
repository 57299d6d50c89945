/* shards.h — token shards: the training engine's view of the corpus.
 *
 * A shard is one file of token ids, written once by `pq data build` and then
 * memory-mapped read-only. On disk (all integers little-endian):
 *
 *   header, 128 bytes:
 *     0   char[8]  magic "PQSHARD1"
 *     8   u32      format version (PQ_SHARD_VERSION)
 *     12  u32      bytes per token: 2 (vocab <= 65536) or 4
 *     16  u32      vocab size of the tokenizer that produced the tokens
 *     20  u32      reserved (0)
 *     24  u64      token count
 *     32  u64      document count (every document starts with the BOS token)
 *     40  u8[32]   vocab hash: SHA-256 of the tokenizer file (see bpe.h)
 *     72  u8[32]   SHA-256 of the token payload
 *     104 u8[24]   reserved (0)
 *   payload: token count x bytes-per-token token ids
 *
 * pq_shard_open() trusts nothing: it checks magic, version, token width, that the
 * file size is exactly header + count x width, the payload checksum and that
 * every id is below the vocab size. Any failure is one error naming the file.
 *
 * A shard set is every "<dir>/<split>_*.bin" (sorted by name) or the single
 * "<dir>/<split>.bin", read as one concatenated stream: the engine asks for the
 * total count and reads any range. `pq data build` writes train_000.bin, ...
 * and val.bin under work/data/shards. */
#ifndef PQ_SHARDS_H
#define PQ_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "base/hash.h"

#define PQ_SHARD_MAGIC "PQSHARD1"
#define PQ_SHARD_VERSION 1
#define PQ_SHARD_HEADER_BYTES 128

/* ---- one shard file ---- */

typedef struct {
    char *path;
    uint32_t version;
    uint32_t token_bytes; /* 2 or 4 */
    uint32_t vocab_size;
    uint64_t n_tokens;
    uint64_t n_docs;
    char vocab_hash[PQ_SHA256_HEX];   /* hex SHA-256 of the tokenizer file */
    char payload_hash[PQ_SHA256_HEX]; /* hex SHA-256 of the token bytes */
    /* private */
    void *map;
    size_t map_bytes;
    const uint8_t *payload;
} pq_shard;

/* Opens, maps and fully validates; NULL + pq_error() "<path>: ..." on any problem. */
pq_shard *pq_shard_open(const char *path);
void pq_shard_close(pq_shard *s);

/* Token i (no bounds check; i < n_tokens). */
static inline uint32_t pq_shard_token(const pq_shard *s, uint64_t i) {
    if (s->token_bytes == 2) {
        const uint8_t *p = s->payload + 2 * i;
        return (uint32_t)p[0] | (uint32_t)p[1] << 8;
    }
    const uint8_t *p = s->payload + 4 * i;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Copies tokens [start, start+n) into out; -1 + pq_error() if the range is outside the shard. */
int pq_shard_read(const pq_shard *s, uint64_t start, uint64_t n, int32_t *out);

/* 0 if the shard was made by the tokenizer with this hash and vocab size; else
 * -1 + pq_error() "<path>: made by tokenizer <hash> (vocab N), expected ..." */
int pq_shard_check_vocab(const pq_shard *s, const char *vocab_hash, uint32_t vocab_size);

/* ---- writing ---- */

typedef struct pq_shard_writer pq_shard_writer;

/* Starts an atomic write of path (nothing appears there until commit). The token
 * width is 2 bytes when vocab_size <= 65536, else 4. NULL + pq_error() on failure. */
pq_shard_writer *pq_shard_writer_open(const char *path, uint32_t vocab_size, const char *vocab_hash);
/* Appends one document's tokens (the caller puts BOS first). Ids >= vocab_size are
 * a programming error (pq_die). -1 + pq_error() on an I/O error. */
int pq_shard_writer_add_doc(pq_shard_writer *w, const int32_t *tokens, size_t n);
uint64_t pq_shard_writer_tokens(const pq_shard_writer *w);
/* Finishes the header, fsyncs, renames into place and frees w. -1 + pq_error() on failure (nothing left behind). */
int pq_shard_writer_commit(pq_shard_writer *w);
/* Discards the temporary file and frees w. */
void pq_shard_writer_abort(pq_shard_writer *w);

/* ---- a set of shards read as one stream ---- */

typedef struct {
    int n_shards;
    pq_shard **shards;
    uint64_t *first; /* first[i] = global index of shard i's token 0; first[n_shards] = total */
    uint64_t n_tokens, n_docs;
    uint32_t vocab_size;
    char vocab_hash[PQ_SHA256_HEX];
} pq_shard_set;

/* Opens "<dir>/<split>_*.bin" (sorted) or else "<dir>/<split>.bin". All shards must
 * agree on vocab size and hash. NULL + pq_error() if none exist or any is bad. */
pq_shard_set *pq_shard_set_open(const char *dir, const char *split);
void pq_shard_set_close(pq_shard_set *set);
/* Global token i (i < n_tokens). */
uint32_t pq_shard_set_token(const pq_shard_set *set, uint64_t i);
/* Copies tokens [start, start+n) of the concatenated stream; -1 + pq_error() if out of range. */
int pq_shard_set_read(const pq_shard_set *set, uint64_t start, uint64_t n, int32_t *out);

#endif
