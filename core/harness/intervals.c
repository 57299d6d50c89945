#include "harness/intervals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/manifest.h"
#include "base/util.h"
#include "harness/results_io.h"
#include "harness/stats.h"

/* ---- an eval run's units ---------------------------------------------------------- */

struct pq_unit_data {
    int n_val;                        /* validation documents */
    double *val_nll, *val_tokens;
    long long val_seq_len, val_scored; /* the windows they came from: pairing needs the same */
    int n_tasks;                      /* multiple-choice tasks */
    char **task;
    int *n_items;
    double **acc;                     /* [task][item] 0/1 */
    int n_ppl;                        /* perplexity documents of every ppl task, pooled */
    double *ppl_bits, *ppl_bytes;
};

static double *numbers(json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    double *v = pq_malloc(sizeof *v * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++) v[i] = json_number_value(json_array_get(arr, (size_t)i));
    return v;
}

pq_unit_data *pq_unit_data_load(const char *path) {
    if (!pq_file_exists(path)) return NULL;
    json_t *root = pq_json_read(path);
    if (!root) return NULL;
    pq_unit_data *u = pq_calloc(1, sizeof *u);
    json_t *val = json_object_get(root, "val");
    if (json_is_object(val)) {
        int nt = 0;
        u->val_nll = numbers(json_object_get(val, "nll"), &u->n_val);
        u->val_tokens = numbers(json_object_get(val, "targets"), &nt);
        if (nt != u->n_val) u->n_val = 0;
        u->val_seq_len = json_integer_value(json_object_get(val, "seq_len"));
        u->val_scored = json_integer_value(json_object_get(val, "tokens"));
    }
    json_t *tasks = json_object_get(root, "tasks");
    size_t nt = json_object_size(tasks);
    u->task = pq_calloc(nt + 1, sizeof *u->task);
    u->n_items = pq_calloc(nt + 1, sizeof *u->n_items);
    u->acc = pq_calloc(nt + 1, sizeof *u->acc);
    const char *name;
    json_t *t;
    json_object_foreach(tasks, name, t) {
        const char *kind = json_string_value(json_object_get(t, "kind"));
        if (kind && !strcmp(kind, "mc")) {
            u->task[u->n_tasks] = pq_strdup(name);
            u->acc[u->n_tasks] = numbers(json_object_get(t, "acc"), &u->n_items[u->n_tasks]);
            u->n_tasks++;
        } else if (kind && !strcmp(kind, "ppl")) {
            int n, nb;
            double *nll = numbers(json_object_get(t, "nll"), &n), *bytes = numbers(json_object_get(t, "bytes"), &nb);
            if (nb == n) {
                u->ppl_bits = pq_realloc(u->ppl_bits, sizeof *u->ppl_bits * (size_t)(u->n_ppl + n + 1));
                u->ppl_bytes = pq_realloc(u->ppl_bytes, sizeof *u->ppl_bytes * (size_t)(u->n_ppl + n + 1));
                for (int i = 0; i < n; i++)
                    u->ppl_bits[u->n_ppl + i] = nll[i] / log(2.0), u->ppl_bytes[u->n_ppl + i] = bytes[i];
                u->n_ppl += n;
            }
            free(nll), free(bytes);
        }
    }
    json_decref(root);
    return u;
}

void pq_unit_data_free(pq_unit_data *u) {
    if (!u) return;
    free(u->val_nll), free(u->val_tokens);
    for (int i = 0; i < u->n_tasks; i++) free(u->task[i]), free(u->acc[i]);
    free(u->task), free(u->n_items), free(u->acc);
    free(u->ppl_bits), free(u->ppl_bytes);
    free(u);
}

/* ---- a metric's units ---------------------------------------------------------------- */

/* One configuration's units of a metric at one seed; identity says which units they are. */
typedef struct {
    pq_units units;
    int *stratum;
    pq_unit_values values;
    double *num, *den;
    long long identity[2];
} metric_units;

static void metric_units_free(metric_units *m) {
    free(m->stratum), free(m->num), free(m->den);
    memset(m, 0, sizeof *m);
}

static int task_index(const pq_unit_data *u, const char *task) {
    for (int i = 0; i < u->n_tasks; i++)
        if (!strcmp(u->task[i], task)) return i;
    return -1;
}

