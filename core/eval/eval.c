#include "eval/eval.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/progress.h"
#include "base/util.h"
#include "data/tasks.h"
#include "eval/mc.h"
#include "eval/ppl.h"

static int is_path(const char *spec) {
    size_t n = strlen(spec);
    return strchr(spec, '/') || (n > 6 && !strcmp(spec + n - 6, ".jsonl"));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Built-in task names: the .jsonl files of dir, sorted. */
static int list_builtin(const char *dir, char ***out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    char **names = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= 6 || strcmp(e->d_name + l - 6, ".jsonl") || e->d_name[0] == '.') continue;
        if (n == cap) names = pq_realloc(names, sizeof *names * (size_t)(cap = cap ? 2 * cap : 16));
        names[n] = pq_strdup(e->d_name);
        names[n++][l - 6] = 0;
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    return n;
}

static void free_strings(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

void pq_eval_free_specs(char **names, char **paths, int n) {
    free_strings(names, n);
    free_strings(paths, n);
}

static char *base_name(const char *path) {
    const char *b = strrchr(path, '/');
    char *name = pq_strdup(b ? b + 1 : path);
    size_t l = strlen(name);
    if (l > 6 && !strcmp(name + l - 6, ".jsonl")) name[l - 6] = 0;
    return name;
}

int pq_eval_resolve_tasks(const char *const *specs, int n_specs, const char *tasks_dir, char ***names_out,
                          char ***paths_out, int *n_out) {
    char **builtin = NULL;
    int n_builtin = list_builtin(tasks_dir, &builtin);
    int n = 0, cap = n_specs + n_builtin + 1;
    char **names = pq_calloc((size_t)cap, sizeof *names), **paths = pq_calloc((size_t)cap, sizeof *paths);
    int rc = 0;
    for (int s = 0; s < n_specs && rc == 0; s++) {
        const char *spec = specs[s];
        if (!strcmp(spec, "all")) {
            if (n_builtin == 0) rc = pq_fail("task 'all': no built-in tasks in %s (run 'pq data build')", tasks_dir);
            for (int b = 0; b < n_builtin && rc == 0; b++) {
                if (n == cap) names = pq_realloc(names, sizeof *names * (size_t)(cap *= 2)),
                              paths = pq_realloc(paths, sizeof *paths * (size_t)cap);
                names[n] = pq_strdup(builtin[b]);
                char file[1024];
                snprintf(file, sizeof file, "%s.jsonl", builtin[b]);
                paths[n++] = pq_path_join(tasks_dir, file);
            }
            continue;
        }
        char *path, *name;
        if (is_path(spec)) {
            if (!pq_file_exists(spec)) {
                rc = pq_fail("%s: task file not found", spec);
                break;
            }
            path = pq_strdup(spec);
            name = base_name(spec);
        } else {
            char file[1024];
            snprintf(file, sizeof file, "%s.jsonl", spec);
            path = pq_path_join(tasks_dir, file);
            if (!pq_file_exists(path)) {
                char known[1024] = "";
                for (int b = 0; b < n_builtin; b++) {
                    size_t l = strlen(known);
                    snprintf(known + l, sizeof known - l, "%s%s", b ? ", " : "", builtin[b]);
                }
                rc = pq_fail("unknown task '%s' (built-in tasks in %s: %s; or give a .jsonl path)", spec, tasks_dir,
                             n_builtin ? known : "none, run 'pq data build'");
                free(path);
                break;
            }
            name = pq_strdup(spec);
        }
        if (n == cap) names = pq_realloc(names, sizeof *names * (size_t)(cap *= 2)),
                      paths = pq_realloc(paths, sizeof *paths * (size_t)cap);
        names[n] = name;
        paths[n++] = path;
    }
    for (int i = 0; i < n && rc == 0; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j])) {
                rc = pq_fail("task name '%s' given twice (%s and %s)", names[i], paths[j], paths[i]);
                break;
            }
    free_strings(builtin, n_builtin);
    if (rc != 0) {
        pq_eval_free_specs(names, paths, n);
        return -1;
    }
    *names_out = names;
    *paths_out = paths;
    *n_out = n;
    return 0;
}

