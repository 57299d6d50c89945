/* tasks.c — loading, validating and writing JSONL task files (format in tasks.h). */
#include "data/tasks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/util.h"

const char *pq_task_kind_name(pq_task_kind kind) {
    switch (kind) {
    case PQ_TASK_CHOICE: return "choice";
    case PQ_TASK_WINO: return "wino";
    case PQ_TASK_PPL: return "ppl";
    }
    return "?";
}

static char *task_name_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *name = pq_strdup(base);
    size_t n = strlen(name);
    if (n > 6 && !strcmp(name + n - 6, ".jsonl")) name[n - 6] = 0;
    return name;
}

pq_task *pq_task_new(const char *name, pq_task_kind kind) {
    pq_task *t = pq_calloc(1, sizeof *t);
    t->name = pq_strdup(name);
    t->path = pq_strdup("");
    t->kind = kind;
    return t;
}

static void item_free(pq_task_item *it) {
    free(it->id);
    for (int i = 0; i < it->n_contexts; i++) free(it->contexts[i]);
    for (int i = 0; i < it->n_choices; i++) free(it->choices[i]);
    free(it->contexts);
    free(it->choices);
}

void pq_task_free(pq_task *task) {
    if (!task) return;
    for (int i = 0; i < task->n_items; i++) item_free(&task->items[i]);
    free(task->items);
    free(task->name);
    free(task->path);
    free(task);
}

static char **copy_strings(int n, const char *const *s) {
    char **out = pq_calloc(n ? n : 1, sizeof *out);
    for (int i = 0; i < n; i++) out[i] = pq_strdup(s[i]);
    return out;
}

pq_task_item *pq_task_add(pq_task *task, const char *id, int n_contexts, const char *const *contexts, int n_choices,
                          const char *const *choices, int gold) {
    /* grow by doubling: n_items is a power of two exactly when the array is full */
    if ((task->n_items & (task->n_items - 1)) == 0)
        task->items = pq_realloc(task->items, sizeof *task->items * (task->n_items ? 2 * task->n_items : 1));
    pq_task_item *it = &task->items[task->n_items];
    memset(it, 0, sizeof *it);
    it->id = pq_strdup(id ? id : "");
    it->line = task->n_items + 1;
    it->n_contexts = n_contexts;
    it->contexts = copy_strings(n_contexts, contexts);
    it->n_choices = n_choices;
    it->choices = copy_strings(n_choices, choices);
    it->gold = gold;
    task->n_items++;
    return it;
}

/* ---------------------------------------------------------------- loading */

/* Reads a JSON array of non-empty strings; -1 + pq_fail on anything else. */
static int string_array(const char *where, json_t *arr, const char *field, char ***out, int *n_out) {
    if (!json_is_array(arr)) return pq_fail("%s: \"%s\" must be an array of strings", where, field);
    size_t n = json_array_size(arr);
    char **s = pq_calloc(n ? n : 1, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v)) {
            for (size_t j = 0; j < i; j++) free(s[j]);
            free(s);
            return pq_fail("%s: \"%s\"[%zu] is not a string", where, field, i);
        }
        s[i] = pq_strdup(json_string_value(v));
    }
    *out = s;
    *n_out = (int)n;
    return 0;
}

static int parse_gold(const char *where, json_t *obj, int n) {
    json_t *g = json_object_get(obj, "gold");
    if (!g) return pq_fail("%s: missing \"gold\"", where);
    if (!json_is_integer(g)) return pq_fail("%s: \"gold\" must be an integer index", where);
    json_int_t v = json_integer_value(g);
    if (v < 0 || v >= n) return pq_fail("%s: \"gold\" is %lld, outside 0..%d", where, (long long)v, n - 1);
    return (int)v;
}

/* Parses one line's object into it; returns its kind or -1 + pq_fail. */
static int parse_item(const char *where, json_t *obj, pq_task_item *it) {
    if (!json_is_object(obj)) return pq_fail("%s: an item must be a JSON object", where);
    json_t *id = json_object_get(obj, "id");
    it->id = pq_strdup(json_is_string(id) ? json_string_value(id) : "");
    json_t *ctx = json_object_get(obj, "context"), *choices = json_object_get(obj, "choices");
    json_t *ctxs = json_object_get(obj, "contexts"), *cont = json_object_get(obj, "continuation");
    json_t *text = json_object_get(obj, "text");
    if (ctx || choices) {
        if (!json_is_string(ctx)) return pq_fail("%s: \"context\" must be a string", where);
        if (!choices) return pq_fail("%s: missing \"choices\"", where);
        if (string_array(where, choices, "choices", &it->choices, &it->n_choices)) return -1;
        it->n_contexts = 1;
        it->contexts = copy_strings(1, (const char *const[]){json_string_value(ctx)});
        if (it->n_choices < 2) return pq_fail("%s: \"choices\" needs at least 2 entries, has %d", where, it->n_choices);
        for (int i = 0; i < it->n_choices; i++)
            if (!it->choices[i][0]) return pq_fail("%s: \"choices\"[%d] is empty", where, i);
        if ((it->gold = parse_gold(where, obj, it->n_choices)) < 0) return -1;
        return PQ_TASK_CHOICE;
    }
    if (ctxs || cont) {
        if (!json_is_string(cont)) return pq_fail("%s: \"continuation\" must be a string", where);
        if (!ctxs) return pq_fail("%s: missing \"contexts\"", where);
        if (string_array(where, ctxs, "contexts", &it->contexts, &it->n_contexts)) return -1;
        it->n_choices = 1;
        it->choices = copy_strings(1, (const char *const[]){json_string_value(cont)});
        if (it->n_contexts < 2) return pq_fail("%s: \"contexts\" needs at least 2 entries, has %d", where, it->n_contexts);
        if (!it->choices[0][0]) return pq_fail("%s: \"continuation\" is empty", where);
        if ((it->gold = parse_gold(where, obj, it->n_contexts)) < 0) return -1;
        return PQ_TASK_WINO;
    }
    if (text) {
        if (!json_is_string(text)) return pq_fail("%s: \"text\" must be a string", where);
        if (!json_string_value(text)[0]) return pq_fail("%s: \"text\" is empty", where);
        it->n_contexts = 1;
        it->contexts = copy_strings(1, (const char *const[]){json_string_value(text)});
        it->gold = -1;
        return PQ_TASK_PPL;
    }
    return pq_fail("%s: not a task item: expected \"context\"+\"choices\"+\"gold\", "
                   "\"contexts\"+\"continuation\"+\"gold\", or \"text\"",
                   where);
}