static void alloc_units(metric_units *m, int n, int with_den) {
    m->units.n = n, m->units.n_strata = 1;
    m->num = pq_malloc(sizeof *m->num * (size_t)(n ? n : 1));
    m->den = with_den ? pq_malloc(sizeof *m->den * (size_t)(n ? n : 1)) : NULL;
    m->values = (pq_unit_values){m->num, m->den};
}

/* The units of metric in u: val_loss and bpb (documents), acc.<task> (items),
 * acc_avg (items, one stratum per task of `tasks`, in that order). -1: not there. */
static int metric_units_of(const char *metric, const pq_unit_data *u, const json_t *tasks, metric_units *m) {
    memset(m, 0, sizeof *m);
    if (!u) return -1;
    if (!strcmp(metric, "val_loss")) {
        if (u->n_val == 0) return -1;
        alloc_units(m, u->n_val, 1);
        memcpy(m->num, u->val_nll, sizeof *m->num * (size_t)u->n_val);
        memcpy(m->den, u->val_tokens, sizeof *m->den * (size_t)u->n_val);
        m->identity[0] = u->val_seq_len, m->identity[1] = u->val_scored;
        return 0;
    }
    if (!strcmp(metric, "bpb")) {
        if (u->n_ppl == 0) return -1;
        alloc_units(m, u->n_ppl, 1);
        memcpy(m->num, u->ppl_bits, sizeof *m->num * (size_t)u->n_ppl);
        memcpy(m->den, u->ppl_bytes, sizeof *m->den * (size_t)u->n_ppl);
        return 0;
    }
    if (!strncmp(metric, "acc.", 4)) {
        int t = task_index(u, metric + 4);
        if (t < 0 || u->n_items[t] == 0) return -1;
        alloc_units(m, u->n_items[t], 0);
        memcpy(m->num, u->acc[t], sizeof *m->num * (size_t)u->n_items[t]);
        return 0;
    }
    if (!strcmp(metric, "acc_avg")) {
        int n = 0, K = (int)json_array_size(tasks);
        if (K == 0) return -1;
        for (int k = 0; k < K; k++) {
            int t = task_index(u, json_string_value(json_array_get(tasks, (size_t)k)));
            if (t < 0 || u->n_items[t] == 0) return -1;
            n += u->n_items[t];
        }
        alloc_units(m, n, 0);
        m->stratum = pq_malloc(sizeof *m->stratum * (size_t)n);
        m->units.n_strata = K, m->units.stratum = m->stratum;
        n = 0;
        for (int k = 0; k < K; k++) {
            int t = task_index(u, json_string_value(json_array_get(tasks, (size_t)k)));
            for (int i = 0; i < u->n_items[t]; i++) m->num[n] = u->acc[t][i], m->stratum[n++] = k;
            m->identity[0] = m->identity[0] * 31 + u->n_items[t];
        }
        return 0;
    }
    return -1;
}

static int same_units(const metric_units *x, const metric_units *y) {
    if (x->units.n != y->units.n || x->units.n_strata != y->units.n_strata) return 0;
    if (x->identity[0] != y->identity[0] || x->identity[1] != y->identity[1]) return 0;
    for (int i = 0; x->stratum && i < x->units.n; i++)
        if (x->stratum[i] != y->stratum[i]) return 0;
    return 1;
}

static const char *unit_name(const char *metric) {
    if (!strcmp(metric, "val_loss") || !strcmp(metric, "bpb")) return "document";
    if (!strcmp(metric, "acc_avg") || !strncmp(metric, "acc.", 4)) return "item";
    return NULL;
}

/* A row's value of metric ("acc.<task>" looks one object down); NAN if absent. */
static double row_value(const json_t *row, const char *metric) {
    const char *dot = strchr(metric, '.');
    json_t *v;
    if (dot) {
        char head[128];
        snprintf(head, sizeof head, "%.*s", (int)(dot - metric), metric);
        v = json_object_get(json_object_get(row, head), dot + 1);
    } else {
        v = json_object_get(row, metric);
    }
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* The tasks of acc_avg: the multiple-choice tasks a row averaged over. */
static json_t *acc_tasks(const json_t *row) {
    json_t *names = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(row, "acc"), k, v) json_array_append_new(names, json_string(k));
    return names;
}

/* ---- one interval ------------------------------------------------------------------------ */

