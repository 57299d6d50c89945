/* databuild.c — the cached `pq data build` pipeline (see databuild.h). */
#include "data/databuild.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/manifest.h"
#include "base/progress.h"
#include "base/util.h"
#include "data/bpe.h"
#include "data/corpus.h"
#include "data/mixture.h"
#include "data/shards.h"
#include "data/tasks.h"
#include "data/tasks_build.h"
#include "data/tasks_leak.h"

/* Bump a step's format when its code changes what it writes: the step then rebuilds. */
#define TOKENIZER_FORMAT "bpe-2"
#define SHARDS_FORMAT "shards-4"
#define TASKS_FORMAT "tasks-5"

static char *fmt(const char *f, ...) PQ_PRINTF(1, 2);
static char *fmt(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) pq_die("out of memory");
    va_end(ap);
    return s;
}

void pq_data_paths_init(pq_data_paths *p, const char *data_dir, int vocab) {
    if (data_dir) p->data_dir = pq_strdup(data_dir);
    else {
        const char *w = getenv("PQ_WORK");
        p->data_dir = fmt("%s/data", w && *w ? w : "work");
    }
    p->corpus_dir = fmt("%s/corpus", p->data_dir);
    if (vocab == PQ_DATA_DEFAULT_VOCAB) {
        p->tokenizer = fmt("%s/tokenizer.bpe", p->data_dir);
        p->tokenizer_manifest = fmt("%s/tokenizer.json", p->data_dir);
        p->shards_dir = fmt("%s/shards", p->data_dir);
    } else {
        p->tokenizer = fmt("%s/tokenizer-%d.bpe", p->data_dir, vocab);
        p->tokenizer_manifest = fmt("%s/tokenizer-%d.json", p->data_dir, vocab);
        p->shards_dir = fmt("%s/shards-%d", p->data_dir, vocab);
    }
    p->tasks_dir = fmt("%s/tasks", p->data_dir);
}

void pq_data_paths_free(pq_data_paths *p) {
    free(p->data_dir), free(p->corpus_dir), free(p->tokenizer), free(p->tokenizer_manifest), free(p->shards_dir),
        free(p->tasks_dir);
    memset(p, 0, sizeof *p);
}

/* {"<source>.train.jsonl": sha, ...} for the corpus files of the given kind ("train",
 * "heldout"), plus wordnet_synsets.jsonl when with_synsets. */
static json_t *corpus_hashes(const char *corpus_dir, const char *kind, int with_synsets) {
    int ns;
    char **names = pq_corpus_sources(corpus_dir, &ns);
    if (!names) return NULL;
    json_t *o = json_object();
    for (int s = 0; s < ns; s++) {
        char *name = fmt("%s.%s.jsonl", names[s], kind), *path = fmt("%s/%s", corpus_dir, name);
        char hex[PQ_SHA256_HEX];
        int ok = !pq_file_exists(path) || pq_sha256_file(path, hex) == 0;
        if (ok && pq_file_exists(path)) json_object_set_new(o, name, json_string(hex));
        free(name), free(path);
        if (!ok) {
            json_decref(o);
            pq_corpus_sources_free(names, ns);
            return NULL;
        }
    }
    pq_corpus_sources_free(names, ns);
    if (with_synsets) {
        char *path = fmt("%s/wordnet_synsets.jsonl", corpus_dir);
        char hex[PQ_SHA256_HEX];
        if (pq_file_exists(path)) {
            if (pq_sha256_file(path, hex) != 0) {
                free(path);
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, "wordnet_synsets.jsonl", json_string(hex));
        }
        free(path);
    }
    return o;
}

/* The recorded inputs hash of a step manifest, or "" if absent/unreadable. */
static void recorded_inputs(const char *manifest_path, char out[PQ_SHA256_HEX], json_t **manifest) {
    out[0] = 0;
    *manifest = NULL;
    if (!pq_file_exists(manifest_path)) return;
    json_t *m = pq_json_read(manifest_path);
    if (!m) return;
    json_t *h = json_object_get(m, "inputs_sha256");
    if (json_is_string(h) && strlen(json_string_value(h)) == 64) strcpy(out, json_string_value(h));
    *manifest = m;
}