pq_task *pq_task_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pq_fail("%s: cannot open task file: %s", path, strerror(errno));
        return NULL;
    }
    char *name = task_name_from_path(path);
    pq_task *task = pq_task_new(name, PQ_TASK_CHOICE);
    free(name);
    free(task->path);
    task->path = pq_strdup(path);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, ok = 1;
    while (ok && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        size_t k = strspn(line, " \t");
        if (line[k] == 0) continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        json_error_t jerr;
        json_t *obj = json_loadb(line, (size_t)len, 0, &jerr);
        if (!obj) {
            pq_fail("%s: invalid JSON at column %d: %s", where, jerr.column, jerr.text);
            ok = 0;
            break;
        }
        pq_task_item it;
        memset(&it, 0, sizeof it);
        it.line = lineno;
        int kind = parse_item(where, obj, &it);
        json_decref(obj);
        if (kind < 0) {
            item_free(&it);
            ok = 0;
            break;
        }
        if (task->n_items == 0) task->kind = (pq_task_kind)kind;
        else if (kind != (int)task->kind) {
            pq_fail("%s: a %s item in a file of %s items", where, pq_task_kind_name(kind), pq_task_kind_name(task->kind));
            item_free(&it);
            ok = 0;
            break;
        }
        if ((task->n_items & (task->n_items - 1)) == 0)
            task->items = pq_realloc(task->items, sizeof *task->items * (task->n_items ? 2 * task->n_items : 1));
        task->items[task->n_items++] = it;
    }
    if (ok && ferror(f)) {
        pq_fail("%s: read error", path);
        ok = 0;
    }
    free(line);
    fclose(f);
    if (ok && task->n_items == 0) {
        pq_fail("%s: no items", path);
        ok = 0;
    }
    if (!ok) {
        pq_task_free(task);
        return NULL;
    }
    return task;
}

/* ---------------------------------------------------------------- writing */

static json_t *item_json(const pq_task *task, const pq_task_item *it) {
    json_t *o = json_object();
    if (it->id && it->id[0]) json_object_set_new(o, "id", json_string(it->id));
    if (task->kind == PQ_TASK_PPL) {
        json_object_set_new(o, "text", json_string(it->contexts[0]));
        return o;
    }
    json_t *arr = json_array();
    if (task->kind == PQ_TASK_CHOICE) {
        json_object_set_new(o, "context", json_string(it->contexts[0]));
        for (int i = 0; i < it->n_choices; i++) json_array_append_new(arr, json_string(it->choices[i]));
        json_object_set_new(o, "choices", arr);
    } else {
        for (int i = 0; i < it->n_contexts; i++) json_array_append_new(arr, json_string(it->contexts[i]));
        json_object_set_new(o, "contexts", arr);
        json_object_set_new(o, "continuation", json_string(it->choices[0]));
    }
    json_object_set_new(o, "gold", json_integer(it->gold));
    return o;
}

int pq_task_write(const pq_task *task, const char *path) {
    pq_atomic_file af;
    if (pq_atomic_open(&af, path) != 0) return -1;
    for (int i = 0; i < task->n_items; i++) {
        json_t *o = item_json(task, &task->items[i]);
        /* fixed key order keeps the file byte-identical across builds */
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        if (!s) {
            pq_atomic_abort(&af);
            return pq_fail("%s: cannot serialize item %d", path, i + 1);
        }
        fputs(s, af.f);
        fputc('\n', af.f);
        free(s);
    }
    return pq_atomic_commit(&af);
}

char *pq_task_item_gold_text(const pq_task *task, const pq_task_item *it) {
    const char *a, *b;
    if (task->kind == PQ_TASK_PPL) return pq_strdup(it->contexts[0]);
    if (task->kind == PQ_TASK_CHOICE) a = it->contexts[0], b = it->choices[it->gold];
    else a = it->contexts[it->gold], b = it->choices[0];
    size_t na = strlen(a), nb = strlen(b);
    char *s = pq_malloc(na + nb + 2);
    memcpy(s, a, na);
    s[na] = ' ';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}