typedef struct {
    pq_interval iv;
    int ok, paired, n_units, has_noise;
    const char *unit;
} interval_result;

/* Side a (and b, or b NULL) at S paired seeds: pairs[s] rows of a, pbs[s] of b.
 * Units where every seed has them; the seed spread alone otherwise. */
static interval_result interval_of(const char *metric, pq_seed_row *const *sa, pq_seed_row *const *sb, int S) {
    interval_result r = {0};
    json_t *tasks = acc_tasks(sa[0]->row);
    metric_units *ma = pq_calloc((size_t)S, sizeof *ma), *mb = pq_calloc((size_t)S, sizeof *mb);
    int have = 1;
    for (int s = 0; s < S && have; s++) {
        have &= metric_units_of(metric, sa[s]->units, tasks, &ma[s]) == 0;
        if (have && sb) have &= metric_units_of(metric, sb[s]->units, tasks, &mb[s]) == 0;
        if (have && s > 0) have &= same_units(&ma[s], &ma[0]) && (!sb || same_units(&mb[s], &mb[0]));
    }
    if (have) {
        pq_unit_values *va = pq_malloc(sizeof *va * (size_t)S), *vb = pq_malloc(sizeof *vb * (size_t)S);
        for (int s = 0; s < S; s++) va[s] = ma[s].values, vb[s] = mb[s].values;
        r.paired = !sb || same_units(&ma[0], &mb[0]);
        r.ok = pq_stats_interval(&ma[0].units, va, sb ? &mb[0].units : NULL, sb ? vb : NULL, S, r.paired,
                                 PQ_STATS_BOOTSTRAP, &r.iv) == 0;
        r.n_units = ma[0].units.n, r.unit = unit_name(metric), r.has_noise = 1;
        free(va), free(vb);
    }
    for (int s = 0; s < S; s++) metric_units_free(&ma[s]), metric_units_free(&mb[s]);
    free(ma), free(mb);
    json_decref(tasks);
    if (r.ok) return r;
    /* No units: per-seed values of the rows. */
    double *a = pq_malloc(sizeof *a * (size_t)S), *b = pq_malloc(sizeof *b * (size_t)S);
    int finite = 1;
    for (int s = 0; s < S; s++) {
        a[s] = row_value(sa[s]->row, metric), b[s] = sb ? row_value(sb[s]->row, metric) : 0;
        finite &= isfinite(a[s]) && isfinite(b[s]);
    }
    if (finite) {
        pq_stats_seeds_only(a, sb ? b : NULL, S, &r.iv);
        r.ok = 1, r.paired = sb != NULL, r.unit = NULL, r.n_units = 0, r.has_noise = S > 1;
    }
    free(a), free(b);
    return r;
}

static json_t *pair_json(double lo, double hi) { return json_pack("[f, f]", lo, hi); }
static json_t *num_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* ---- merging seeds ------------------------------------------------------------------------ */

/* Metrics whose per-seed values a row keeps, and whose interval it states. */
static const char *const ROW_METRICS[] = {"val_loss", "acc_avg", "bpb", "word_ppl", "rel_l1", "tokens_per_s"};

static int is_key(const json_t *key_fields, const char *name) {
    size_t i;
    json_t *f;
    json_array_foreach(key_fields, i, f) if (!strcmp(json_string_value(f), name)) return 1;
    return 0;
}

/* The mean over seeds of a field: numbers averaged, objects of numbers averaged per member. */
static json_t *mean_field(pq_seed_row *const *rows, int n, const char *name) {
    json_t *first = json_object_get(rows[0]->row, name);
    int equal = 1;
    for (int s = 1; s < n; s++) equal &= json_equal(first, json_object_get(rows[s]->row, name));
    if (equal) return json_incref(first);
    if (json_is_number(first)) {
        double sum = 0;
        int m = 0;
        for (int s = 0; s < n; s++) {
            json_t *v = json_object_get(rows[s]->row, name);
            if (json_is_number(v)) sum += json_number_value(v), m++;
        }
        return json_real(sum / m);
    }
    if (json_is_object(first)) {
        json_t *out = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(first, k, v) {
            double sum = 0;
            int m = 0;
            for (int s = 0; s < n; s++) {
                json_t *x = json_object_get(json_object_get(rows[s]->row, name), k);
                if (json_is_number(x)) sum += json_number_value(x), m++;
            }
            json_object_set_new(out, k, m ? json_real(sum / m) : json_incref(v));
        }
        return out;
    }
    return json_incref(first);
}

