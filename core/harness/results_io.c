/* results_io.c — the CSV twin of an aggregated results file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "harness/results_io.h"

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