static int file_hash_is(const char *path, const char *want) {
    char hex[PQ_SHA256_HEX];
    return want && pq_file_exists(path) && pq_sha256_file(path, hex) == 0 && strcmp(hex, want) == 0;
}

static void step_begin(pq_data_report *r, const char *name) {
    pq_data_step *s = &r->steps[r->n++];
    memset(s, 0, sizeof *s);
    s->step = name;
    s->seconds = pq_now();
}

static pq_data_step *step_end(pq_data_report *r, int built, const char *detail, ...) PQ_PRINTF(3, 4);
static pq_data_step *step_end(pq_data_report *r, int built, const char *detail, ...) {
    pq_data_step *s = &r->steps[r->n - 1];
    s->built = built;
    s->seconds = pq_now() - s->seconds;
    va_list ap;
    va_start(ap, detail);
    vsnprintf(s->detail, sizeof s->detail, detail, ap);
    va_end(ap);
    return s;
}

/* ---------------------------------------------------------------- tokenizer */

static int build_tokenizer(const pq_data_options *o, const pq_data_paths *p, pq_data_report *r) {
    step_begin(r, "tokenizer");
    json_t *train = corpus_hashes(p->corpus_dir, "train", 0);
    if (!train) return -1;
    json_t *mixture = pq_mixture_default();
    json_t *inputs = json_pack("{s:s, s:i, s:o, s:o}", "format", TOKENIZER_FORMAT, "vocab", o->vocab, "train_files", train,
                               "mixture", mixture);
    char ih[PQ_SHA256_HEX], old[PQ_SHA256_HEX];
    pq_sha256_json(inputs, ih);
    json_t *m;
    recorded_inputs(p->tokenizer_manifest, old, &m);
    if (!o->force && m && !strcmp(ih, old) &&
        file_hash_is(p->tokenizer, json_string_value(json_object_get(m, "tokenizer_sha256")))) {
        step_end(r, 0, "%s: vocab %d, up to date", p->tokenizer, (int)json_integer_value(json_object_get(m, "vocab_size")));
        json_decref(m);
        json_decref(inputs);
        return 0;
    }
    json_decref(m);

    /* the training split as the mixture samples it, caps applied to bytes */
    json_t *manifest = pq_manifest_new("data-tokenizer", inputs);
    const char *key;
    json_t *val;
    json_object_foreach(train, key, val) {
        char *path = fmt("%s/%s", p->corpus_dir, key);
        pq_manifest_add_input(manifest, key, path);
        free(path);
    }
    pq_mixture_text mt;
    if (pq_mixture_text_load(p->corpus_dir, mixture, &mt) != 0) {
        json_decref(manifest), json_decref(inputs);
        return -1;
    }
    pq_bpe_trainer *t = pq_bpe_trainer_new();
    uint64_t bytes = pq_mixture_text_train(&mt, t);
    json_t *weights = json_object();
    for (int s = 0; s < mt.n; s++) json_object_set_new(weights, mt.names[s], json_real(mt.weights[s]));
    pq_mixture_text_free(&mt);
    int rc = 0;
    json_object_set_new(manifest, "byte_weights", weights);
    uint64_t total;
    size_t unique = pq_bpe_trainer_words(t, &total);
    double t0 = pq_now();
    pq_bpe *bpe = pq_bpe_trainer_finish(t, o->vocab, o->verbose);
    double train_s = pq_now() - t0;
    rc = bpe ? pq_bpe_save(bpe, p->tokenizer) : -1;
    if (rc == 0) {
        json_object_set_new(manifest, "inputs_sha256", json_string(ih));
        json_object_set_new(manifest, "tokenizer", json_string(p->tokenizer));
        json_object_set_new(manifest, "tokenizer_sha256", json_string(pq_bpe_hash(bpe)));
        json_object_set_new(manifest, "content_sha256", json_string(pq_bpe_hash(bpe)));
        json_object_set_new(manifest, "vocab_size", json_integer(pq_bpe_vocab_size(bpe)));
        json_object_set_new(manifest, "merges", json_integer(pq_bpe_n_merges(bpe)));
        json_object_set_new(manifest, "train_bytes", json_integer((json_int_t)bytes));
        json_object_set_new(manifest, "train_chunks", json_integer((json_int_t)total));
        json_object_set_new(manifest, "unique_chunks", json_integer((json_int_t)unique));
        json_object_set_new(manifest, "merge_seconds", json_real(train_s));
        pq_manifest_finish(manifest);
        rc = pq_json_write(manifest, p->tokenizer_manifest);
    }
    if (rc == 0) {
        step_end(r, 1, "%s: vocab %d (%d merges) from %.1f MB of mixture text, %zu unique words, merges in %.1f s", p->tokenizer,
                 pq_bpe_vocab_size(bpe), pq_bpe_n_merges(bpe), (double)bytes / 1e6, unique, train_s);
        if (pq_bpe_vocab_size(bpe) < o->vocab && r->n_warnings < 8)
            snprintf(r->warnings[r->n_warnings++], 512, "tokenizer: only %d of %d ids: no pair occurs twice any more",
                     pq_bpe_vocab_size(bpe), o->vocab);
    }
    pq_bpe_free(bpe);
    json_decref(manifest);
    json_decref(inputs);
    return rc;
}