static json_t *interval_json(const interval_result *r) {
    return r->ok && r->has_noise ? pair_json(r->iv.lo, r->iv.hi) : json_null();
}

static void add_seed_stats(json_t *row, pq_row_group *g) {
    json_t *per_seed = json_object(), *ci = json_object();
    for (size_t m = 0; m < PQ_COUNT(ROW_METRICS); m++) {
        const char *metric = ROW_METRICS[m];
        if (!json_object_get(row, metric)) continue;
        json_t *vals = json_array();
        for (int s = 0; s < g->n; s++) json_array_append_new(vals, num_or_null(row_value(g->seeds[s]->row, metric)));
        json_object_set_new(per_seed, metric, vals);
        interval_result r = interval_of(metric, g->seeds, NULL, g->n);
        json_object_set_new(ci, metric, interval_json(&r));
    }
    json_t *acc = json_object_get(row, "acc");
    if (json_is_object(acc)) {
        json_t *ps = json_object(), *cs = json_object();
        const char *task;
        json_t *v;
        json_object_foreach(acc, task, v) {
            char metric[256];
            snprintf(metric, sizeof metric, "acc.%s", task);
            json_t *vals = json_array();
            for (int s = 0; s < g->n; s++) json_array_append_new(vals, num_or_null(row_value(g->seeds[s]->row, metric)));
            json_object_set_new(ps, task, vals);
            interval_result r = interval_of(metric, g->seeds, NULL, g->n);
            json_object_set_new(cs, task, interval_json(&r));
        }
        json_object_set_new(per_seed, "acc", ps);
        json_object_set_new(ci, "acc", cs);
    }
    json_object_set_new(row, "per_seed", per_seed);
    json_object_set_new(row, "ci95", ci);
}

/* Whether group g already holds a row of this seed among rows[0..i): two rows of one
 * seed with the same key are different configurations (a key that misses a field),
 * kept apart rather than averaged. */
static int has_seed(const pq_seed_row *rows, const int *group_of, int i, int g, long long seed) {
    for (int j = 0; j < i; j++)
        if (group_of[j] == g && rows[j].seed == seed) return 1;
    return 0;
}

json_t *pq_merge_seeds(pq_seed_row *rows, int n, const json_t *key_fields, pq_row_group **groups_out, int *n_groups) {
    json_t *out = json_array();
    char **keys = pq_calloc((size_t)(n ? n : 1), sizeof *keys);
    int *group_of = pq_calloc((size_t)(n ? n : 1), sizeof *group_of), ng = 0;
    char **group_key = pq_calloc((size_t)(n ? n : 1), sizeof *group_key);
    for (int i = 0; i < n; i++) {
        keys[i] = pq_results_row_key(rows[i].row, key_fields);
        int g = 0;
        while (g < ng && (strcmp(group_key[g], keys[i]) || has_seed(rows, group_of, i, g, rows[i].seed))) g++;
        if (g == ng) group_key[ng++] = keys[i];
        group_of[i] = g;
    }
    pq_row_group *groups = pq_calloc((size_t)(ng ? ng : 1), sizeof *groups);
    for (int g = 0; g < ng; g++) {
        pq_row_group *G = &groups[g];
        G->seeds = pq_calloc((size_t)n, sizeof *G->seeds);
        int complete = 0;
        for (int i = 0; i < n; i++) complete += group_of[i] == g && rows[i].complete;
        for (int i = 0; i < n; i++)
            if (group_of[i] == g && (rows[i].complete || !complete)) G->seeds[G->n++] = &rows[i];
        json_t *row = json_object(), *ids = json_array(), *seeds = json_array();
        const char *name;
        json_t *v;
        json_object_foreach(G->seeds[0]->row, name, v) {
            if (!strcmp(name, "_seed") || !strcmp(name, "run_ids") || !strcmp(name, "incomplete")) continue;
            json_object_set_new(row, name, is_key(key_fields, name) ? json_incref(v) : mean_field(G->seeds, G->n, name));
        }
        for (int i = 0; i < n; i++)
            if (group_of[i] == g) json_array_extend(ids, json_object_get(rows[i].row, "run_ids"));
        for (int s = 0; s < G->n; s++) json_array_append_new(seeds, json_integer(G->seeds[s]->seed));
        json_object_set_new(row, "seeds", seeds);
        json_object_set_new(row, "run_ids", ids);
        if (!complete) json_object_set_new(row, "incomplete", json_true());
        add_seed_stats(row, G);
        json_array_append_new(out, row);
        G->row = row;
    }
    for (int i = 0; i < n; i++) free(keys[i]);
    free(keys), free(group_of), free(group_key);
    *groups_out = groups, *n_groups = ng;
    return out;
}

