/* aggregate.c — from finished runs to one results file per suite.
 *
 * Every row keeps the ids of the runs its numbers came from ("run_ids"), so a
 * figure's point can be traced to the manifests in work/runs/<kind>-<id>/. A
 * metric that was not measured is left out of its row, never filled in. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/manifest.h"
#include "base/util.h"
#include "harness/intervals.h"
#include "harness/stats.h"
#include "harness/suite.h"
#include "quant/quantizer.h"

/* Looks up a dotted path ("final.val_loss") in a JSON object. */
static json_t *dig(json_t *v, const char *path) {
    char key[128];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        v = json_object_get(v, key);
        path += n + (path[n] == '.');
    }
    return v;
}

/* The first of several candidate paths that holds a number. */
static json_t *first_number(json_t *results, const char *const *paths) {
    for (; *paths; paths++) {
        json_t *v = dig(results, *paths);
        if (json_is_number(v)) return v;
    }
    return NULL;
}

static void copy_number(json_t *row, const char *name, json_t *results, const char *const *paths) {
    json_t *v = first_number(results, paths);
    if (v) json_object_set_new(row, name, json_real(json_number_value(v)));
}

static void add_training_metrics(json_t *row, json_t *results) {
    static const char *const val_loss[] = {"final_val_loss", "val_loss", "final.val_loss", NULL};
    static const char *const size[] = {"size.effective_bytes", NULL};
    copy_number(row, "val_loss", results, val_loss);
    copy_number(row, "size_bytes", results, size);
    /* A full-precision model counts 2 bytes per parameter (16-bit), as the paper's size axis does. */
    json_t *total = dig(results, "params.total");
    if (!json_object_get(row, "size_bytes") && json_is_integer(total))
        json_object_set_new(row, "size_bytes", json_real(2.0 * (double)json_integer_value(total)));
}

/* Per-task accuracies from an eval run, and their mean over multiple-choice tasks. */
static void add_eval_metrics(json_t *row, json_t *results) {
    json_t *tasks = json_object_get(results, "tasks");
    json_t *acc = json_object(), *acc_norm = json_object(), *stderr_ = json_object();
    double sum = 0;
    int n = 0;
    const char *name;
    json_t *t;
    json_object_foreach(tasks, name, t) {
        json_t *a = json_object_get(t, "acc");
        if (!json_is_number(a)) continue;
        json_object_set_new(acc, name, json_real(json_number_value(a)));
        json_t *an = json_object_get(t, "acc_norm");
        if (json_is_number(an)) json_object_set_new(acc_norm, name, json_real(json_number_value(an)));
        json_t *se = json_object_get(t, "acc_stderr");
        if (json_is_number(se)) json_object_set_new(stderr_, name, json_real(json_number_value(se)));
        sum += json_number_value(a), n++;
    }
    if (n) {
        json_object_set_new(row, "acc_avg", json_real(sum / n));
        json_object_set_new(row, "acc", acc);
        json_object_set_new(row, "acc_norm", acc_norm);
        json_object_set_new(row, "acc_stderr", stderr_);
    } else {
        json_decref(acc), json_decref(acc_norm), json_decref(stderr_);
    }
    /* The validation loss on the documents every configuration of the model shares
     * (the eval run's; the training run's own may cover another prefix, e.g. PTQ's). */
    static const char *const val[] = {"validation.loss", NULL};
    copy_number(row, "val_loss", results, val);
    static const char *const bpb[] = {"perplexity.bpb", "perplexity.bits_per_byte", "bpb", NULL};
    static const char *const word_ppl[] = {"perplexity.word_perplexity", "perplexity.word_ppl", NULL};
    copy_number(row, "bpb", results, bpb);
    copy_number(row, "word_ppl", results, word_ppl);
}

static void add_decode_metrics(json_t *row, json_t *results) {
    static const char *const tps[] = {"tokens_per_s", "decode.tokens_per_s", NULL};
    copy_number(row, "tokens_per_s", results, tps);
}

/* One row per hooked layer matrix, from the QAT run's relative L1 weight change. */
static void explode_transition(json_t *out_rows, json_t *row, json_t *results) {
    json_t *layers = json_object_get(results, "layers");
    size_t i;
    json_t *layer;
    json_array_foreach(layers, i, layer) {
        json_t *copy = json_deep_copy(row);
        static const char *const fields[] = {"layer", "which", "rel_l1", "rel_l1_quantized", "alpha_mean"};
        for (size_t f = 0; f < PQ_COUNT(fields); f++) {
            json_t *v = json_object_get(layer, fields[f]);
            if (v) json_object_set(copy, fields[f], v);
        }
        json_array_append_new(out_rows, copy);
    }
}