json_t *pq_eval_conventions(void) {
    json_t *c = json_object();
    json_object_set_new(c, "semantics", json_string("lm-evaluation-harness 0.4 (loglikelihood / multiple_choice / "
                                                    "loglikelihood_rolling), zero-shot"));
    json_object_set_new(c, "bos_before_context", json_true());
    json_object_set_new(c, "target_delimiter", json_string(" "));
    json_object_set_new(c, "context_trailing_whitespace", json_string("moved to the continuation (_encode_pair)"));
    json_object_set_new(c, "continuation_tokens",
                        json_string("encode(context + continuation)[len(encode(context)):]"));
    json_object_set_new(c, "loglik", json_string("sum of the continuation's token log-probs"));
    json_object_set_new(c, "acc", json_string("argmax loglik == gold, first index on ties"));
    json_object_set_new(c, "acc_norm", json_string("argmax loglik / len(choice) in Unicode code points (no delimiter; "
                                                   "WinoGrande form: len(context)), first index on ties"));
    json_object_set_new(c, "stderr", json_string("sample standard deviation / sqrt(n)"));
    json_object_set_new(c, "truncation", json_string("left, to the model's context length + 1 tokens"));
    json_object_set_new(c, "perplexity_windows",
                        json_string("get_rolling_token_windows(max_seq_len = context length, context_len = 1, "
                                    "prefix_token = BOS) + make_disjoint_window; documents encoded without BOS"));
    json_object_set_new(c, "perplexity_units",
                        json_string("words = len(re.split(r'\\s+', doc)), bytes = len(doc.encode('utf-8'))"));
    return c;
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

typedef struct {
    pq_progress bar;
} progress_ctx;

static void on_progress(void *ctx, int64_t done, int64_t total) {
    (void)total;
    pq_progress_update(&((progress_ctx *)ctx)->bar, done, done, NULL);
}

static int write_samples(FILE *f, const char *task, const pq_task *t, const pq_mc_result *r, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "task", json_string(task));
        json_object_set_new(o, "index", json_integer(i));
        json_object_set_new(o, "id", json_string(t->items[i].id));
        json_t *ll = json_array(), *den = json_array();
        for (int k = 0; k < r[i].n; k++) {
            json_array_append_new(ll, json_real(r[i].loglik[k]));
            json_array_append_new(den, json_real(r[i].denom[k]));
        }
        json_object_set_new(o, "loglik", ll);
        json_object_set_new(o, "norm_len", den);
        json_object_set_new(o, "gold", json_integer(r[i].gold));
        json_object_set_new(o, "pred", json_integer(r[i].pred));
        json_object_set_new(o, "pred_norm", json_integer(r[i].pred_norm));
        char *line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
        json_decref(o);
        int bad = fprintf(f, "%s\n", line) < 0;
        free(line);
        if (bad) return pq_fail("cannot write samples");
    }
    return 0;
}

/* Item i correct under acc and under acc_norm, as 0/1 arrays. */
static json_t *choice_units(const pq_mc_result *r, int64_t n) {
    json_t *acc = json_array(), *acc_norm = json_array();
    for (int64_t i = 0; i < n; i++) {
        json_array_append_new(acc, json_integer(r[i].pred == r[i].gold));
        json_array_append_new(acc_norm, json_integer(r[i].pred_norm == r[i].gold));
    }
    return json_pack("{s:s, s:o, s:o}", "kind", "mc", "acc", acc, "acc_norm", acc_norm);
}

