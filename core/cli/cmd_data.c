/* pq data — build the corpus, tokenizer, token shards and zero-shot tasks; report them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "cli/cli.h"
#include "data/corpus.h"
#include "data/databuild.h"
#include "data/shards.h"

static void usage(void) {
    printf("usage: pq data build [--data-dir DIR] [--vocab N] [--seed S] [--sources NAME] [--skip-corpus] [--force] [--quiet]\n"
           "       pq data stats [--data-dir DIR] [--vocab N] [--json]\n"
           "       pq data check-leaks [--data-dir DIR] [--vocab N] TASK.jsonl...\n"
           "\n"
           "build        corpus (Debian packages) -> BPE tokenizer -> token shards -> built-in tasks.\n"
           "             Each step is skipped when its inputs and outputs are unchanged.\n"
           "stats        what was built: sources, tokenizer, shards, tasks, the leak check.\n"
           "check-leaks  13-gram check of task files (e.g. your own JSONL tasks) against the\n"
           "             training shards; exit 1 naming the first leaking file:line.\n"
           "\n"
           "  --data-dir DIR   data directory (default $PQ_WORK/data, PQ_WORK default 'work')\n"
           "  --vocab N        tokenizer vocab size incl. 256 bytes + BOS/EOS (default %d; 4096 also common)\n"
           "  --seed S         seed of the shard order and the tasks' choice order (default %d)\n"
           "  --sources NAME   build the source selection corpus-NAME.json (a list of recipes you write\n"
           "                   next to corpus.json, in $PQ_DATASETS or ./datasets) instead of corpus.json;\n"
           "                   give it its own --data-dir\n"
           "  --skip-corpus    use the corpus already in DIR/corpus (no package download)\n"
           "  --json           stats: per source documents, words, bytes (corpus) and train/held-out\n"
           "                   tokens at 4k and 8k (the shards built for each), as JSON on stdout\n"
           "  --force          rebuild every step\n"
           "  --quiet          no progress lines\n",
           PQ_DATA_DEFAULT_VOCAB, PQ_DATA_DEFAULT_SEED);
}

typedef struct {
    const char *data_dir, *sources;
    int vocab;
    long long seed;
    int skip_corpus, force, quiet, json;
    char **rest;
    int n_rest;
} args;

static void parse(int argc, char **argv, args *a, int allow_files) {
    const char *cmd = "data";
    memset(a, 0, sizeof *a);
    a->vocab = PQ_DATA_DEFAULT_VOCAB;
    a->seed = PQ_DATA_DEFAULT_SEED;
    a->rest = pq_calloc((size_t)argc + 1, sizeof *a->rest);
    for (int i = 2; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--data-dir") || !strcmp(f, "--vocab") || !strcmp(f, "--seed") || !strcmp(f, "--sources")) {
            if (i + 1 >= argc) pq_usage_error(cmd, "%s needs a value", f);
            const char *v = argv[++i];
            if (!strcmp(f, "--data-dir")) a->data_dir = v;
            else if (!strcmp(f, "--sources")) a->sources = v;
            else if (!strcmp(f, "--vocab")) a->vocab = (int)pq_parse_int_in(cmd, f, v, PQ_POSITIVE, 65536);
            else a->seed = pq_parse_int_in(cmd, f, v, PQ_NONNEG, 0);
        } else if (!strcmp(f, "--skip-corpus")) a->skip_corpus = 1;
        else if (!strcmp(f, "--force")) a->force = 1;
        else if (!strcmp(f, "--quiet")) a->quiet = 1;
        else if (!strcmp(f, "--json")) a->json = 1;
        else if (f[0] == '-' && f[1]) pq_usage_error(cmd, "unknown flag '%s'", f);
        else if (allow_files) a->rest[a->n_rest++] = argv[i];
        else pq_usage_error(cmd, "unexpected argument '%s'", f);
    }
    if (a->vocab < 259 || a->vocab > 65536) pq_usage_error(cmd, "--vocab must be in 259..65536, got %d", a->vocab);
    if (!pq_corpus_selection_ok(a->sources)) pq_usage_error(cmd, "--sources must be 1-64 of a-z, 0-9 and '-', got '%s'", a->sources);
    if (a->sources && a->skip_corpus) pq_usage_error(cmd, "--sources selects what the corpus step builds; --skip-corpus skips it");
}

static int do_build(args *a) {
    pq_data_options o = {a->data_dir, a->vocab, (uint64_t)a->seed, a->skip_corpus, a->force, !a->quiet, a->sources};
    pq_data_report r;
    double t0 = pq_now();
    int rc = pq_data_build(&o, &r);
    for (int i = 0; i < r.n; i++) {
        const pq_data_step *s = &r.steps[i];
        if (i == r.n - 1 && rc != 0 && !s->detail[0]) break; /* the failing step */
        fprintf(stderr, "pq data: %-9s %s  %s (%.1f s)\n", s->step, s->built ? "built" : "ok   ", s->detail, s->seconds);
    }
    for (int i = 0; i < r.n_warnings; i++) fprintf(stderr, "pq data: warning: %s\n", r.warnings[i]);
    if (rc != 0) {
        fprintf(stderr, "pq data: %s\n", pq_error());
        return 1;
    }
    int built = 0;
    for (int i = 0; i < r.n; i++) built += r.steps[i].built;
    fprintf(stderr, "pq data: %s in %.1f s\n", built ? "done" : "nothing to do, everything up to date", pq_now() - t0);
    return 0;
}

