/* Built-in task construction: sentence splitting, the 13-gram leak set, and a
 * whole build on a small synthetic corpus (item validity, leak filtering). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/rng.h"
#include "base/util.h"
#include "data/tasks.h"
#include "data/tasks_build.h"
#include "data/tasks_leak.h"

typedef struct {
    char out[4096];
    int n;
} joined;

static void join(void *ctx, const char *s, size_t n) {
    joined *j = ctx;
    size_t at = strlen(j->out);
    snprintf(j->out + at, sizeof j->out - at, "%s%.*s", j->n++ ? "|" : "", (int)n, s);
}

Test(data_taskbuild, sentence_splitter) {
    joined j = {"", 0};
    const char *t = "Mr. Smith went home.  He slept!  Did he? \"Yes,\" said J. Doe. \"Truly.\" Then\nA new   paragraph "
                    "starts here. e.g. this stays. 3.5 stays too";
    pq_split_sentences(t, strlen(t), join, &j);
    cr_assert_str_eq(j.out, "Mr. Smith went home.|He slept!|Did he?|\"Yes,\" said J. Doe.|\"Truly.\"|Then|"
                            "A new paragraph starts here. e.g. this stays.|3.5 stays too");
}

Test(data_taskbuild, ngram_set_finds_copies_only) {
    const char *train = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen";
    pq_ngram_set *s = pq_ngram_set_new();
    pq_ngram_set_add(s, train, strlen(train));
    pq_ngram_set_add(s, "short doc", 9);
    pq_ngram_set_finish(s);
    cr_assert_eq(s->n, 3);
    char w[256];
    const char *copy = "Prefix: TWO, three four -- five six seven eight nine ten eleven twelve thirteen Fourteen!";
    cr_assert_eq(pq_ngram_set_hit(s, copy, strlen(copy), w, sizeof w), 1);
    cr_assert_str_eq(w, "TWO three four five six seven eight nine ten eleven twelve thirteen Fourteen");
    const char *twelve = "x three four five six seven eight nine ten eleven twelve thirteen fourteen y";
    cr_assert_eq(pq_ngram_set_hit(s, twelve, strlen(twelve), NULL, 0), 0);
    const char *reordered = "one two three four five six seven eight nine ten eleven thirteen twelve";
    cr_assert_eq(pq_ngram_set_hit(s, reordered, strlen(reordered), NULL, 0), 0);
    /* the check over a task names file and line */
    pq_task *t = pq_task_new("leaky", PQ_TASK_CHOICE);
    const char *ch_ok[] = {"red", "blue"}, *ch_bad[] = {"twelve thirteen", "zero"};
    pq_task_add(t, NULL, 1, (const char *const[]){"nothing to see"}, 2, ch_ok, 0);
    pq_task_add(t, NULL, 1, (const char *const[]){"one two three four five six seven eight nine ten eleven"}, 2, ch_bad, 0);
    cr_assert_eq(pq_task_check_leaks(t, s), -1);
    cr_assert(strstr(pq_error(), "leaky:2:"), "%s", pq_error());
    t->items[1].gold = 1; /* the gold answer decides: "... eleven zero" is no copy */
    cr_assert_eq(pq_task_check_leaks(t, s), 0);
    pq_task_free(t);
    pq_ngram_set_free(s);
}

/* ---- a synthetic corpus ---- */

static const char *ADJ[] = {"quiet", "bright", "ancient", "narrow", "heavy", "gentle", "bitter", "hollow", "golden", "restless"};
static const char *NOUN[] = {"garden", "river", "lantern", "soldier", "window", "harbour", "meadow", "cottage", "letter", "mirror",
                             "orchard", "sailor", "bridge", "candle", "forest", "village"};
static const char *VERB[] = {"watched", "followed", "carried", "remembered", "painted", "crossed", "admired", "visited"};