/* ---------------------------------------------------------------- shards */

static int shards_intact(const char *dir, json_t *m) {
    json_t *list = json_copy(json_object_get(m, "train_shards"));
    json_array_append(list, json_object_get(m, "val_shard"));
    size_t i;
    json_t *e;
    int ok = json_array_size(list) >= 2;
    json_array_foreach(list, i, e) {
        if (!ok) break;
        char *path = fmt("%s/%s", dir, json_string_value(json_object_get(e, "file")));
        pq_shard *s = pq_shard_open(path);
        ok = s && !strcmp(s->payload_hash, json_string_value(json_object_get(e, "payload_sha256")) ?: "");
        pq_shard_close(s);
        free(path);
    }
    json_decref(list);
    return ok;
}

static int build_shards(const pq_data_options *o, const pq_data_paths *p, pq_data_report *r) {
    step_begin(r, "shards");
    char tok_hash[PQ_SHA256_HEX];
    if (pq_sha256_file(p->tokenizer, tok_hash) != 0) return -1;
    json_t *train = corpus_hashes(p->corpus_dir, "train", 0), *held = corpus_hashes(p->corpus_dir, "heldout", 0);
    if (!train || !held) {
        json_decref(train), json_decref(held);
        return -1;
    }
    json_t *mixture = pq_mixture_default();
    json_t *inputs = json_pack("{s:s, s:s, s:o, s:o, s:o, s:I, s:I}", "format", SHARDS_FORMAT, "tokenizer_sha256", tok_hash,
                               "train_files", train, "heldout_files", held, "mixture", mixture, "seed", (json_int_t)o->seed,
                               "shard_tokens", (json_int_t)PQ_SHARD_TRAIN_TOKENS);
    char ih[PQ_SHA256_HEX], old[PQ_SHA256_HEX];
    pq_sha256_json(inputs, ih);
    char *mpath = fmt("%s/manifest.json", p->shards_dir);
    json_t *m;
    recorded_inputs(mpath, old, &m);
    free(mpath);
    if (!o->force && m && !strcmp(ih, old) && shards_intact(p->shards_dir, m)) {
        step_end(r, 0, "%s: %lld mixture tokens in %zu train shards, %lld val tokens, up to date", p->shards_dir,
                 (long long)json_integer_value(json_object_get(m, "mixture_tokens")),
                 json_array_size(json_object_get(m, "train_shards")),
                 (long long)json_integer_value(json_object_get(m, "val_tokens")));
        json_decref(m);
        json_decref(inputs);
        return 0;
    }
    json_decref(m);
    pq_bpe *bpe = pq_bpe_load(p->tokenizer);
    if (!bpe) {
        json_decref(inputs);
        return -1;
    }
    json_t *stats = NULL;
    char *tmp = fmt("%s.tmp.%d", p->shards_dir, (int)getpid());
    pq_remove_tree(tmp);
    int rc = pq_mkdirs(tmp);
    if (rc == 0) rc = pq_shards_build(p->corpus_dir, tmp, bpe, mixture, o->seed, &stats, o->verbose);
    if (rc == 0) {
        json_t *manifest = pq_manifest_new("data-shards", inputs);
        pq_manifest_add_input(manifest, "tokenizer", p->tokenizer);
        json_object_update(manifest, stats);
        json_object_set_new(manifest, "inputs_sha256", json_string(ih));
        /* what the shards hold, independent of when and where they were built */
        json_t *content = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(stats, "train_shards"), i, e) json_array_append(content, e);
        json_array_append(content, json_object_get(stats, "val_shard"));
        json_array_append_new(content, json_string(pq_bpe_hash(bpe)));
        char ch[PQ_SHA256_HEX];
        pq_sha256_json(content, ch);
        json_decref(content);
        json_object_set_new(manifest, "content_sha256", json_string(ch));
        pq_manifest_finish(manifest);
        char *mp = fmt("%s/manifest.json", tmp);
        rc = pq_json_write(manifest, mp);
        free(mp);
        json_decref(manifest);
    }
    if (rc == 0) rc = pq_dir_swap(tmp, p->shards_dir);
    if (rc != 0) pq_remove_tree(tmp);
    else {
        json_t *gc = json_object_get(json_object_get(stats, "sources"), "gcide");
        step_end(r, 1, "%s: %lld mixture tokens in %zu train shards, %lld val tokens, encoded at %.1f MB/s%s",
                 p->shards_dir, (long long)json_integer_value(json_object_get(stats, "mixture_tokens")),
                 json_array_size(json_object_get(stats, "train_shards")),
                 (long long)json_integer_value(json_object_get(stats, "val_tokens")),
                 json_real_value(json_object_get(stats, "encode_mb_per_s")), gc ? "" : " (no gcide source)");
    }
    free(tmp);
    json_decref(stats);
    json_decref(inputs);
    pq_bpe_free(bpe);
    return rc;
}