static json_t *read_json_or_null(const char *path) { return pq_file_exists(path) ? pq_json_read(path) : NULL; }

static long long jint(json_t *o, const char *k) { return (long long)json_integer_value(json_object_get(o, k)); }

static int do_stats(args *a) {
    pq_data_paths p;
    pq_data_paths_init(&p, a->data_dir, a->vocab);
    char *tm = p.tokenizer_manifest;
    char *sm_path = pq_path_join(p.shards_dir, "manifest.json"), *km_path = pq_path_join(p.tasks_dir, "manifest.json");
    json_t *tok = read_json_or_null(tm), *sm = read_json_or_null(sm_path), *km = read_json_or_null(km_path);
    int rc = 0;
    printf("data directory  %s\n", p.data_dir);
    if (!tok) {
        printf("tokenizer       not built (run 'pq data build%s')\n", a->vocab == PQ_DATA_DEFAULT_VOCAB ? "" : " --vocab N");
        rc = 1;
    } else {
        printf("tokenizer       %s  vocab %lld (%lld merges + 256 bytes + BOS/EOS)  sha256 %.16s\n", p.tokenizer,
               jint(tok, "vocab_size"), jint(tok, "merges"), json_string_value(json_object_get(tok, "tokenizer_sha256")));
        printf("                trained on %.1f MB of training text: %lld words, %lld unique; merges took %.1f s\n",
               (double)jint(tok, "train_bytes") / 1e6, jint(tok, "train_chunks"), jint(tok, "unique_chunks"),
               json_real_value(json_object_get(tok, "merge_seconds")));
    }
    if (!sm) {
        printf("shards          not built\n");
        rc = 1;
    } else {
        printf("shards          %s  seed %lld\n", p.shards_dir, jint(sm, "seed"));
        printf("  %-12s %9s %9s %11s %7s %9s %9s %11s %9s %6s\n", "source", "train doc", "train MB", "train tok", "weight",
               "mix tok", "mix share", "heldout tok", "val tok", "B/tok");
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(sm, "sources"), key, v) {
            printf("  %-12s %9lld %9.2f %11lld %7.3f %9lld %8.1f%% %11lld %9lld %6.2f\n", key, jint(v, "train_docs"),
                   (double)jint(v, "train_bytes") / 1e6, jint(v, "train_tokens"), json_real_value(json_object_get(v, "weight")),
                   jint(v, "mixture_tokens"), 100 * json_real_value(json_object_get(v, "mixture_share")),
                   jint(v, "heldout_tokens"), jint(v, "val_tokens"), json_real_value(json_object_get(v, "bytes_per_token")));
        }
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(sm, "train_shards"), i, e) {
            char *path = pq_path_join(p.shards_dir, json_string_value(json_object_get(e, "file")));
            pq_shard *s = pq_shard_open(path);
            printf("  %-14s %10lld tokens %8lld docs  %s\n", json_string_value(json_object_get(e, "file")), jint(e, "tokens"),
                   jint(e, "docs"), s ? "valid" : pq_error());
            if (!s) rc = 1;
            pq_shard_close(s);
            free(path);
        }
        json_t *ve = json_object_get(sm, "val_shard");
        char *vpath = pq_path_join(p.shards_dir, "val.bin");
        pq_shard *vs = pq_shard_open(vpath);
        printf("  %-14s %10lld tokens %8lld docs  %s   (held-out documents, mixture proportions)\n", "val.bin", jint(ve, "tokens"),
               jint(ve, "docs"), vs ? "valid" : pq_error());
        if (!vs) rc = 1;
        pq_shard_close(vs);
        free(vpath);
        printf("  total: %lld mixture tokens for training (%lld before weighting), %lld validation tokens\n",
               jint(sm, "mixture_tokens"), jint(sm, "train_tokens_unweighted"), jint(sm, "val_tokens"));
    }
    if (!km) {
        printf("tasks           not built\n");
        rc = 1;
    } else {
        printf("tasks           %s\n", p.tasks_dir);
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(km, "tasks"), key, v) {
            json_t *w = json_object_get(v, "warning");
            printf("  %-18s %5lld items (%s)  candidates %lld, skipped: %lld leaking, %lld duplicate%s%s\n", key,
                   jint(v, "items"), json_string_value(json_object_get(v, "kind")), jint(v, "candidates"),
                   jint(v, "skipped_leak"), jint(v, "skipped_duplicate"), w ? "  WARNING: " : "",
                   w ? json_string_value(w) : "");
        }
        json_t *lc = json_object_get(km, "leak_check");
        printf("  leak check: no %lld-word window of %lld items' context + gold answer is among the %lld windows of "
               "the training shards\n",
               jint(lc, "ngram"), jint(lc, "items_checked"), jint(lc, "train_windows"));
    }
    json_decref(tok), json_decref(sm), json_decref(km);
    free(sm_path), free(km_path);
    pq_data_paths_free(&p);
    return rc;
}