static void explode_kernels(json_t *out_rows, json_t *row, json_t *results) {
    json_t *entries = json_object_get(results, "kernels");
    size_t i;
    json_t *entry;
    json_array_foreach(entries, i, entry) {
        json_t *copy = json_deep_copy(row);
        json_object_update(copy, entry);
        json_array_append_new(out_rows, copy);
    }
}

static json_t *run_output(const pq_run *r) {
    if (strcmp(r->kind, "bench_kernels") != 0) return pq_run_results(r);
    char *path = pq_run_file(r, "kernels.json");
    json_t *v = pq_json_read(path);
    free(path);
    return v;
}

/* Fig. 5 needs no training: sample each quantizer's transfer function q̂(u), u = W/α,
 * over its level range and a margin beyond the clip points. */
static void grid_rows(json_t *rows, json_t *quantizers) {
    enum { POINTS = 601 };
    size_t i;
    json_t *spec;
    json_array_foreach(quantizers, i, spec) {
        const char *name = json_string_value(json_object_get(spec, "name"));
        const char *bits_text = json_string_value(json_object_get(spec, "bits"));
        pq_qbits bits;
        pq_quantizer q;
        if (!name || !bits_text || pq_qbits_parse(bits_text, &bits) != 0 || pq_quantizer_init(&q, name, bits) != 0)
            continue; /* validated in expand_grids */
        float top = q.level0 + (float)(q.levels - 1) * q.level_step;
        float range = 1.25f * (top > -q.level0 ? top : -q.level0);
        json_t *us = json_array(), *qs = json_array();
        for (int k = 0; k < POINTS; k++) {
            float u = -range + 2 * range * (float)k / (POINTS - 1);
            json_array_append_new(us, json_real(u));
            json_array_append_new(qs, json_real(pq_quant_qhat(&q, u)));
        }
        json_array_append_new(rows, json_pack("{s:s, s:s, s:f, s:o, s:o, s:o}", "quantizer", q.name, "bits", bits_text,
                                              "bits_value", pq_qbits_value(bits), "u", us, "q", qs, "run_ids",
                                              json_array()));
    }
}

/* Seed rows collected before merging, and the units they point to. */
typedef struct {
    pq_seed_row *rows;
    int n, cap;
    pq_unit_data **units;
    int n_units;
} seed_rows;

static void add_seed_row(seed_rows *sr, json_t *row, const pq_unit_data *units) {
    if (sr->n == sr->cap) sr->rows = pq_realloc(sr->rows, sizeof *sr->rows * (size_t)(sr->cap = sr->cap ? 2 * sr->cap : 64));
    json_t *seed = json_object_get(row, "_seed");
    sr->rows[sr->n++] = (pq_seed_row){json_is_integer(seed) ? json_integer_value(seed) : 0, json_incref(row), units,
                                      !json_is_true(json_object_get(row, "incomplete"))};
}

/* The eval run's per-unit arrays (kept for the intervals), or NULL. */
static const pq_unit_data *load_units(seed_rows *sr, const pq_run *r) {
    char *path = pq_run_file(r, "units.json");
    pq_unit_data *u = pq_unit_data_load(path);
    free(path);
    if (!u) return NULL;
    sr->units = pq_realloc(sr->units, sizeof *sr->units * (size_t)(sr->n_units + 1));
    return sr->units[sr->n_units++] = u;
}

/* Each explosion row is a seed row of its own (a layer), without units. */
static void add_exploded(seed_rows *sr, json_t *exploded) {
    size_t i;
    json_t *row;
    json_array_foreach(exploded, i, row) add_seed_row(sr, row, NULL);
}

/* Rows of the suites with seeds: merged over seeds, with intervals and contrasts. */
static json_t *merge(pq_suite *s, seed_rows *sr, json_t **contrasts) {
    pq_row_group *groups;
    int ng;
    json_t *key = json_object_get(s->root, "key");
    json_t *rows = pq_merge_seeds(sr->rows, sr->n, key, &groups, &ng);
    json_t *decls = json_object_get(s->root, "contrasts");
    *contrasts = decls ? pq_contrasts_compute(decls, key, groups, ng, !strcmp(s->name, "transition") ? "layer" : "row")
                       : json_array();
    pq_row_groups_free(groups, ng);
    return rows;
}

