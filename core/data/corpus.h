/* corpus.h — the English training corpus, built from pinned Debian packages.
 *
 * pq_corpus_build() reads the recipes in datasets/ (corpus.json names the
 * sources in build order; <source>.json pins each one), and for every source:
 * downloads the .deb with `apt-get download pkg=version` into <data>/debs
 * (kept; reused when present), checks its SHA-256, extracts it with
 * `dpkg-deb -x` into <data>/extract/<pkg>_<version>/, checks the SHA-256 of
 * every file the recipe names, decodes those files in C to clean UTF-8
 * documents and splits them by the fixed held-out rules (README
 * "## Data sources"). Everything is written to temporary files and renamed into
 * place only when every source succeeded; manifest.json goes last. A rebuild
 * with unchanged recipes and decoders (same build key) and all outputs present
 * does nothing.
 *
 * Output, in <data>/corpus/:
 *   <source>.train.jsonl, <source>.heldout.jsonl
 *       one document per line: {"id": "<source>/<local id>", "text": "..."}
 *       (UTF-8, LF line ends inside text, no trailing whitespace, never empty;
 *       keys in this order, compact JSON). Both files exist for every source,
 *       the held-out one possibly empty.
 *   wordnet_synsets.jsonl
 *       one synset per line: {"id": "n:02084071", "pos": "n"|"v"|"a"|"s"|"r",
 *       "lemmas": [...], "gloss": "...", "examples": [...],
 *       "hypernyms": [ids], "heldout": true|false}; ids are
 *       "<data file letter n/v/a/r>:<8-digit offset>"; lemmas have spaces, not
 *       underscores. Held-out synsets' glosses/examples are in no training file.
 *   manifest.json
 *       {"format", "build_key", "sources": {name: {"decoder", "packages":
 *       [{package, version, deb, deb_sha256, files: {path: sha256}}],
 *       "train": {documents, words, bytes, file, sha256}, "heldout": {...}}},
 *       "synsets": {file, sha256, count}, "totals": {train, heldout},
 *       "order": [source names], "manifest": <pq manifest>}
 * Words are whitespace-separated tokens; bytes are UTF-8 bytes of the texts. */
#ifndef PQ_CORPUS_H
#define PQ_CORPUS_H

#include <stddef.h>

/* Bump when any decoder's output or a held-out rule changes: it is part of the
 * build key, so existing corpora are rebuilt. */
#define PQ_CORPUS_FORMAT 4

/* Builds (or finds up to date) the corpus under data_dir (e.g. "work/data"),
 * with recipes from $PQ_DATASETS, else ./datasets, else the datasets/ folder of
 * the checkout whose build/pq is running. verbose: per-source lines on
 * stderr. Returns 0, or -1 with pq_error() naming the file that is wrong. */
int pq_corpus_build(const char *data_dir, int verbose);

/* The recipe folder pq_corpus_build() uses: $PQ_DATASETS, else ./datasets if it
 * holds corpus.json, else the datasets/ of the checkout whose build/pq runs. */
const char *pq_corpus_recipes_dir(void);

/* The same with an explicit recipe folder; force rebuilds even if up to date. */
int pq_corpus_build_from(const char *recipes_dir, const char *data_dir, int force, int verbose);

/* 1 if data_dir holds a corpus built from the current recipes and decoders. */
int pq_corpus_up_to_date(const char *recipes_dir, const char *data_dir);

/* Source selections: the default (NULL) builds the sources corpus.json lists;
 * a selection S builds those corpus-S.json lists instead (same recipe folder,
 * same format), e.g. a subset of the sources to build quickly or to measure
 * candidates. The default build never reads corpus-S.json, so adding a
 * selection changes neither its build key nor its outputs. */
int pq_corpus_selection_ok(const char *selection); /* NULL or 1-64 of [a-z0-9-] */
int pq_corpus_build_sel(const char *recipes_dir, const char *selection, const char *data_dir, int force, int verbose);
int pq_corpus_up_to_date_sel(const char *recipes_dir, const char *selection, const char *data_dir);
/* The build key (64 hex digits + NUL) of a selection's recipes, as its
 * manifest.json records it: -1 + pq_error() if a recipe is missing or invalid. */
int pq_corpus_build_key(const char *recipes_dir, const char *selection, char hex[65]);

/* Reads a corpus JSONL file, calling fn for each document in file order.
 * -1 + pq_error() "<path>:<line>: what is wrong" on a malformed line, or
 * whatever fn returned if it was non-zero. */
typedef int (*pq_corpus_doc_fn)(void *ctx, const char *id, const char *text, size_t n);
int pq_corpus_read_jsonl(const char *path, pq_corpus_doc_fn fn, void *ctx);

#endif