/* ---------------------------------------------------------------- tasks */

static int tasks_intact(const char *dir, json_t *m) {
    json_t *files = json_object_get(m, "files");
    if (!json_is_object(files) || json_object_size(files) == 0) return 0;
    const char *key;
    json_t *v;
    json_object_foreach(files, key, v) {
        char *path = fmt("%s/%s", dir, key);
        int ok = file_hash_is(path, json_string_value(v));
        free(path);
        if (!ok) return 0;
    }
    return 1;
}

/* Loads each file, checks it against set; returns the number of leaking files. */
static int check_files(const pq_ngram_set *set, int n, char **files, long *items) {
    int leaks = 0;
    char first[1024] = "";
    for (int i = 0; i < n; i++) {
        pq_task *t = pq_task_load(files[i]);
        if (!t) return -1;
        if (items) *items += t->n_items;
        if (pq_task_check_leaks(t, set) != 0) {
            if (!leaks) snprintf(first, sizeof first, "%s", pq_error());
            leaks++;
        }
        pq_task_free(t);
    }
    if (leaks) pq_fail("%s", first);
    return leaks;
}

static int build_tasks(const pq_data_options *o, const pq_data_paths *p, pq_data_report *r) {
    step_begin(r, "tasks");
    json_t *held = corpus_hashes(p->corpus_dir, "heldout", 1), *train = corpus_hashes(p->corpus_dir, "train", 0);
    if (!held || !train) {
        json_decref(held), json_decref(train);
        return -1;
    }
    /* The training text is a function of the training files, the mixture and the
     * seed-free document choice, the same for every vocab size: so are the tasks
     * (the leak set is decoded from this vocab's shards, which hold that text). */
    json_t *inputs = json_pack("{s:s, s:o, s:o, s:o, s:I, s:i, s:i}", "format", TASKS_FORMAT, "heldout_files", held,
                               "train_files", train, "mixture", pq_mixture_default(), "seed", (json_int_t)o->seed,
                               "max_items", PQ_TASK_MAX_ITEMS, "ngram", PQ_LEAK_NGRAM);
    char ih[PQ_SHA256_HEX], old[PQ_SHA256_HEX];
    pq_sha256_json(inputs, ih);
    char *mpath = fmt("%s/manifest.json", p->tasks_dir);
    json_t *m;
    recorded_inputs(mpath, old, &m);
    free(mpath);
    if (!o->force && m && !strcmp(ih, old) && tasks_intact(p->tasks_dir, m)) {
        step_end(r, 0, "%s: %zu tasks, up to date", p->tasks_dir, json_object_size(json_object_get(m, "tasks")));
        json_decref(m);
        json_decref(inputs);
        return 0;
    }
    json_decref(m);

    pq_bpe *bpe = pq_bpe_load(p->tokenizer);
    if (!bpe) {
        json_decref(inputs);
        return -1;
    }
    double t0 = pq_now();
    pq_ngram_set *set = pq_ngram_set_from_shards(p->shards_dir, bpe);
    pq_bpe_free(bpe);
    if (!set) {
        json_decref(inputs);
        return -1;
    }
    double t_set = pq_now() - t0;
    char *tmp = fmt("%s.tmp.%d", p->tasks_dir, (int)getpid());
    pq_remove_tree(tmp);
    json_t *stats = NULL;
    int rc = pq_mkdirs(tmp);
    if (rc == 0) rc = pq_tasks_build(p->corpus_dir, set, tmp, o->seed, &stats, o->verbose);
    /* the independent final check: reload what was written and test every item */
    long items = 0;
    json_t *files = json_object();
    if (rc == 0) {
        int n = 0;
        char *paths[16];
        for (int t = 0; pq_builtin_tasks[t]; t++) paths[n++] = fmt("%s/%s.jsonl", tmp, pq_builtin_tasks[t]);
        int leaks = check_files(set, n, paths, &items);
        if (leaks != 0) {
            if (leaks > 0) {
                char msg[1100];
                snprintf(msg, sizeof msg, "%s", pq_error());
                pq_fail("leak check failed: %s", msg);
            }
            rc = -1;
        }
        for (int t = 0; t < n && rc == 0; t++) {
            char hex[PQ_SHA256_HEX];
            if ((rc = pq_sha256_file(paths[t], hex)) == 0) json_object_set_new(files, strrchr(paths[t], '/') + 1, json_string(hex));
        }
        for (int t = 0; t < n; t++) free(paths[t]);
    }
    if (rc == 0) {
        json_t *manifest = pq_manifest_new("data-tasks", inputs);
        json_object_set_new(manifest, "inputs_sha256", json_string(ih));
        json_object_set(manifest, "tasks", stats);
        json_object_set(manifest, "files", files);
        char ch[PQ_SHA256_HEX];
        pq_sha256_json(files, ch);
        json_object_set_new(manifest, "content_sha256", json_string(ch));
        json_object_set_new(manifest, "leak_check",
                            json_pack("{s:i, s:I, s:I, s:I, s:i, s:f}", "ngram", PQ_LEAK_NGRAM, "train_words",
                                      (json_int_t)set->words, "train_windows", (json_int_t)set->n, "items_checked",
                                      (json_int_t)items, "leaks", 0, "set_seconds", t_set));
        pq_manifest_finish(manifest);
        char *mp = fmt("%s/manifest.json", tmp);
        rc = pq_json_write(manifest, mp);
        free(mp);
        json_decref(manifest);
    }
    if (rc == 0) rc = pq_dir_swap(tmp, p->tasks_dir);
    if (rc != 0) pq_remove_tree(tmp);
    else {
        char summary[400] = "";
        size_t at = 0;
        const char *key;
        json_t *v;
        json_object_foreach(stats, key, v) {
            at += (size_t)snprintf(summary + at, sizeof summary - PQ_MIN(at, sizeof summary), "%s%s %lld", at ? ", " : "",
                                   key, (long long)json_integer_value(json_object_get(v, "items")));
            json_t *w = json_object_get(v, "warning");
            if (w && r->n_warnings < 8) snprintf(r->warnings[r->n_warnings++], 512, "tasks: %s: %s", key, json_string_value(w));
            if (at >= sizeof summary) break;
        }
        step_end(r, 1, "%s: %s; 13-gram check of %ld items against %zu training windows: clean", p->tasks_dir, summary,
                 items, set->n);
    }
    free(tmp);
    json_decref(files);
    json_decref(stats);
    json_decref(inputs);
    pq_ngram_set_free(set);
    return rc;
}