static char *sentence(uint64_t seed, uint64_t k) {
    pq_rng r = pq_rng_make(seed, k);
    char *s = malloc(256);
    const char *n1 = NOUN[pq_rng_next_below(&r, PQ_COUNT(NOUN))];
    snprintf(s, 256, "The %s %s %s the %s %s near %s %u.", ADJ[pq_rng_next_below(&r, PQ_COUNT(ADJ))], n1,
             VERB[pq_rng_next_below(&r, PQ_COUNT(VERB))], ADJ[pq_rng_next_below(&r, PQ_COUNT(ADJ))],
             NOUN[pq_rng_next_below(&r, PQ_COUNT(NOUN))],
             pq_rng_next_below(&r, 2) ? n1 : NOUN[pq_rng_next_below(&r, PQ_COUNT(NOUN))],
             (unsigned)pq_rng_next_below(&r, 1000));
    /* a word sentence: make the last word a noun half of the time */
    if (pq_rng_next_below(&r, 2)) {
        char *dot = strrchr(s, ' ');
        snprintf(dot, 256 - (size_t)(dot - s), " %s.", NOUN[pq_rng_next_below(&r, PQ_COUNT(NOUN))]);
    }
    return s;
}

static void write_docs(const char *path, const char *src, int ndocs, int nsent, uint64_t seed) {
    FILE *f = fopen(path, "w");
    for (int d = 0; d < ndocs; d++) {
        json_t *o = json_object();
        char id[64], *text = calloc(1, 256 * (size_t)nsent);
        snprintf(id, sizeof id, "%s:%d", src, d);
        for (int k = 0; k < nsent; k++) {
            char *s = sentence(seed, (uint64_t)d * 1000 + k);
            strcat(text, s);
            strcat(text, k % 7 == 6 ? "\n" : " ");
            free(s);
        }
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "text", json_string(text));
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line), free(text);
        json_decref(o);
    }
    fclose(f);
}

static void write_synsets(const char *path, int n) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        char id[32], hyp[32], lemma[64], gloss[256];
        snprintf(id, sizeof id, "n:%08d", i);
        snprintf(hyp, sizeof hyp, "n:%08d", i % 20); /* synsets 0..19 are roots */
        snprintf(lemma, sizeof lemma, "%s_%s%d", ADJ[i % PQ_COUNT(ADJ)], NOUN[i % PQ_COUNT(NOUN)], i);
        char *s = sentence(99, (uint64_t)i);
        snprintf(gloss, sizeof gloss, "%.*s", (int)(20 + i % 60), s);
        free(s);
        json_t *o = json_pack("{s:s, s:s, s:[s], s:s, s:[], s:[s], s:b}", "id", id, "pos", "n", "lemmas", lemma, "gloss",
                              gloss, "examples", "hypernyms", hyp, "heldout", i >= 20);
        if (i < 20) json_object_set_new(o, "hypernyms", json_array());
        char *line = json_dumps(o, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
        json_decref(o);
    }
    fclose(f);
}

static pq_task *load_task(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, name);
    pq_task *t = pq_task_load(path);
    cr_assert_not_null(t, "%s", pq_error());
    return t;
}