static json_t *run_choice(const pq_lm *lm, const pq_eval_tokenizer *tok, const pq_task *t, int64_t n, FILE *samples,
                          json_t *units) {
    pq_mc_item *items = pq_calloc((size_t)n, sizeof *items);
    for (int64_t i = 0; i < n; i++) {
        const pq_task_item *it = &t->items[i];
        items[i] = (pq_mc_item){it->n_contexts, (const char *const *)it->contexts, it->n_choices,
                                (const char *const *)it->choices, it->gold};
    }
    pq_mc_result *res = pq_calloc((size_t)n, sizeof *res);
    pq_mc_stats st;
    progress_ctx pc;
    pq_progress_begin(&pc.bar, t->name, n, "item");
    double t0 = pq_now();
    int rc = pq_mc_score(lm, tok, items, n, res, &st, on_progress, &pc);
    double secs = pq_now() - t0;
    pq_progress_end(&pc.bar);
    if (rc != 0) {
        /* Name the line: items are scored in file order. */
        char msg[600];
        snprintf(msg, sizeof msg, "%s", pq_error());
        long long idx;
        if (sscanf(msg, "item %lld", &idx) == 1 && idx >= 0 && idx < n)
            pq_fail("%s:%d: %s", t->path, t->items[idx].line, msg);
        else
            pq_fail("%s: %s", t->path, msg);
    }
    if (rc == 0 && samples) rc = write_samples(samples, t->name, t, res, n);
    if (rc == 0 && units) json_object_set_new(units, t->name, choice_units(res, n));
    free(items);
    free(res);
    if (rc != 0) return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(pq_task_kind_name(t->kind)));
    json_object_set_new(o, "path", json_string(t->path));
    json_object_set_new(o, "items", json_integer(st.items));
    json_object_set_new(o, "items_in_file", json_integer(t->n_items));
    json_object_set_new(o, "acc", num(st.acc));
    json_object_set_new(o, "acc_stderr", num(st.acc_stderr));
    json_object_set_new(o, "acc_norm", num(st.acc_norm));
    json_object_set_new(o, "acc_norm_stderr", num(st.acc_norm_stderr));
    json_object_set_new(o, "chance_acc", num(st.chance));
    json_object_set_new(o, "tokens_scored", json_integer(st.tokens_scored));
    json_object_set_new(o, "tokens_forward", json_integer(st.tokens_forward));
    json_object_set_new(o, "tokens_without_prefix_sharing", json_integer(st.tokens_unshared));
    json_object_set_new(o, "truncated_requests", json_integer(st.truncated_requests));
    json_object_set_new(o, "seconds", json_real(secs));
    return o;
}

static json_t *run_ppl(const pq_lm *lm, const pq_eval_tokenizer *tok, const pq_task *t, int64_t n, json_t *units) {
    pq_doc *docs = pq_calloc((size_t)n, sizeof *docs);
    double *loglik = pq_calloc((size_t)(n ? n : 1), sizeof *loglik);
    for (int64_t i = 0; i < n; i++) docs[i] = (pq_doc){t->items[i].contexts[0], strlen(t->items[i].contexts[0])};
    pq_ppl_stats st;
    progress_ctx pc;
    pq_progress_begin(&pc.bar, t->name, n, "doc");
    double t0 = pq_now();
    int rc = pq_ppl_score(lm, tok, docs, n, loglik, &st, on_progress, &pc);
    double secs = pq_now() - t0;
    pq_progress_end(&pc.bar);
    if (rc == 0 && units) {
        json_t *nll = json_array(), *bytes = json_array();
        for (int64_t i = 0; i < n; i++) {
            json_array_append_new(nll, json_real(-loglik[i]));
            json_array_append_new(bytes, json_integer((json_int_t)docs[i].len));
        }
        json_object_set_new(units, t->name, json_pack("{s:s, s:o, s:o}", "kind", "ppl", "nll", nll, "bytes", bytes));
    }
    free(loglik);
    free(docs);
    if (rc != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "%s", pq_error());
        long long idx;
        if (sscanf(msg, "document %lld", &idx) == 1 && idx >= 0 && idx < n)
            pq_fail("%s:%d: %s", t->path, t->items[idx].line, msg);
        else
            pq_fail("%s: %s", t->path, msg);
        return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string("ppl"));
    json_object_set_new(o, "path", json_string(t->path));
    json_object_set_new(o, "documents", json_integer(st.documents));
    json_object_set_new(o, "documents_in_file", json_integer(t->n_items));
    json_object_set_new(o, "tokens", json_integer(st.tokens));
    json_object_set_new(o, "bytes", json_integer(st.bytes));
    json_object_set_new(o, "words", json_integer(st.words));
    json_object_set_new(o, "windows", json_integer(st.windows));
    json_object_set_new(o, "loglik", json_real(st.loglik));
    json_object_set_new(o, "token_perplexity", num(st.token_perplexity));
    json_object_set_new(o, "word_perplexity", num(st.word_perplexity));
    json_object_set_new(o, "byte_perplexity", num(st.byte_perplexity));
    json_object_set_new(o, "bits_per_byte", num(st.bits_per_byte));
    json_object_set_new(o, "seconds", json_real(secs));
    return o;
}