void pq_row_groups_free(pq_row_group *groups, int n) {
    for (int g = 0; g < n; g++) free(groups[g].seeds);
    free(groups);
}

/* ---- contrasts ------------------------------------------------------------------------------ */

static int value_matches(const json_t *want, const json_t *have) {
    if (json_is_number(want) && json_is_number(have))
        return fabs(json_number_value(want) - json_number_value(have)) <= 1e-9;
    return have && json_equal(want, have);
}

static int selects(const json_t *sel, const json_t *row) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sel, k, v) if (!value_matches(v, json_object_get(row, k))) return 0;
    return 1;
}

static int same_where(const json_t *for_each, const json_t *x, const json_t *y) {
    size_t i;
    json_t *f;
    json_array_foreach(for_each, i, f) {
        const char *k = json_string_value(f);
        json_t *vx = json_object_get(x, k), *vy = json_object_get(y, k);
        if (!vx || !vy || !value_matches(vx, vy)) return 0;
    }
    return 1;
}

/* The key fields every row of a side shares. */
static json_t *side_key(const json_t *key_fields, const pq_row_group *const *side, int n) {
    json_t *k = json_object();
    size_t i;
    json_t *f;
    json_array_foreach(key_fields, i, f) {
        const char *name = json_string_value(f);
        json_t *v = json_object_get(side[0]->row, name);
        int shared = v != NULL;
        for (int r = 1; r < n && shared; r++) shared = value_matches(v, json_object_get(side[r]->row, name));
        if (shared) json_object_set(k, name, v);
    }
    return k;
}

static const char *default_better(const char *metric) {
    if (!strcmp(metric, "val_loss") || !strcmp(metric, "bpb") || !strcmp(metric, "word_ppl") || strstr(metric, "loss"))
        return "lower";
    return "higher";
}

static pq_seed_row *seed_of(const pq_row_group *g, long long seed) {
    for (int s = 0; s < g->n; s++)
        if (g->seeds[s]->seed == seed) return g->seeds[s];
    return NULL;
}

/* Several rows per side (e.g. the layers of one QAT run): each row is a unit, the
 * statistic its mean over rows; the sides resampled independently. */
static interval_result rows_interval(const char *metric, const pq_row_group *const *A, int na,
                                     const pq_row_group *const *B, int nb, long long **seeds_out, int *S_out) {
    interval_result r = {0};
    const pq_row_group *first = A[0];
    long long *seeds = pq_malloc(sizeof *seeds * (size_t)(first->n ? first->n : 1));
    int S = 0;
    for (int s = 0; s < first->n; s++) {
        long long seed = first->seeds[s]->seed;
        int everywhere = 1;
        for (int i = 0; i < na && everywhere; i++) everywhere = seed_of(A[i], seed) != NULL;
        for (int i = 0; i < nb && everywhere; i++) everywhere = seed_of(B[i], seed) != NULL;
        if (everywhere) seeds[S++] = seed;
    }
    *seeds_out = seeds, *S_out = S;
    if (S == 0) return r;
    double *a = pq_malloc(sizeof *a * (size_t)S * na), *b = pq_malloc(sizeof *b * (size_t)S * nb);
    pq_unit_values *va = pq_malloc(sizeof *va * (size_t)S), *vb = pq_malloc(sizeof *vb * (size_t)S);
    int finite = 1;
    for (int s = 0; s < S; s++) {
        for (int i = 0; i < na; i++) finite &= isfinite(a[s * na + i] = row_value(seed_of(A[i], seeds[s])->row, metric));
        for (int i = 0; i < nb; i++) finite &= isfinite(b[s * nb + i] = row_value(seed_of(B[i], seeds[s])->row, metric));
        va[s] = (pq_unit_values){a + (size_t)s * na, NULL}, vb[s] = (pq_unit_values){b + (size_t)s * nb, NULL};
    }
    pq_units ua = {na, 1, NULL}, ub = {nb, 1, NULL};
    if (finite) r.ok = pq_stats_interval(&ua, va, &ub, vb, S, 0, PQ_STATS_BOOTSTRAP, &r.iv) == 0;
    r.paired = 0, r.n_units = na + nb, r.has_noise = 1;
    free(a), free(b), free(va), free(vb);
    return r;
}