/* pq data stats --json: the corpus manifest's per-source counts joined with the
 * token counts of the 4k and 8k shards (null where those were not built). */
static int do_stats_json(args *a) {
    pq_data_paths p;
    pq_data_paths_init(&p, a->data_dir, PQ_DATA_DEFAULT_VOCAB);
    char *cm_path = pq_path_join(p.corpus_dir, "manifest.json");
    json_t *cm = pq_json_read(cm_path);
    int rc = 0;
    if (!cm) {
        fprintf(stderr, "pq data: %s\n", pq_error());
        rc = 1;
    }
    static const int vocabs[] = {4096, 8192};
    json_t *sm[2] = {NULL, NULL};
    for (int v = 0; v < 2 && !rc; v++) {
        pq_data_paths pv;
        pq_data_paths_init(&pv, a->data_dir, vocabs[v]);
        char *path = pq_path_join(pv.shards_dir, "manifest.json");
        sm[v] = read_json_or_null(path);
        free(path);
        pq_data_paths_free(&pv);
    }
    if (!rc) {
        json_t *out = json_object(), *sources = json_object();
        json_int_t tot[2][2] = {{0}};
        size_t i;
        json_t *name;
        json_array_foreach(json_object_get(cm, "order"), i, name) {
            const char *n = json_string_value(name);
            json_t *src = json_object_get(json_object_get(cm, "sources"), n), *row = json_object();
            json_object_set(row, "decoder", json_object_get(src, "decoder"));
            json_t *pk = json_array();
            size_t k;
            json_t *pe;
            json_array_foreach(json_object_get(src, "packages"), k, pe)
                json_array_append_new(pk, json_pack("{s:O, s:O}", "package", json_object_get(pe, "package"), "version",
                                                    json_object_get(pe, "version")));
            json_object_set_new(row, "packages", pk);
            for (int h = 0; h < 2; h++) {
                json_t *part = json_object_get(src, h ? "heldout" : "train");
                json_object_set_new(row, h ? "heldout" : "train",
                                    json_pack("{s:O, s:O, s:O}", "documents", json_object_get(part, "documents"), "words",
                                              json_object_get(part, "words"), "bytes", json_object_get(part, "bytes")));
            }
            if (json_object_get(src, "duplicates_dropped"))
                json_object_set(row, "duplicates_dropped", json_object_get(src, "duplicates_dropped"));
            for (int v = 0; v < 2; v++) {
                char key[32];
                snprintf(key, sizeof key, "tokens_%d", vocabs[v]);
                json_t *ss = sm[v] ? json_object_get(json_object_get(sm[v], "sources"), n) : NULL;
                if (!ss) { json_object_set_new(row, key, json_null()); continue; }
                json_object_set_new(row, key,
                                    json_pack("{s:O, s:O, s:O, s:O, s:O}", "train", json_object_get(ss, "train_tokens"),
                                              "heldout", json_object_get(ss, "heldout_tokens"), "weight",
                                              json_object_get(ss, "weight"), "mixture", json_object_get(ss, "mixture_tokens"),
                                              "mixture_share", json_object_get(ss, "mixture_share")));
                tot[v][0] += json_integer_value(json_object_get(ss, "train_tokens"));
                tot[v][1] += json_integer_value(json_object_get(ss, "heldout_tokens"));
            }
            json_object_set_new(sources, n, row);
        }
        json_object_set_new(out, "sources", sources);
        json_t *totals = json_object();
        json_object_set(totals, "train", json_object_get(json_object_get(cm, "totals"), "train"));
        json_object_set(totals, "heldout", json_object_get(json_object_get(cm, "totals"), "heldout"));
        for (int v = 0; v < 2; v++) {
            char key[32];
            snprintf(key, sizeof key, "tokens_%d", vocabs[v]);
            json_object_set_new(totals, key,
                                sm[v] ? json_pack("{s:I, s:I, s:O, s:O}", "train", tot[v][0], "heldout", tot[v][1], "mixture",
                                                  json_object_get(sm[v], "mixture_tokens"), "val",
                                                  json_object_get(sm[v], "val_tokens"))
                                      : json_null());
        }
        json_object_set_new(out, "totals", totals);
        json_object_set(out, "corpus_build_key", json_object_get(cm, "build_key"));
        char *text = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
        json_decref(out);
    }
    json_decref(cm), json_decref(sm[0]), json_decref(sm[1]);
    free(cm_path);
    pq_data_paths_free(&p);
    return rc;
}

