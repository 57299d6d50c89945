/* tasks.h — zero-shot tasks as JSONL, in lm-evaluation-harness form.
 *
 * One task = one .jsonl file, one item per line (blank lines are skipped). Every
 * item of a file has the same form, one of:
 *
 *   multiple choice:  {"context": "Q: ... A:", "choices": ["c0", "c1", ...], "gold": 1}
 *       score each choice by loglik(" " + choice | context); gold = index of the right one.
 *   WinoGrande form:  {"contexts": ["... Anna ...", "... Bob ..."], "continuation": "was tired.", "gold": 0}
 *       score loglik(" " + continuation | contexts[i]); gold = index of the right context.
 *   perplexity doc:   {"text": "a whole document"}   (e.g. WikiText-2 test, one article per line)
 *
 * Optional fields: "id" (string, shown in reports). Other fields are ignored, so
 * converted copies of ARC, BoolQ, PIQA, SIQA, HellaSwag, OBQA and WinoGrande may
 * keep their original extras. Contexts have no trailing space (lm-eval convention);
 * choices have no leading space (the scorer adds " "). gold is a 0-based integer.
 * A multiple-choice / WinoGrande item needs at least 2 choices / contexts.
 *
 * Any malformed line is an error "<file>:<line>: <what is wrong>". */
#ifndef PQ_TASKS_H
#define PQ_TASKS_H

#include <stdint.h>

typedef enum {
    PQ_TASK_CHOICE = 0, /* one context, several choices */
    PQ_TASK_WINO = 1,   /* several contexts, one continuation */
    PQ_TASK_PPL = 2,    /* perplexity documents */
} pq_task_kind;

typedef struct {
    char *id;          /* "" when the line has none */
    int line;          /* 1-based line in the source file, for error messages */
    /* PQ_TASK_CHOICE: n_contexts = 1, n_choices >= 2.
     * PQ_TASK_WINO:   n_contexts >= 2, n_choices = 1 (the shared continuation).
     * PQ_TASK_PPL:    n_contexts = 1 (the text), n_choices = 0, gold = -1. */
    int n_contexts;
    char **contexts;
    int n_choices;
    char **choices;
    int gold;          /* index into choices (CHOICE) or contexts (WINO) */
} pq_task_item;

typedef struct {
    char *name;        /* file name without directory and ".jsonl" */
    char *path;
    pq_task_kind kind;
    int n_items;
    pq_task_item *items;
} pq_task;

const char *pq_task_kind_name(pq_task_kind kind); /* "choice", "wino", "ppl" */

/* Loads and validates a task file. NULL + pq_error() "<path>:<line>: ..." on a
 * malformed line, an item of another form than the file's first, or an empty file. */
pq_task *pq_task_load(const char *path);
void pq_task_free(pq_task *task);

/* ---- building task files (used by `pq data build`, handy in tests) ---- */

/* An empty task to append items to. */
pq_task *pq_task_new(const char *name, pq_task_kind kind);
/* Appends a copy of the item (strings are copied); returns the stored item. */
pq_task_item *pq_task_add(pq_task *task, const char *id, int n_contexts, const char *const *contexts, int n_choices,
                          const char *const *choices, int gold);
/* Writes the task as JSONL, atomically. -1 + pq_error() on failure. */
int pq_task_write(const pq_task *task, const char *path);

/* The text an item asserts as true: context + " " + gold choice (CHOICE),
 * gold context + " " + continuation (WINO), the text (PPL). Caller frees. */
char *pq_task_item_gold_text(const pq_task *task, const pq_task_item *item);

#endif