/* ---------------------------------------------------------------- driver */

/* Removes "<x>.tmp.<pid>" and "<x>.old.<pid>" leftovers of builds that were killed
 * (their process is gone): a crash never leaves a half-written file in place,
 * and this keeps it from leaving litter either. */
static void remove_stale_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t) t = strstr(e->d_name, ".old.");
        if (!t || !t[5]) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno != ESRCH)) continue;
        if (kill((pid_t)pid, 0) == 0) continue; /* a live build owns it */
        char *path = fmt("%s/%s", dir, e->d_name);
        pq_remove_tree(path);
        free(path);
    }
    closedir(d);
}

int pq_data_build(const pq_data_options *o, pq_data_report *r) {
    memset(r, 0, sizeof *r);
    if (o->vocab < PQ_BPE_FIRST_MERGE + 1 || o->vocab > 65536)
        return pq_fail("vocab size %d outside %d..65536", o->vocab, PQ_BPE_FIRST_MERGE + 1);
    pq_data_paths p;
    pq_data_paths_init(&p, o->data_dir, o->vocab);
    remove_stale_temporaries(p.data_dir);
    int rc = 0;
    step_begin(r, "corpus");
    if (o->skip_corpus) {
        step_end(r, 0, "%s: skipped (--skip-corpus), using what is there", p.corpus_dir);
    } else {
        const char *recipes = pq_corpus_recipes_dir();
        int fresh = !o->force && pq_corpus_up_to_date_sel(recipes, o->sources, p.data_dir);
        if (!fresh) rc = pq_corpus_build_sel(recipes, o->sources, p.data_dir, o->force, o->verbose);
        if (rc == 0) step_end(r, !fresh, "%s: %s", p.corpus_dir, fresh ? "up to date" : "built from the pinned packages");
    }
    if (rc == 0) rc = build_tokenizer(o, &p, r);
    if (rc == 0) rc = build_shards(o, &p, r);
    if (rc == 0) rc = build_tasks(o, &p, r);
    pq_data_paths_free(&p);
    return rc;
}

int pq_data_check_leaks(const char *tokenizer_path, const char *shards_dir, int n_files, char **files, long *items) {
    pq_bpe *bpe = pq_bpe_load(tokenizer_path);
    if (!bpe) return -1;
    pq_ngram_set *set = pq_ngram_set_from_shards(shards_dir, bpe);
    pq_bpe_free(bpe);
    if (!set) return -1;
    int leaks = check_files(set, n_files, files, items);
    pq_ngram_set_free(set);
    return leaks;
}