static json_t *instance_json(const json_t *decl, const json_t *where, json_t *akey, json_t *bkey,
                             const interval_result *r, const char *unit, const long long *seeds, int S) {
    const char *metric = json_string_value(json_object_get(decl, "metric"));
    const char *better = json_string_value(json_object_get(decl, "better"));
    if (!better) better = default_better(metric);
    const pq_interval *iv = &r->iv;
    const char *hint = "within_noise";
    if (r->has_noise && (iv->lo > 0 || iv->hi < 0)) {
        int a_higher = iv->lo > 0;
        hint = a_higher == !strcmp(better, "higher") ? "a_better" : "b_better";
    }
    json_t *seed_list = json_array();
    for (int s = 0; s < S; s++) json_array_append_new(seed_list, json_integer(seeds[s]));
    json_t *o = json_pack("{s:O, s:s, s:s, s:O, s:o, s:o}", "name", json_object_get(decl, "name"), "metric", metric,
                          "better", better, "where", where, "a", akey, "b", bkey);
    json_object_set_new(o, "a_value", num_or_null(iv->a_value));
    json_object_set_new(o, "b_value", num_or_null(iv->b_value));
    json_object_set_new(o, "effect", num_or_null(iv->effect));
    json_object_set_new(o, "ci95", r->has_noise ? pair_json(iv->lo, iv->hi) : json_null());
    json_object_set_new(o, "se", r->has_noise ? num_or_null(iv->se) : json_null());
    json_object_set_new(o, "se_units", r->has_noise ? num_or_null(iv->se_units) : json_null());
    json_object_set_new(o, "se_seeds", r->has_noise ? num_or_null(iv->se_seeds) : json_null());
    json_object_set_new(o, "mde", r->has_noise ? num_or_null(iv->mde) : json_null());
    json_object_set_new(o, "n_units", json_integer(r->n_units));
    json_object_set_new(o, "unit", unit ? json_string(unit) : json_null());
    json_object_set_new(o, "n_seeds", json_integer(S));
    json_object_set_new(o, "seeds", seed_list);
    json_object_set_new(o, "paired", json_boolean(r->paired));
    json_object_set_new(o, "verdict_hint", json_string(hint));
    return o;
}

/* "$max", "$max2" (the second largest) and "$min" of a numeric field over the rows:
 * tiers sweep different values, a declaration names them by rank. */
static json_t *resolve_selector(const json_t *sel, const pq_row_group *groups, int ng) {
    json_t *out = json_deep_copy(sel);
    const char *k;
    json_t *v;
    json_object_foreach(out, k, v) {
        const char *sym = json_string_value(v);
        if (!sym || sym[0] != '$') continue;
        double max = -INFINITY, max2 = -INFINITY, min = INFINITY;
        for (int g = 0; g < ng; g++) {
            json_t *x = json_object_get(groups[g].row, k);
            if (!json_is_number(x)) continue;
            double d = json_number_value(x);
            if (d > max) max2 = max, max = d;
            else if (d < max && d > max2) max2 = d;
            if (d < min) min = d;
        }
        double pick = !strcmp(sym, "$max") ? max : !strcmp(sym, "$max2") ? max2 : min;
        json_object_set_new(out, k, isfinite(pick) ? json_real(pick) : json_string("(none)"));
    }
    return out;
}