json_t *pq_eval_run(const pq_lm *lm, const pq_eval_tokenizer *tok, char *const *names, char *const *paths, int n,
                    const pq_eval_options *opt, json_t *manifest) {
    FILE *samples = NULL;
    pq_atomic_file af;
    if (opt->samples) {
        if (pq_atomic_open(&af, opt->samples) != 0) return NULL;
        samples = af.f;
    }
    json_t *out = json_object();
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        pq_task *t = pq_task_load(paths[i]);
        if (!t) {
            rc = -1;
            break;
        }
        free(t->name);
        t->name = pq_strdup(names[i]);
        if (manifest) {
            char key[512];
            snprintf(key, sizeof key, "task:%s", names[i]);
            if (pq_manifest_add_input(manifest, key, paths[i]) != 0) rc = -1;
        }
        int64_t m = t->n_items;
        if (opt->limit > 0 && opt->limit < m) m = opt->limit;
        json_t *r = NULL;
        if (rc == 0) r = t->kind == PQ_TASK_PPL ? run_ppl(lm, tok, t, m, opt->units)
                                        : run_choice(lm, tok, t, m, samples, opt->units);
        if (!r) rc = -1;
        else
            json_object_set_new(out, names[i], r);
        pq_task_free(t);
    }
    if (samples) {
        if (rc == 0) rc = pq_atomic_commit(&af);
        else
            pq_atomic_abort(&af);
    }
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

json_t *pq_eval_pool_perplexity(const json_t *tasks) {
    double loglik = 0;
    int64_t tokens = 0, bytes = 0, words = 0;
    json_t *names = json_array();
    const char *name;
    json_t *t;
    json_object_foreach((json_t *)tasks, name, t) {
        if (strcmp(json_string_value(json_object_get(t, "kind")) ? json_string_value(json_object_get(t, "kind")) : "",
                   "ppl"))
            continue;
        loglik += json_real_value(json_object_get(t, "loglik"));
        tokens += json_integer_value(json_object_get(t, "tokens"));
        bytes += json_integer_value(json_object_get(t, "bytes"));
        words += json_integer_value(json_object_get(t, "words"));
        json_array_append_new(names, json_string(name));
    }
    if (json_array_size(names) == 0) {
        json_decref(names);
        return NULL;
    }
    json_t *o = json_object();
    json_object_set_new(o, "tasks", names);
    json_object_set_new(o, "loglik", json_real(loglik));
    json_object_set_new(o, "tokens", json_integer(tokens));
    json_object_set_new(o, "bytes", json_integer(bytes));
    json_object_set_new(o, "words", json_integer(words));
    json_object_set_new(o, "token_perplexity", num(tokens ? exp(-loglik / (double)tokens) : NAN));
    json_object_set_new(o, "word_perplexity", num(words ? exp(-loglik / (double)words) : NAN));
    json_object_set_new(o, "byte_perplexity", num(bytes ? exp(-loglik / (double)bytes) : NAN));
    json_object_set_new(o, "bits_per_byte", num(bytes ? -loglik / (double)bytes / log(2.0) : NAN));
    return o;
}
