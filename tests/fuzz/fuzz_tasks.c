/* fuzz_tasks.c — zero-shot task files, JSONL (pq_task_load, data/tasks.c).
 *
 * Input: the bytes of a .jsonl task file. A file that loads must have items of
 * one kind with gold inside them, and must write and load again to the same items. */
#include "data/tasks.h"
#include "fuzz.h"

static void check_item(const pq_task *t, const pq_task_item *it) {
    if (t->kind == PQ_TASK_CHOICE) FUZZ_CHECK(it->n_contexts == 1 && it->n_choices >= 2 && it->gold < it->n_choices);
    if (t->kind == PQ_TASK_WINO) FUZZ_CHECK(it->n_contexts >= 2 && it->n_choices == 1 && it->gold < it->n_contexts);
    if (t->kind == PQ_TASK_PPL) FUZZ_CHECK(it->n_contexts == 1 && it->n_choices == 0 && it->gold == -1);
    FUZZ_CHECK(t->kind == PQ_TASK_PPL || it->gold >= 0);
    char *gold = pq_task_item_gold_text(t, it);
    FUZZ_CHECK(gold && gold[0]);
    free(gold);
}

static void check_same(const pq_task *a, const pq_task *b) {
    FUZZ_CHECK(a->kind == b->kind && a->n_items == b->n_items);
    for (int i = 0; i < a->n_items; i++) {
        const pq_task_item *x = &a->items[i], *y = &b->items[i];
        FUZZ_CHECK(!strcmp(x->id, y->id) && x->gold == y->gold);
        FUZZ_CHECK(x->n_contexts == y->n_contexts && x->n_choices == y->n_choices);
        for (int k = 0; k < x->n_contexts; k++) FUZZ_CHECK(!strcmp(x->contexts[k], y->contexts[k]));
        for (int k = 0; k < x->n_choices; k++) FUZZ_CHECK(!strcmp(x->choices[k], y->choices[k]));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    pq_task *t = pq_task_load(fuzz_file("fuzz.jsonl", data, n));
    if (!t) {
        FUZZ_CHECK(pq_error()[0]);
        return 0;
    }
    FUZZ_CHECK(t->n_items > 0 && !strcmp(t->name, "fuzz"));
    for (int i = 0; i < t->n_items; i++) check_item(t, &t->items[i]);
    const char *copy = fuzz_path("copy.jsonl");
    FUZZ_CHECK(pq_task_write(t, copy) == 0);
    pq_task *again = pq_task_load(copy);
    FUZZ_CHECK(again);
    check_same(t, again);
    pq_task_free(again);
    pq_task_free(t);
    return 0;
}
