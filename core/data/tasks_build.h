/* tasks_build.h — the built-in zero-shot tasks, cut from held-out text.
 *
 * Every task is written as <out>/<name>.jsonl in the format of tasks.h:
 *
 *   wordnet_def       4-way  "Definition of <lemma>:" -> the synset's gloss; distractors are
 *                            glosses of other held-out synsets of the same part of speech.
 *   wordnet_hypernym  4-way  "<lemma> is a kind of" -> a lemma of its first hypernym; distractors
 *                            are other hypernym lemmas, never one of the synset's ancestors.
 *   cloze             4-way  a held-out prose passage (30-150 words, ending at a sentence or else
 *                            a clause end) without its last word; the target (not a stop word) also
 *                            occurs earlier in the passage and the distractors are other words of
 *                            the passage with the same capitalization (capitals: proper nouns only).
 *   next_sentence     4-way  two sentences -> the sentence that follows; distractors are sentences
 *                            of the same source from elsewhere.
 *   sentence_order    2-way  one sentence -> the next two sentences in their true or swapped order.
 *   heldout_ppl       perplexity documents: the held-out prose documents.
 *
 * Prose = the held-out documents of every source except the dictionaries (gcide,
 * wordnet); WordNet tasks use the synsets marked "heldout" in wordnet_synsets.jsonl.
 * Candidates are visited in the order of a hash of (task, document id, position),
 * so the items are fixed by the text alone; distractors are matched in length
 * with the gold's length rank among the choices uniform (see pick_matched), every
 * choice is at most PQ_TASK_MAX_CHOICE_BYTES, and the choice order comes from the
 * seeded RNG (stream "tasks/<name>", sub = the candidate's hash). A candidate
 * whose context + gold answer shares a 13-word window with the training shards,
 * or whose gold text repeats an earlier item's, is skipped. At most
 * PQ_TASK_MAX_ITEMS items per task; fewer than PQ_TASK_MIN_ITEMS is reported as
 * a warning in the stats (the source is too small), not hidden. */
#ifndef PQ_TASKS_BUILD_H
#define PQ_TASKS_BUILD_H

#include <stdint.h>

#include <jansson.h>

#include "data/tasks_leak.h"

#define PQ_TASK_MAX_ITEMS 1500
#define PQ_TASK_MIN_ITEMS 1000
/* Every answer choice is at most this many bytes, so " " + choice stays well
 * under 64 tokens and even the smallest (context-64) models can score every item;
 * contexts may be longer (the evaluator truncates them from the left). */
#define PQ_TASK_MAX_CHOICE_BYTES 150

/* Names of the built-in tasks, NULL-terminated (heldout_ppl last). */
extern const char *const pq_builtin_tasks[];

/* Builds every built-in task from corpus_dir into out_dir (which must exist and
 * is written file by file: the caller builds into a temporary directory).
 * *stats: {task: {items, kind, candidates, skipped_leak, skipped_duplicate, warning?}}.
 * -1 + pq_error() on bad input. */
int pq_tasks_build(const char *corpus_dir, const pq_ngram_set *train, const char *out_dir, uint64_t seed,
                   json_t **stats, int verbose);

/* Sentence splitting used by the prose tasks (exposed for tests): calls fn for
 * each sentence of text, trimmed, in order. Paragraphs ('\n') always end a sentence. */
typedef void (*pq_sentence_fn)(void *ctx, const char *s, size_t n);
void pq_split_sentences(const char *text, size_t n, pq_sentence_fn fn, void *ctx);

#endif
