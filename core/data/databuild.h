/* databuild.h — `pq data build`: corpus -> tokenizer -> shards -> tasks, cached.
 *
 * Layout under the data directory (default $PQ_WORK/data, PQ_WORK default "work"):
 *   corpus/                      <source>.{train,heldout}.jsonl, wordnet_synsets.jsonl, manifest.json
 *   tokenizer.bpe, tokenizer.json             the 8192 tokenizer and its manifest
 *   tokenizer-<V>.bpe, tokenizer-<V>.json     any other vocab size V
 *   shards/ (V = 8192) or shards-<V>/         train_NNN.bin, val.bin, manifest.json
 *   tasks/                       <task>.jsonl for the built-in tasks, manifest.json
 *
 * Each step records in its manifest the SHA-256 of its inputs (input files,
 * parameters, format version) and of its outputs, and "content_sha256": a hash
 * of what it produced alone (no times, no machine), the data's identity for run
 * ids; a step whose inputs hash is
 * unchanged and whose outputs still hash as recorded is skipped, so a second
 * build with nothing changed does nothing. Directories are built next to their
 * destination and swapped in whole, files are written atomically: an
 * interrupted build leaves the previous state, never a half-written one. */
#ifndef PQ_DATABUILD_H
#define PQ_DATABUILD_H

#include <stdint.h>

#define PQ_DATA_DEFAULT_VOCAB 8192
#define PQ_DATA_DEFAULT_SEED 1234

typedef struct {
    const char *data_dir; /* NULL = $PQ_WORK/data */
    int vocab;            /* total vocab size incl. 256 bytes + BOS/EOS */
    uint64_t seed;        /* shard order and task choice order */
    int skip_corpus;      /* use the corpus already in <data>/corpus */
    int force;            /* rebuild every step */
    int verbose;          /* progress on stderr */
    const char *sources;  /* NULL = corpus.json; else the selection corpus-<sources>.json (corpus.h) */
} pq_data_options;

typedef struct {
    char *data_dir, *corpus_dir, *tokenizer, *tokenizer_manifest, *shards_dir, *tasks_dir;
} pq_data_paths;

/* Fills the paths for a data directory (NULL = default) and vocab size. */
void pq_data_paths_init(pq_data_paths *p, const char *data_dir, int vocab);
void pq_data_paths_free(pq_data_paths *p);

typedef struct {
    const char *step; /* "corpus", "tokenizer", "shards", "tasks" */
    int built;        /* 0 = up to date (skipped), 1 = built now */
    double seconds;
    char detail[512];
} pq_data_step;

typedef struct {
    pq_data_step steps[4];
    int n;
    char warnings[8][512];
    int n_warnings;
} pq_data_report;

/* Runs the build. -1 + pq_error() on failure (a leaking task item included). */
int pq_data_build(const pq_data_options *o, pq_data_report *report);

/* Checks task files (any JSONL in tasks.h format) for 13-gram overlap with the
 * train shards of shards_dir (decoded with the tokenizer at tokenizer_path).
 * Returns the number of leaking files (0 = clean) after recording the first
 * leak with pq_fail(), or -1 + pq_error() if something cannot be read. */
int pq_data_check_leaks(const char *tokenizer_path, const char *shards_dir, int n_files, char **files, long *items_checked);

#endif