static void one_decl(json_t *out, const json_t *decl, const json_t *key_fields, const pq_row_group *groups, int ng,
                     const char *multi_unit) {
    const char *metric = json_string_value(json_object_get(decl, "metric"));
    json_t *sa = resolve_selector(json_object_get(decl, "a"), groups, ng);
    json_t *sb = resolve_selector(json_object_get(decl, "b"), groups, ng);
    json_t *for_each = json_object_get(decl, "for_each");
    json_t *empty = json_array();
    if (!for_each) for_each = empty;
    const pq_row_group **A = pq_malloc(sizeof *A * (size_t)(ng ? ng : 1)), **B = pq_malloc(sizeof *B * (size_t)(ng ? ng : 1));
    char *done = pq_calloc((size_t)(ng ? ng : 1), 1);
    for (int g = 0; g < ng; g++) {
        if (done[g] || !selects(sa, groups[g].row)) continue;
        int na = 0, nb = 0;
        for (int h = g; h < ng; h++)
            if (!done[h] && selects(sa, groups[h].row) && same_where(for_each, groups[g].row, groups[h].row))
                A[na++] = &groups[h], done[h] = 1;
        for (int h = 0; h < ng; h++)
            if (selects(sb, groups[h].row) && same_where(for_each, groups[g].row, groups[h].row)) B[nb++] = &groups[h];
        if (nb == 0) continue;
        json_t *where = json_object();
        size_t i;
        json_t *f;
        json_array_foreach(for_each, i, f) json_object_set(where, json_string_value(f),
                                                           json_object_get(groups[g].row, json_string_value(f)));
        interval_result r;
        long long *seeds = NULL;
        int S = 0;
        const char *unit;
        if (na == 1 && nb == 1) {
            /* Seeds both sides measured, in a's order: d_s pairs the same seed. */
            seeds = pq_malloc(sizeof *seeds * (size_t)(A[0]->n ? A[0]->n : 1));
            pq_seed_row **pa = pq_malloc(sizeof *pa * (size_t)(A[0]->n ? A[0]->n : 1)), **pb = pq_malloc(sizeof *pb * (size_t)(A[0]->n ? A[0]->n : 1));
            for (int s = 0; s < A[0]->n; s++) {
                pq_seed_row *other = seed_of(B[0], A[0]->seeds[s]->seed);
                if (other) pa[S] = A[0]->seeds[s], pb[S] = other, seeds[S++] = A[0]->seeds[s]->seed;
            }
            memset(&r, 0, sizeof r);
            if (S) r = interval_of(metric, pa, pb, S);
            unit = r.unit;
            free(pa), free(pb);
        } else {
            r = rows_interval(metric, A, na, B, nb, &seeds, &S);
            unit = multi_unit;
        }
        if (r.ok)
            json_array_append_new(out, instance_json(decl, where, side_key(key_fields, A, na), side_key(key_fields, B, nb),
                                                     &r, unit, seeds, S));
        json_decref(where);
        free(seeds);
    }
    free(A), free(B), free(done);
    json_decref(empty), json_decref(sa), json_decref(sb);
}

json_t *pq_contrasts_compute(const json_t *decls, const json_t *key_fields, const pq_row_group *groups, int n_groups,
                             const char *multi_unit) {
    json_t *out = json_array();
    size_t i;
    json_t *decl;
    json_array_foreach(decls, i, decl) one_decl(out, decl, key_fields, groups, n_groups, multi_unit);
    return out;
}

/* ---- checking declarations ---------------------------------------------------------------- */

/* The line of the i-th contrast: its "name" key, counted from the "contrasts" key. */
static int decl_line(const char *text, int index) {
    const char *at = text ? strstr(text, "\"contrasts\"") : NULL;
    if (!at) return 0;
    for (int k = 0; k <= index && at; k++) at = strstr(at + 1, "\"name\"");
    if (!at) at = strstr(text, "\"contrasts\"");
    int line = 1;
    for (const char *p = text; p < at; p++) line += *p == '\n';
    return line;
}

static int decl_error(const char *path, const char *text, int i, const char *name, const char *field, const char *what) {
    char where[256];
    if (name)
        snprintf(where, sizeof where, "contrasts[%d] (%s)%s%s", i, name, field ? "." : "", field ? field : "");
    else
        snprintf(where, sizeof where, "contrasts[%d]%s%s", i, field ? "." : "", field ? field : "");
    int line = decl_line(text, i);
    if (line) return pq_fail("%s:%d: %s: %s", path, line, where, what);
    return pq_fail("%s: %s: %s", path, where, what);
}