static int do_check_leaks(args *a) {
    if (a->n_rest == 0) pq_usage_error("data", "check-leaks needs at least one task file");
    pq_data_paths p;
    pq_data_paths_init(&p, a->data_dir, a->vocab);
    long items = 0;
    int leaks = pq_data_check_leaks(p.tokenizer, p.shards_dir, a->n_rest, a->rest, &items);
    pq_data_paths_free(&p);
    if (leaks < 0) {
        fprintf(stderr, "pq data: %s\n", pq_error());
        return 1;
    }
    if (leaks > 0) {
        fprintf(stderr, "pq data: %d of %d files leak; first: %s\n", leaks, a->n_rest, pq_error());
        return 1;
    }
    printf("%ld items in %d files: no 13-word window appears in the training shards\n", items, a->n_rest);
    return 0;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || pq_wants_help(argc, argv)) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    args a;
    int rc;
    if (!strcmp(argv[1], "build")) {
        parse(argc, argv, &a, 0);
        rc = do_build(&a);
    } else if (!strcmp(argv[1], "stats")) {
        parse(argc, argv, &a, 0);
        if (a.sources) pq_usage_error("data", "--sources is a build flag: stats reads what --data-dir holds");
        rc = a.json ? do_stats_json(&a) : do_stats(&a);
    } else if (!strcmp(argv[1], "check-leaks")) {
        parse(argc, argv, &a, 1);
        if (a.sources) pq_usage_error("data", "--sources is a build flag: check-leaks reads what --data-dir holds");
        rc = do_check_leaks(&a);
    } else {
        pq_usage_error("data", "unknown subcommand '%s' (build, stats, check-leaks)", argv[1]);
    }
    free(a.rest);
    return rc;
}
