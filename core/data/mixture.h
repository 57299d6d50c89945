/* mixture.h — corpus documents, the source mixture, and building token shards.
 *
 * The corpus (written by corpus.h's pq_corpus_build) is, per source,
 * <corpus>/<source>.train.jsonl and <source>.heldout.jsonl with one document
 * per line: {"id": "...", "text": "..."}.
 *
 * The mixture decides how often each training document appears in the
 * training shards: source s gets weight w_s (default 1); a source with a cap c
 * (GCIDE: 0.35) has its weight lowered so that it makes up at most c of the
 * mixture's tokens. A document of weight w appears floor(w) times, plus once
 * more if its hash u = fnv1a64(source "/" id) / 2^64 is below w - floor(w), so
 * the choice never depends on order or seed. The selected documents are then
 * shuffled (seeded, core/base/rng.h stream "shards") and written as
 * train_000.bin, train_001.bin, ... (at most PQ_SHARD_TRAIN_TOKENS tokens
 * each), every document starting with BOS. Reading the shards uniformly thus
 * samples the mixture.
 *
 * val.bin holds every held-out document of every source (BOS first, sources in
 * name order, unweighted). The zero-shot tasks are cut from the same held-out
 * text; both only measure, neither trains, so sharing it leaks nothing into
 * training. */
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

/* The default mixture: {"weights": {}, "default_weight": 1.0, "caps": {"gcide": 0.35}}. */
json_t *pq_mixture_default(void);

/* Encodes the corpus with bpe and writes train_*.bin and val.bin into out_dir
 * (built in a temporary directory and swapped in whole). *stats receives the
 * per-source document/token counts, mixture weights and shares, and the shard
 * list (the caller writes it into the shard manifest). -1 + pq_error() on failure. */
int pq_shards_build(const char *corpus_dir, const char *out_dir, pq_bpe *bpe, const json_t *mixture, uint64_t seed,
                    json_t **stats, int verbose);

/* Replaces directory dst by src (rename dst aside, rename src, remove the old). */
int pq_dir_swap(const char *src, const char *dst);

#endif