static int check_selector(const json_t *sel, const json_t *key_fields, const json_t *for_each, const char *path,
                          const char *text, int i, const char *name, const char *side) {
    if (!json_is_object(sel) || json_object_size(sel) == 0)
        return decl_error(path, text, i, name, side, "must be an object of key fields {\"field\": value}");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)sel, k, v) {
        char what[300];
        if (!is_key(key_fields, k)) {
            snprintf(what, sizeof what, "'%s' is not one of the suite's key fields", k);
            return decl_error(path, text, i, name, side, what);
        }
        if (is_key(for_each, k)) {
            snprintf(what, sizeof what, "'%s' is in for_each (the fields both sides share)", k);
            return decl_error(path, text, i, name, side, what);
        }
        if (!json_is_number(v) && !json_is_string(v))
            return decl_error(path, text, i, name, side, "values must be numbers or strings");
        const char *sym = json_string_value(v);
        if (sym && sym[0] == '$' && strcmp(sym, "$max") && strcmp(sym, "$max2") && strcmp(sym, "$min"))
            return decl_error(path, text, i, name, side, "a value by rank is \"$max\", \"$max2\" or \"$min\"");
    }
    return 0;
}

int pq_contrasts_check(const json_t *decls, const json_t *key_fields, const json_t *tasks, const char *path,
                       const char *text) {
    if (!decls) return 0;
    if (!json_is_array(decls)) return pq_fail("%s: contrasts: must be an array of contrast declarations", path);
    size_t i;
    json_t *d;
    json_array_foreach(decls, i, d) {
        int n = (int)i;
        if (!json_is_object(d)) return decl_error(path, text, n, NULL, NULL, "must be an object");
        const char *name = json_string_value(json_object_get(d, "name"));
        if (!name || !*name) return decl_error(path, text, n, NULL, "name", "must be a non-empty string");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(name, json_string_value(json_object_get(json_array_get(decls, j), "name"))))
                return decl_error(path, text, n, name, "name", "is used by an earlier contrast");
        static const char *const allowed[] = {"name", "metric", "for_each", "a", "b", "better", "comment"};
        const char *k;
        json_t *v;
        json_object_foreach(d, k, v) {
            int known = 0;
            for (size_t a = 0; a < PQ_COUNT(allowed); a++) known |= !strcmp(k, allowed[a]);
            if (!known) {
                char what[300];
                snprintf(what, sizeof what, "unknown field (known: name, metric, for_each, a, b, better, comment)");
                return decl_error(path, text, n, name, k, what);
            }
        }
        const char *metric = json_string_value(json_object_get(d, "metric"));
        if (!metric || !*metric) return decl_error(path, text, n, name, "metric", "must be a metric name (val_loss, acc_avg, acc.<task>, bpb, rel_l1, ...)");
        if (!strncmp(metric, "acc.", 4) && json_is_array(tasks)) {
            int found = 0;
            size_t t;
            json_t *tv;
            json_array_foreach(tasks, t, tv) found |= json_is_string(tv) && !strcmp(json_string_value(tv), metric + 4);
            if (!found) return decl_error(path, text, n, name, "metric", "names a task the tier does not evaluate");
        }
        json_t *better = json_object_get(d, "better");
        if (better && (!json_is_string(better) ||
                       (strcmp(json_string_value(better), "lower") && strcmp(json_string_value(better), "higher"))))
            return decl_error(path, text, n, name, "better", "must be \"lower\" or \"higher\"");
        json_t *for_each = json_object_get(d, "for_each"), *empty = json_array();
        if (for_each) {
            size_t f;
            json_t *fv;
            int ok = json_is_array(for_each);
            json_array_foreach(for_each, f, fv) ok &= json_is_string(fv) && is_key(key_fields, json_string_value(fv));
            if (!ok) {
                json_decref(empty);
                return decl_error(path, text, n, name, "for_each", "must be an array of the suite's key fields");
            }
        }
        int rc = check_selector(json_object_get(d, "a"), key_fields, for_each ? for_each : empty, path, text, n, name, "a");
        if (rc == 0)
            rc = check_selector(json_object_get(d, "b"), key_fields, for_each ? for_each : empty, path, text, n, name, "b");
        json_decref(empty);
        if (rc != 0) return rc;
        if (json_equal(json_object_get(d, "a"), json_object_get(d, "b")))
            return decl_error(path, text, n, name, "b", "selects the same rows as a");
    }
    return 0;
}
