/* results_io.c — the CSV twin of an aggregated results file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/util.h"
#include "harness/results_io.h"

char *pq_results_row_key(const json_t *row, const json_t *key_fields) {
    json_t *k = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(key_fields, i, f) {
        json_t *v = json_object_get(row, json_string_value(f));
        json_object_set(k, json_string_value(f), v ? v : json_null());
    }
    char *s = pq_json_canonical(k);
    json_decref(k);
    return s;
}

/* Flattens {"acc": {"cloze": 0.5}} to {"acc.cloze": 0.5}; arrays become "a;b;c". */
static void flatten(json_t *out, const char *prefix, json_t *v) {
    if (json_is_object(v)) {
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) {
            char name[256];
            snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", k);
            flatten(out, name, child);
        }
    } else if (json_is_array(v)) {
        size_t len = 1, i;
        json_t *e;
        json_array_foreach(v, i, e) len += (json_is_string(e) ? json_string_length(e) : 32) + 1;
        char *joined = pq_calloc(len, 1);
        json_array_foreach(v, i, e) {
            if (i) strcat(joined, ";");
            if (json_is_string(e))
                strcat(joined, json_string_value(e));
            else if (json_is_number(e))
                sprintf(joined + strlen(joined), "%.17g", json_number_value(e));
        }
        json_object_set_new(out, prefix, json_string(joined));
        free(joined);
    } else {
        json_object_set(out, prefix, v);
    }
}

static void csv_cell(FILE *f, json_t *v) {
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (strpbrk(s, ",\"\n")) {
            fputc('"', f);
            for (; *s; s++) {
                if (*s == '"') fputc('"', f);
                fputc(*s, f);
            }
            fputc('"', f);
        } else {
            fputs(s, f);
        }
    } else if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(f, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        fputs(json_is_true(v) ? "true" : "false", f);
    }
}

static int by_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int pq_results_write_csv(const json_t *results, const char *path) {
    json_t *rows = json_object_get(results, "rows"), *flat = json_array(), *columns = json_object();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        json_t *f = json_object();
        flatten(f, "", row);
        const char *k;
        json_t *v;
        json_object_foreach(f, k, v) json_object_set_new(columns, k, json_true());
        json_array_append_new(flat, f);
    }
    size_t ncol = json_object_size(columns), c = 0;
    const char **names = pq_calloc(ncol ? ncol : 1, sizeof *names);
    const char *k;
    json_t *v;
    json_object_foreach(columns, k, v) names[c++] = k;
    qsort(names, ncol, sizeof *names, by_name);

    pq_atomic_file af;
    if (pq_atomic_open(&af, path) != 0) {
        free(names), json_decref(flat), json_decref(columns);
        return -1;
    }
    for (c = 0; c < ncol; c++) fprintf(af.f, "%s%s", c ? "," : "", names[c]);
    fputc('\n', af.f);
    json_array_foreach(flat, i, row) {
        for (c = 0; c < ncol; c++) {
            if (c) fputc(',', af.f);
            csv_cell(af.f, json_object_get(row, names[c]));
        }
        fputc('\n', af.f);
    }
    free(names);
    json_decref(flat);
    json_decref(columns);
    return pq_atomic_commit(&af);
}

static int measured(const json_t *row) { return json_is_object(row) && !json_object_get(row, "incomplete"); }

/* Whether old agrees with row on every key field row has (a row with none,
 * the one row of an unfinished kernel benchmark, stands for all). */
static int same_identity(const json_t *row, const json_t *old, const json_t *key_fields) {
    size_t i;
    json_t *f;
    json_array_foreach(key_fields, i, f) {
        json_t *v = json_object_get(row, json_string_value(f));
        if (v && !json_equal(v, json_object_get(old, json_string_value(f)))) return 0;
    }
    return 1;
}

int pq_results_keep_measured(json_t *fresh, const json_t *previous) {
    const json_t *keys = json_object_get(fresh, "key");
    json_t *rows = json_object_get(fresh, "rows"), *old_rows = json_object_get(previous, "rows");
    if (!json_is_array(rows) || !json_is_array(old_rows) || !json_is_array(keys)) return 0;
    size_t n_old = json_array_size(old_rows), i, j;
    char *used = pq_calloc(n_old ? n_old : 1, 1);
    json_t *merged = json_array(), *row;
    int kept = 0;
    /* Old rows that a fresh measurement replaces are not candidates. */
    json_array_foreach(rows, i, row) {
        if (!measured(row)) continue;
        for (j = 0; j < n_old; j++)
            if (!used[j] && same_identity(row, json_array_get(old_rows, j), keys)) used[j] = 1;
    }
    json_array_foreach(rows, i, row) {
        int replaced = 0;
        if (!measured(row)) {
            for (j = 0; j < n_old; j++) {
                json_t *old = json_array_get(old_rows, j);
                if (used[j] || !measured(old) || !same_identity(row, old, keys)) continue;
                json_array_append(merged, old);
                used[j] = 1, replaced = 1, kept++;
            }
        }
        if (!replaced) json_array_append(merged, row);
    }
    json_object_set_new(fresh, "rows", merged);
    free(used);
    return kept;
}