Test(data_taskbuild, builds_valid_leak_free_items) {
    char dir[] = "/tmp/pq-test-taskbuild-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char corpus[600], out[600], path[700];
    snprintf(corpus, sizeof corpus, "%s/corpus", dir);
    snprintf(out, sizeof out, "%s/tasks", dir);
    pq_mkdirs(corpus);
    pq_mkdirs(out);
    snprintf(path, sizeof path, "%s/prose.train.jsonl", corpus);
    write_docs(path, "prose", 4, 30, 1);
    snprintf(path, sizeof path, "%s/prose.heldout.jsonl", corpus);
    write_docs(path, "held", 12, 40, 2);
    snprintf(path, sizeof path, "%s/wordnet_synsets.jsonl", corpus);
    write_synsets(path, 120);

    /* the training text contains a copy of held-out doc 0's first sentences */
    pq_ngram_set *train = pq_ngram_set_new();
    char *leak = calloc(1, 4096);
    for (int k = 0; k < 6; k++) {
        char *s = sentence(2, (uint64_t)k);
        strcat(leak, s);
        strcat(leak, " ");
        free(s);
    }
    pq_ngram_set_add(train, leak, strlen(leak));
    pq_ngram_set_finish(train);

    json_t *stats = NULL;
    cr_assert_eq(pq_tasks_build(corpus, train, out, 7, &stats, 0), 0, "%s", pq_error());
    int leaks_skipped = 0;
    for (int t = 0; pq_builtin_tasks[t]; t++) {
        pq_task *task = load_task(out, pq_builtin_tasks[t]);
        json_t *st = json_object_get(stats, pq_builtin_tasks[t]);
        cr_assert_eq(json_integer_value(json_object_get(st, "items")), task->n_items);
        leaks_skipped += (int)json_integer_value(json_object_get(st, "skipped_leak"));
        cr_assert_gt(task->n_items, 0, "%s", pq_builtin_tasks[t]);
        cr_assert_eq(pq_task_check_leaks(task, train), 0, "%s", pq_error());
        int gold_hist[4] = {0}, longest = 0, shortest = 0;
        for (int i = 0; i < task->n_items; i++) {
            pq_task_item *it = &task->items[i];
            if (task->kind == PQ_TASK_PPL) continue;
            gold_hist[it->gold]++;
            /* length must not give the answer away: count strict longest / shortest golds */
            size_t gl = strlen(it->choices[it->gold]);
            int longer = 0, shorter = 0;
            for (int c = 0; c < it->n_choices; c++) {
                longer += strlen(it->choices[c]) > gl;
                shorter += strlen(it->choices[c]) < gl;
            }
            longest += longer == 0 && shorter == it->n_choices - 1;
            shortest += shorter == 0 && longer == it->n_choices - 1;
            for (int a = 0; a < it->n_choices; a++)
                for (int b = a + 1; b < it->n_choices; b++)
                    cr_assert_str_neq(it->choices[a], it->choices[b], "%s item %d", pq_builtin_tasks[t], i);
            for (int c = 0; c < it->n_choices; c++)
                cr_assert_leq(strlen(it->choices[c]), PQ_TASK_MAX_CHOICE_BYTES, "%s item %d", pq_builtin_tasks[t], i);
            size_t cl = strlen(it->contexts[0]);
            cr_assert(cl == 0 || !isspace((unsigned char)it->contexts[0][cl - 1]), "context ends in a space");
            if (!strcmp(pq_builtin_tasks[t], "cloze")) {
                /* the target occurs earlier in the passage, as a whole word */
                const char *g = it->choices[it->gold];
                cr_assert_not_null(strstr(it->contexts[0], g), "%s", g);
            }
            if (!strcmp(pq_builtin_tasks[t], "sentence_order")) cr_assert_eq(it->n_choices, 2);
            else cr_assert_eq(it->n_choices, 4);
        }
        if (task->kind != PQ_TASK_PPL && task->n_items >= 40 && strcmp(pq_builtin_tasks[t], "sentence_order")) {
            cr_assert_lt(longest, task->n_items * 0.4, "%s: gold is the longest choice in %d of %d", pq_builtin_tasks[t],
                         longest, task->n_items);
            cr_assert_lt(shortest, task->n_items * 0.4, "%s: gold is the shortest choice in %d of %d",
                         pq_builtin_tasks[t], shortest, task->n_items);
        }
        if (task->kind != PQ_TASK_PPL && task->n_items >= 40)
            for (int g = 0; g < (!strcmp(pq_builtin_tasks[t], "sentence_order") ? 2 : 4); g++)
                cr_assert_gt(gold_hist[g], task->n_items / 10, "%s: gold %d is rare", pq_builtin_tasks[t], g);
        pq_task_free(task);
    }
    cr_assert_gt(leaks_skipped, 0, "the planted copy must be skipped");
    /* deterministic: a second build gives byte-identical files */
    char out2[700];
    snprintf(out2, sizeof out2, "%s/tasks2", dir);
    pq_mkdirs(out2);
    json_t *stats2 = NULL;
    cr_assert_eq(pq_tasks_build(corpus, train, out2, 7, &stats2, 0), 0);
    for (int t = 0; pq_builtin_tasks[t]; t++) {
        char a[800], b[800];
        snprintf(a, sizeof a, "%s/%s.jsonl", out, pq_builtin_tasks[t]);
        snprintf(b, sizeof b, "%s/%s.jsonl", out2, pq_builtin_tasks[t]);
        size_t na, nb;
        char *x = pq_read_file(a, &na), *y = pq_read_file(b, &nb);
        cr_assert(na == nb && memcmp(x, y, na) == 0, "%s differs between builds", pq_builtin_tasks[t]);
        free(x), free(y);
    }
    json_decref(stats);
    json_decref(stats2);
    free(leak);
    pq_ngram_set_free(train);
    pq_remove_tree(dir);
}
