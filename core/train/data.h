/* data.h — the token streams the trainer reads, and the data order.
 *
 * A token stream is the concatenation of a shard set (core/data/shards.h:
 * "<dir>/<split>_*.bin" or "<dir>/<split>.bin"), held in memory as uint16 (the
 * corpora here are tens of MB). For tests and benchmarks without a corpus
 * there is a synthetic stream (see pq_tokens_synthetic).
 *
 * Data order: the stream is cut into n_chunks = (n - 1) / T consecutive
 * windows of T+1 tokens (input = first T, target = last T). Training sequence
 * number i (i = (step * grad_accum + micro) * batch + row) reads window
 * perm_e[i mod n_chunks] with e = i / n_chunks and perm_e a Philox permutation
 * keyed by (seed, "data", e): a pure function of (seed, step), so resuming
 * needs no RNG state. Validation reads windows 0, 1, 2, ... in order. */
#ifndef PQ_TRAIN_DATA_H
#define PQ_TRAIN_DATA_H

#include <stdint.h>

#include <jansson.h>

typedef struct {
    uint16_t *tokens;
    int64_t n;
    int vocab;        /* ids are < vocab */
    char desc[256];   /* e.g. "work/data/shards train (3 shards)" or "synthetic markov4 seed 1" */
    char vocab_hash[65]; /* tokenizer hash from the shards ("" for synthetic) */
    json_t *inputs;   /* object name -> file path, for manifests (may be empty) */
} pq_token_stream;

/* Loads a shard set; -1 + pq_error() naming the file on any problem. */
int pq_tokens_load_shards(pq_token_stream *ts, const char *dir, const char *split);

/* The synthetic stream: a first-order Markov chain in which every token has 4
 * possible successors (drawn once from Philox(seed, "synthetic", token)) and
 * each step picks one of them uniformly (Philox(seed, "synthetic-walk"/part, i)):
 * parts are independent walks on the same chain (part 0 = train, 1 = validation).
 * A model that learns the chain reaches the entropy log(4) = 1.386 nats, so
 * training on it exercises real learning, not noise. */
void pq_tokens_synthetic(pq_token_stream *ts, uint64_t seed, int part, int64_t n, int vocab);

void pq_tokens_free(pq_token_stream *ts);

/* The --data argument of pq pretrain, qat and ptq: a shard directory (its train
 * and val sets, which must come from one tokenizer) or "synthetic:N" (an N-token
 * training walk and an independent validation walk of max(N/10, 1024) tokens).
 * -1 + pq_error() on a malformed spec or unreadable shards; nothing is left loaded. */
int pq_tokens_load_data(const char *spec, int vocab, pq_token_stream *train, pq_token_stream *val);

/* Data identity in checkpoints. Every checkpoint pq pretrain, qat and ptq write
 * records the tokenizer its tokens came from under PQ_CKPT_TOKENIZER_KEY: the
 * hex SHA-256 of the tokenizer file, the same value as tokenizer.json's
 * content_sha256 and every shard header's vocab hash. Token ids mean nothing
 * without their tokenizer, and two tokenizers of equal vocabulary size are not
 * told apart by the vocabulary size alone. Synthetic data records none. */
#define PQ_CKPT_TOKENIZER_KEY "tokenizer_hash"

/* The tokenizer hash a checkpoint's metadata records ("tokenizer_hash" or
 * "vocab_hash", at the top or one object down), or NULL if it records none
 * (checkpoints written before the field existed, synthetic data). */
const char *pq_ckpt_tokenizer_hash(const json_t *meta);
/* Records hash in meta under PQ_CKPT_TOKENIZER_KEY; a NULL or empty hash records nothing. */
void pq_ckpt_set_tokenizer_hash(json_t *meta, const char *hash);
/* The tokenizer of a token stream, or NULL for synthetic data. */
const char *pq_tokens_tokenizer_hash(const pq_token_stream *ts);

/* 0 if a checkpoint (ckpt_path) trained with tokenizer ckpt_hash may be used with
 * the data of --data spec: when either records no tokenizer (then only the
 * vocabulary size is checked, by the loader) or both name the same one. Else -1 +
 * pq_error() naming both and the two hashes. */
int pq_tokens_check_tokenizer(const pq_token_stream *data, const char *spec, const char *ckpt_hash,
                              const char *ckpt_path);

/* The same for a tokenizer file (tok_path, hash tok_hash): 0 when the
 * checkpoint records none or the same one, else -1 + pq_error() "<ckpt_path>:
 * trained with tokenizer <hash>..., but <tok_path> is <hash>...". */
int pq_check_ckpt_tokenizer(const char *ckpt_path, const char *ckpt_hash, const char *tok_path, const char *tok_hash);

/* Adds the stream's files (shards) to a manifest's inputs. */
int pq_tokens_add_inputs(json_t *manifest, const pq_token_stream *ts);

typedef struct {
    const pq_token_stream *ts;
    int T;
    uint64_t seed;
    int64_t n_chunks;
    uint32_t *perm;
    int64_t perm_epoch; /* epoch the cached permutation belongs to (-1 none) */
} pq_data_order;

/* -1 + pq_error() if the stream has fewer than T + 1 tokens. */
int pq_data_order_init(pq_data_order *d, const pq_token_stream *ts, int T, uint64_t seed);
void pq_data_order_free(pq_data_order *d);
/* Training sequences first .. first + B - 1 into x[B*T], y[B*T]. */
void pq_data_train_batch(pq_data_order *d, int64_t first, int B, uint16_t *x, uint16_t *y);
/* Validation window w (in order, no shuffling) into x[T], y[T]. */
void pq_data_window(const pq_data_order *d, int64_t w, uint16_t *x, uint16_t *y);

#endif
