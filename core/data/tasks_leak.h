/* tasks_leak.h — the 13-gram contamination check of task items against training text.
 *
 * Text is cut into words (maximal runs of ASCII letters/digits and non-ASCII
 * bytes, ASCII lower-cased; everything else separates words), so punctuation
 * and case differences do not hide a copy. Every window of 13 consecutive words
 * of the training text is hashed to 64 bits (FNV-1a per word, then an order-
 * dependent mix over the window) and kept in a sorted array; a task item leaks
 * if any 13-word window of its context + " " + gold answer is in that set.
 * 64-bit hashes make a false alarm astronomically unlikely (~1e-7 per build). */
#ifndef PQ_TASKS_LEAK_H
#define PQ_TASKS_LEAK_H

#include <stddef.h>
#include <stdint.h>

#include "data/bpe.h"
#include "data/tasks.h"

#define PQ_LEAK_NGRAM 13

typedef struct {
    uint64_t *h; /* sorted, unique window hashes */
    size_t n, cap;
    int finished;
    uint64_t words; /* words seen */
} pq_ngram_set;

pq_ngram_set *pq_ngram_set_new(void);
void pq_ngram_set_free(pq_ngram_set *s);
/* Adds every 13-word window of one document (windows never span documents). */
void pq_ngram_set_add(pq_ngram_set *s, const char *text, size_t n);
/* Sorts and removes duplicates; call once after the last add, before queries. */
void pq_ngram_set_finish(pq_ngram_set *s);
/* 1 if some 13-word window of text is in the set (then, if window is not NULL,
 * the first such window's words, space-separated, are written there), else 0. */
int pq_ngram_set_hit(const pq_ngram_set *s, const char *text, size_t n, char *window, size_t window_cap);

/* The set of the training shards' text: every train_*.bin document of shard_dir
 * decoded with bpe (split at BOS). NULL + pq_error() if the shards are bad. */
pq_ngram_set *pq_ngram_set_from_shards(const char *shard_dir, const pq_bpe *bpe);

/* Checks every item of task; -1 + pq_error() "<file>:<line>: 13-word window
 * \"...\" of the context + gold answer appears in the training shards" on the first leak. */
int pq_task_check_leaks(const pq_task *task, const pq_ngram_set *s);

#endif