json_t *pq_suite_aggregate(pq_suite *s, pq_plan *plan) {
    json_t *rows = json_array();
    if (!strcmp(s->name, "grids")) grid_rows(rows, json_object_get(s->tier, "quantizers"));
    int with_seeds = strcmp(s->name, "grids") && strcmp(s->name, "kernels");
    seed_rows sr = {0};
    size_t i;
    json_t *row;
    json_array_foreach(s->rows, i, row) {
        json_t *out = json_deep_copy(row);
        json_object_del(out, "sources");
        if (!with_seeds) json_object_del(out, "_seed");
        json_t *ids = json_array();
        int complete = 1;
        const char *role;
        json_t *idx;
        json_t *explode_from = NULL;
        const pq_unit_data *units = NULL;
        json_object_foreach(json_object_get(row, "sources"), role, idx) {
            const pq_run *r = &plan->runs[json_integer_value(idx)];
            json_array_append_new(ids, json_string(r->id));
            json_t *results = r->state == RUN_DONE ? run_output(r) : NULL;
            if (!results) {
                complete = 0;
                continue;
            }
            if (!strcmp(r->kind, "eval")) {
                add_eval_metrics(out, results);
                if (with_seeds) units = load_units(&sr, r);
            } else if (!strcmp(r->kind, "decode"))
                add_decode_metrics(out, results);
            else if (!strcmp(r->kind, "bench_kernels") || !strcmp(s->name, "transition"))
                explode_from = json_incref(results);
            else {
                /* An eval run's validation loss, if read first, stays (see add_eval_metrics). */
                json_t *keep = json_incref(json_object_get(out, "val_loss"));
                add_training_metrics(out, results);
                if (keep) json_object_set(out, "val_loss", keep);
                json_decref(keep);
            }
            json_decref(results);
        }
        json_object_set_new(out, "run_ids", ids);
        if (!complete) json_object_set_new(out, "incomplete", json_true());
        json_t *target = with_seeds ? json_array() : rows;
        if (explode_from && !strcmp(s->name, "kernels"))
            explode_kernels(target, out, explode_from);
        else if (explode_from)
            explode_transition(target, out, explode_from);
        else
            json_array_append(target, out);
        if (with_seeds) {
            size_t k;
            json_t *one;
            if (explode_from) add_exploded(&sr, target);
            else
                json_array_foreach(target, k, one) add_seed_row(&sr, one, units);
            json_decref(target);
        }
        json_decref(explode_from);
        json_decref(out);
    }
    json_t *contrasts = NULL;
    if (with_seeds) {
        json_decref(rows);
        rows = merge(s, &sr, &contrasts);
        for (int k = 0; k < sr.n; k++) json_decref(sr.rows[k].row);
        for (int k = 0; k < sr.n_units; k++) pq_unit_data_free(sr.units[k]);
        free(sr.rows), free(sr.units);
    }
    json_t *agg = json_pack("{s:s, s:s, s:O, s:O, s:O, s:o}", "suite", s->name, "tier", s->tier_name, "artifact",
                            json_object_get(s->root, "artifact"), "title", json_object_get(s->root, "title"),
                            "finding", json_object_get(s->root, "finding"), "rows", rows);
    json_object_set(agg, "tolerances", s->tolerances);
    json_object_set(agg, "key", json_object_get(s->root, "key"));
    if (contrasts) {
        json_object_set_new(agg, "contrasts", contrasts);
        json_object_set_new(agg, "statistics",
                            json_pack("{s:s, s:i, s:i, s:f}", "method",
                                      "paired bootstrap over units combined with the spread over seeds (README: Statistics)",
                                      "bootstrap_resamples", PQ_STATS_BOOTSTRAP, "bootstrap_seed", (int)PQ_STATS_SEED,
                                      "mde_factor", 2.8));
    }
    if (json_is_true(json_object_get(s->root, "missing_rows_ok"))) json_object_set_new(agg, "missing_rows_ok", json_true());
    json_t *manifest = pq_manifest_new("suite", s->tier);
    json_object_set_new(agg, "manifest", manifest);
    return agg;
}
