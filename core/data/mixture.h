/* mixture.h — corpus documents, the source mixture, and building token shards.
 *
 * The corpus (written by corpus.h's pq_corpus_build) is, per source,
 * <corpus>/<source>.train.jsonl and <source>.heldout.jsonl with one document
 * per line: {"id": "...", "text": "..."}.
 *
 * The mixture decides how often each training document appears in the
 * training shards: source s gets weight w_s (default 1); a source with a cap c
 * (GCIDE: 0.33) has its weight lowered so that it makes up at most c of the
 * mixture's bytes. Bytes, not tokens, so that the training text is the same for
 * every vocab size (and the tasks' leak check with it); the token share, which
 * the shard manifest reports per source, differs: GCIDE has fewer bytes per
 * token than the prose, so 33% of the bytes is about 35% of the tokens. A document of weight w appears floor(w) times, plus once
 * more if its hash u = fnv1a64(source "/" id) / 2^64 is below w - floor(w), so
 * the choice never depends on order or seed. The selected documents are then
 * shuffled (seeded, core/base/rng.h stream "shards") and written as
 * train_000.bin, train_001.bin, ... (at most PQ_SHARD_TRAIN_TOKENS tokens
 * each), every document starting with BOS. Reading the shards uniformly thus
 * samples the mixture.
 *
 * The tokenizer is trained on the same mixture, so GCIDE does not dominate its
 * vocabulary either.
 *
 * val.bin holds the held-out documents in the mixture's proportions: every
 * held-out document of a source of weight >= 1, and the same hash-chosen
 * fraction of a capped source's (so GCIDE does not dominate the validation loss
 * either), shuffled (seeded, stream "shards/val") so that any prefix of it
 * samples every source; BOS first. The zero-shot tasks are cut from
 * all held-out text; val and tasks only measure, neither trains, so sharing text
 * leaks nothing into training. */
#ifndef PQ_MIXTURE_H
#define PQ_MIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "data/bpe.h"

#define PQ_SHARD_TRAIN_TOKENS (8u << 20)

typedef struct {
    char *id;
    char *text;
    size_t len;
} pq_corpus_doc;

typedef struct {
    char *path;
    int n_docs;
    pq_corpus_doc *docs;
    size_t bytes;
} pq_corpus_file;

/* Loads a JSONL document file; NULL + pq_error() "<path>:<line>: ..." if malformed. */
pq_corpus_file *pq_docs_load(const char *path);
void pq_docs_free(pq_corpus_file *f);

/* Source names that have "<corpus>/<name>.train.jsonl", sorted; *n = count.
 * NULL + pq_error() if the directory cannot be read or holds none. */
char **pq_corpus_sources(const char *corpus_dir, int *n);
void pq_corpus_sources_free(char **names, int n);

/* The default mixture: {"weights": {}, "default_weight": 1.0, "caps": {"gcide": 0.33}}. */
json_t *pq_mixture_default(void);

/* Mixture weights of n sources of the given sizes (tokens, or bytes before a
 * tokenizer exists): the configured weights, capped sources lowered to their cap. */
void pq_mixture_weights(const json_t *mixture, int n, char *const *names, const double *sizes, double *w);
/* How many times document id of source goes into the mixture at weight w. */
int pq_mixture_copies(const char *source, const char *id, double w);

/* The training split in memory: every <corpus>/<source>.train.jsonl, with the
 * mixture weights computed from their bytes. */
typedef struct {
    int n;
    char **names;
    pq_corpus_file **files;
    double *weights;
} pq_mixture_text;

int pq_mixture_text_load(const char *corpus_dir, const json_t *mixture, pq_mixture_text *mt);
void pq_mixture_text_free(pq_mixture_text *mt);
/* Adds every document the mixture selects (times its copies) to the trainer;
 * returns the bytes added. This is what the tokenizer is trained on. */
uint64_t pq_mixture_text_train(const pq_mixture_text *mt, pq_bpe_trainer *t);

/* Encodes the corpus with bpe and writes train_*.bin and val.bin into out_dir
 * (built in a temporary directory and swapped in whole). *stats receives the
 * per-source document/token counts, mixture weights and shares, and the shard
 * list (the caller writes it into the shard manifest). -1 + pq_error() on failure. */
int pq_shards_build(const char *corpus_dir, const char *out_dir, pq_bpe *bpe, const json_t *mixture, uint64_t seed,
                    json_t **stats, int verbose);

/* Replaces directory dst by src (rename dst aside, rename src, remove the old). */
int pq_dir_swap(const char *src, const char *dst);

#endif
