/* mixture.c — corpus documents, mixture weights, and the token shard build. */
#include "data/mixture.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/util.h"
#include "data/shards.h"

/* ---------------------------------------------------------------- documents */

pq_corpus_file *pq_docs_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pq_fail("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    pq_corpus_file *df = pq_calloc(1, sizeof *df);
    df->path = pq_strdup(path);
    int cap = 0, lineno = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        if (len == 0 || (len == 1 && line[0] == '\n')) continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        json_t *id = o ? json_object_get(o, "id") : NULL, *text = o ? json_object_get(o, "text") : NULL;
        if (!o || !json_is_string(id) || !json_is_string(text)) {
            if (!o) pq_fail("%s:%d: invalid JSON: %s", path, lineno, jerr.text);
            else pq_fail("%s:%d: a document needs string fields \"id\" and \"text\"", path, lineno);
            json_decref(o);
            free(line);
            fclose(f);
            pq_docs_free(df);
            return NULL;
        }
        if (df->n_docs == cap) df->docs = pq_realloc(df->docs, sizeof *df->docs * (cap = cap ? 2 * cap : 1024));
        pq_corpus_doc *d = &df->docs[df->n_docs++];
        d->id = pq_strdup(json_string_value(id));
        d->len = json_string_length(text);
        d->text = pq_malloc(d->len + 1);
        memcpy(d->text, json_string_value(text), d->len + 1);
        df->bytes += d->len;
        json_decref(o);
    }
    free(line);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        pq_docs_free(df);
        pq_fail("%s: read error", path);
        return NULL;
    }
    return df;
}

void pq_docs_free(pq_corpus_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_docs; i++) {
        free(f->docs[i].id);
        free(f->docs[i].text);
    }
    free(f->docs);
    free(f->path);
    free(f);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **pq_corpus_sources(const char *corpus_dir, int *n) {
    DIR *d = opendir(corpus_dir);
    if (!d) {
        pq_fail("%s: cannot open corpus directory: %s", corpus_dir, strerror(errno));
        return NULL;
    }
    int cnt = 0, cap = 16;
    char **names = pq_malloc(sizeof *names * cap);
    struct dirent *e;
    const char *suffix = ".train.jsonl";
    size_t ls = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= ls || strcmp(e->d_name + l - ls, suffix) != 0) continue;
        if (cnt == cap) names = pq_realloc(names, sizeof *names * (cap *= 2));
        names[cnt] = pq_strdup(e->d_name);
        names[cnt][l - ls] = 0;
        cnt++;
    }
    closedir(d);
    if (cnt == 0) {
        free(names);
        pq_fail("%s: no <source>.train.jsonl files; run 'pq data build' to build the corpus", corpus_dir);
        return NULL;
    }
    qsort(names, cnt, sizeof *names, cmp_str);
    *n = cnt;
    return names;
}

void pq_corpus_sources_free(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

json_t *pq_mixture_default(void) {
    return json_pack("{s:{}, s:f, s:{s:f}}", "weights", "default_weight", 1.0, "caps", "gcide", 0.33);
}

int pq_dir_swap(const char *src, const char *dst) {
    char old[4096];
    snprintf(old, sizeof old, "%s.old.%d", dst, (int)getpid());
    int had = pq_file_exists(dst);
    if (had && rename(dst, old) != 0) return pq_fail("%s: cannot move aside: %s", dst, strerror(errno));
    if (rename(src, dst) != 0) {
        int err = errno;
        if (had) rename(old, dst);
        return pq_fail("%s: cannot move into place: %s", dst, strerror(err));
    }
    if (had) pq_remove_tree(old);
    return 0;
}

/* ---------------------------------------------------------------- mixture text */

int pq_mixture_text_load(const char *corpus_dir, const json_t *mixture, pq_mixture_text *mt) {
    memset(mt, 0, sizeof *mt);
    char **names = pq_corpus_sources(corpus_dir, &mt->n);
    if (!names) return -1;
    mt->names = names;
    mt->files = pq_calloc(mt->n, sizeof *mt->files);
    mt->weights = pq_calloc(mt->n, sizeof *mt->weights);
    double *sizes = pq_calloc(mt->n, sizeof *sizes);
    for (int s = 0; s < mt->n; s++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.train.jsonl", corpus_dir, names[s]);
        mt->files[s] = pq_docs_load(path);
        if (!mt->files[s]) {
            free(sizes);
            pq_mixture_text_free(mt);
            return -1;
        }
        sizes[s] = (double)mt->files[s]->bytes;
    }
    pq_mixture_weights(mixture, mt->n, names, sizes, mt->weights);
    free(sizes);
    return 0;
}

void pq_mixture_text_free(pq_mixture_text *mt) {
    for (int s = 0; s < mt->n; s++) pq_docs_free(mt->files[s]);
    pq_corpus_sources_free(mt->names, mt->n);
    free(mt->files);
    free(mt->weights);
    memset(mt, 0, sizeof *mt);
}

uint64_t pq_mixture_text_train(const pq_mixture_text *mt, pq_bpe_trainer *t) {
    uint64_t bytes = 0;
    for (int s = 0; s < mt->n; s++)
        for (int d = 0; d < mt->files[s]->n_docs; d++) {
            const pq_corpus_doc *doc = &mt->files[s]->docs[d];
            int copies = pq_mixture_copies(mt->names[s], doc->id, mt->weights[s]);
            if (copies > 0) pq_bpe_trainer_add_n(t, doc->text, doc->len, copies);
            bytes += (uint64_t)copies * doc->len;
        }
    return bytes;
}

/* ---------------------------------------------------------------- encoding */

/* One source's encoded documents: tokens of doc i are tok[off[i] .. off[i+1]). */
typedef struct {
    char *name;
    int n_docs;
    uint64_t *off;
    int32_t *tok;
    size_t cap;
    char **ids;
    uint64_t bytes;
} encoded_source;

/* Loads and encodes one JSONL file; *encode_s accumulates the time spent encoding alone. */
static int encode_file(pq_bpe *bpe, const char *path, encoded_source *es, double *encode_s) {
    pq_corpus_file *df = pq_docs_load(path);
    if (!df) return -1;
    double t0 = pq_now();
    es->n_docs = df->n_docs;
    es->off = pq_malloc(sizeof *es->off * (df->n_docs + 1));
    es->ids = pq_malloc(sizeof *es->ids * (df->n_docs ? df->n_docs : 1));
    es->bytes = df->bytes;
    size_t n = 0;
    for (int i = 0; i < df->n_docs; i++) {
        es->off[i] = n;
        if (n + 1 > es->cap) {
            es->cap = PQ_MAX(2 * es->cap, n + 4096);
            es->tok = pq_realloc(es->tok, sizeof *es->tok * es->cap);
        }
        es->tok[n++] = PQ_BPE_BOS;
        pq_bpe_encode(bpe, df->docs[i].text, df->docs[i].len, &es->tok, &n, &es->cap);
        es->ids[i] = df->docs[i].id;
        df->docs[i].id = NULL;
    }
    es->off[df->n_docs] = n;
    *encode_s += pq_now() - t0;
    pq_docs_free(df);
    return 0;
}

static void encoded_free(encoded_source *es) {
    for (int i = 0; i < es->n_docs; i++) free(es->ids[i]);
    free(es->ids);
    free(es->off);
    free(es->tok);
    memset(es, 0, sizeof *es);
}

/* ---------------------------------------------------------------- the mixture */

static double source_weight(const json_t *mixture, const char *name) {
    json_t *w = json_object_get(json_object_get(mixture, "weights"), name);
    if (json_is_number(w)) return json_number_value(w);
    json_t *d = json_object_get(mixture, "default_weight");
    return json_is_number(d) ? json_number_value(d) : 1.0;
}

void pq_mixture_weights(const json_t *mixture, int n, char *const *names, const double *sizes, double *w) {
    for (int s = 0; s < n; s++) w[s] = source_weight(mixture, names[s]);
    /* lower each capped source's weight so its share of the mixture is at most its cap */
    json_t *caps = json_object_get(mixture, "caps");
    for (int pass = 0; pass < 4; pass++) /* a few passes settle several caps */
        for (int s = 0; s < n; s++) {
            json_t *c = json_object_get(caps, names[s]);
            if (!json_is_number(c)) continue;
            double cap = json_number_value(c), mine = w[s] * sizes[s], others = 0;
            for (int t = 0; t < n; t++)
                if (t != s) others += w[t] * sizes[t];
            if (mine > 0 && cap < 1 && mine > cap * (mine + others)) w[s] = cap / (1 - cap) * others / sizes[s];
        }
}

static uint64_t doc_hash(const char *source, const char *id) {
    size_t ls = strlen(source), li = strlen(id);
    char *key = pq_malloc(ls + li + 2);
    memcpy(key, source, ls);
    key[ls] = '/';
    memcpy(key + ls + 1, id, li + 1);
    uint64_t h = pq_fnv1a64(key, ls + li + 1);
    free(key);
    return h;
}

int pq_mixture_copies(const char *source, const char *id, double w) {
    double whole = floor(w), frac = w - whole;
    uint64_t h = pq_mix64(doc_hash(source, id)); /* FNV-1a alone barely mixes its last bytes into the high bits */
    double u = (double)(h >> 11) * 0x1.0p-53;
    return (int)whole + (u < frac);
}

/* ---------------------------------------------------------------- the build */

typedef struct {
    int source, doc;
} doc_ref;

static json_t *shard_entry(const char *dir, const char *name) {
    char *p = pq_path_join(dir, name);
    pq_shard *s = pq_shard_open(p);
    free(p);
    if (!s) return NULL;
    json_t *e = json_pack("{s:s, s:I, s:I, s:s}", "file", name, "tokens", (json_int_t)s->n_tokens, "docs",
                          (json_int_t)s->n_docs, "payload_sha256", s->payload_hash);
    pq_shard_close(s);
    return e;
}

int pq_shards_build(const char *corpus_dir, const char *out_dir, pq_bpe *bpe, const json_t *mixture, uint64_t seed,
                    json_t **stats, int verbose) {
    int ns;
    char **names = pq_corpus_sources(corpus_dir, &ns);
    if (!names) return -1;
    char tmp_dir[4096];
    snprintf(tmp_dir, sizeof tmp_dir, "%s.tmp.%d", out_dir, (int)getpid());
    pq_remove_tree(tmp_dir);
    if (pq_mkdirs(tmp_dir) != 0) {
        pq_corpus_sources_free(names, ns);
        return -1;
    }
    encoded_source *src = pq_calloc(ns, sizeof *src), *held = pq_calloc(ns, sizeof *held);
    double *w = pq_calloc(ns, sizeof *w);
    int rc = -1;
    uint32_t V = (uint32_t)pq_bpe_vocab_size(bpe);
    const char *vh = pq_bpe_hash(bpe);
    pq_shard_writer *wr = NULL;
    json_t *train_files = json_array(), *sources = json_object();
    doc_ref *refs = NULL;
    uint32_t *perm = NULL;
    double t0 = pq_now(), t_encode = 0;
    uint64_t bytes_in = 0;

    pq_progress prog;
    if (verbose) pq_progress_begin(&prog, "encode", 2 * ns, "source");
    for (int s = 0; s < ns; s++) {
        char path[4096];
        src[s].name = names[s];
        held[s].name = names[s];
        snprintf(path, sizeof path, "%s/%s.train.jsonl", corpus_dir, names[s]);
        if (encode_file(bpe, path, &src[s], &t_encode) != 0) goto done;
        if (verbose) pq_progress_update(&prog, 2 * s + 1, 2 * s + 1, "%s", names[s]);
        snprintf(path, sizeof path, "%s/%s.heldout.jsonl", corpus_dir, names[s]);
        if (pq_file_exists(path) && encode_file(bpe, path, &held[s], &t_encode) != 0) goto done;
        if (verbose) pq_progress_update(&prog, 2 * s + 2, 2 * s + 2, "%s", names[s]);
        bytes_in += src[s].bytes + held[s].bytes;
        w[s] = source_weight(mixture, names[s]);
        if (w[s] < 0 || !isfinite(w[s])) {
            pq_fail("mixture: weight of '%s' must be a finite number >= 0", names[s]);
            goto done;
        }
    }
    if (verbose) pq_progress_end(&prog);
    double t_enc = pq_now() - t0;
    double *sizes = pq_malloc(sizeof *sizes * ns);
    /* caps on bytes, as for the tokenizer: the training text is then the same for every vocab */
    for (int s = 0; s < ns; s++) sizes[s] = (double)src[s].bytes;
    pq_mixture_weights(mixture, ns, names, sizes, w);
    free(sizes);

    /* the selected documents, then a seeded shuffle so every range mixes sources */
    size_t n_refs = 0, cap_refs = 0;
    uint64_t *mix_tokens = pq_calloc(ns, sizeof *mix_tokens), *mix_docs = pq_calloc(ns, sizeof *mix_docs);
    for (int s = 0; s < ns; s++)
        for (int d = 0; d < src[s].n_docs; d++) {
            int copies = pq_mixture_copies(names[s], src[s].ids[d], w[s]);
            for (int c = 0; c < copies; c++) {
                if (n_refs == cap_refs) refs = pq_realloc(refs, sizeof *refs * (cap_refs = cap_refs ? 2 * cap_refs : 4096));
                refs[n_refs++] = (doc_ref){s, d};
                mix_tokens[s] += src[s].off[d + 1] - src[s].off[d];
                mix_docs[s]++;
            }
        }
    if (n_refs == 0 || n_refs > UINT32_MAX) {
        free(mix_tokens), free(mix_docs);
        pq_fail("%s: the mixture selects %zu training documents", corpus_dir, n_refs);
        goto done;
    }
    perm = pq_malloc(sizeof *perm * n_refs);
    pq_rng_permutation(seed, pq_rng_stream_id("shards", 0), perm, (uint32_t)n_refs);

    int shard_no = 0;
    char name[64];
    for (size_t k = 0; k < n_refs; k++) {
        doc_ref r = refs[perm[k]];
        if (!wr) {
            snprintf(name, sizeof name, "train_%03d.bin", shard_no);
            char *p = pq_path_join(tmp_dir, name);
            wr = pq_shard_writer_open(p, V, vh);
            free(p);
            if (!wr) {
                free(mix_tokens), free(mix_docs);
                goto done;
            }
        }
        const encoded_source *es = &src[r.source];
        if (pq_shard_writer_add_doc(wr, es->tok + es->off[r.doc], es->off[r.doc + 1] - es->off[r.doc]) != 0) {
            free(mix_tokens), free(mix_docs);
            goto done;
        }
        if (pq_shard_writer_tokens(wr) >= PQ_SHARD_TRAIN_TOKENS || k + 1 == n_refs) {
            int c = pq_shard_writer_commit(wr);
            wr = NULL;
            json_t *e = c == 0 ? shard_entry(tmp_dir, name) : NULL;
            if (!e) {
                free(mix_tokens), free(mix_docs);
                goto done;
            }
            json_array_append_new(train_files, e);
            shard_no++;
        }
    }

    /* validation: held-out documents in the mixture's proportions (each at most once),
     * shuffled like the training documents, so any prefix of val.bin (the trainer
     * evaluates on the first eval_tokens) samples every source */
    char *vp = pq_path_join(tmp_dir, "val.bin");
    wr = pq_shard_writer_open(vp, V, vh);
    free(vp);
    if (!wr) {
        free(mix_tokens), free(mix_docs);
        goto done;
    }
    uint64_t *val_tokens = pq_calloc(ns, sizeof *val_tokens), *val_docs = pq_calloc(ns, sizeof *val_docs);
    size_t n_val = 0;
    doc_ref *vrefs = NULL;
    for (int s = 0; s < ns; s++)
        for (int d = 0; d < held[s].n_docs; d++)
            if (pq_mixture_copies(names[s], held[s].ids[d], w[s]) > 0) {
                if ((n_val & (n_val - 1)) == 0) vrefs = pq_realloc(vrefs, sizeof *vrefs * (n_val ? 2 * n_val : 1));
                vrefs[n_val++] = (doc_ref){s, d};
            }
    uint32_t *vperm = pq_malloc(sizeof *vperm * (n_val ? n_val : 1));
    if (n_val) pq_rng_permutation(seed, pq_rng_stream_id("shards/val", 0), vperm, (uint32_t)n_val);
    for (size_t k = 0; k < n_val; k++) {
        doc_ref vr = vrefs[vperm[k]];
        const encoded_source *es = &held[vr.source];
        val_tokens[vr.source] += es->off[vr.doc + 1] - es->off[vr.doc];
        val_docs[vr.source]++;
        if (pq_shard_writer_add_doc(wr, es->tok + es->off[vr.doc], es->off[vr.doc + 1] - es->off[vr.doc]) != 0) {
            free(mix_tokens), free(mix_docs), free(val_tokens), free(val_docs), free(vrefs), free(vperm);
            goto done;
        }
    }
    free(vrefs), free(vperm);
    if (pq_shard_writer_tokens(wr) == 0) {
        free(val_tokens), free(val_docs);
        free(mix_tokens), free(mix_docs);
        pq_fail("%s: no held-out documents for val.bin", corpus_dir);
        goto done;
    }
    int c = pq_shard_writer_commit(wr);
    wr = NULL;
    json_t *val_entry = c == 0 ? shard_entry(tmp_dir, "val.bin") : NULL;
    if (!val_entry) {
        free(mix_tokens), free(mix_docs), free(val_tokens), free(val_docs);
        goto done;
    }

    uint64_t all_mix = 0, all_train = 0, all_held = 0;
    for (int s = 0; s < ns; s++) {
        all_mix += mix_tokens[s];
        all_train += src[s].off[src[s].n_docs];
        all_held += val_tokens[s];
    }
    for (int s = 0; s < ns; s++) {
        uint64_t tt = src[s].off[src[s].n_docs], ht = held[s].n_docs ? held[s].off[held[s].n_docs] : 0;
        json_object_set_new(
            sources, names[s],
            json_pack("{s:I, s:I, s:I, s:f, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:f}", "train_docs", (json_int_t)src[s].n_docs,
                      "train_bytes", (json_int_t)src[s].bytes, "train_tokens", (json_int_t)tt, "weight", w[s],
                      "mixture_docs", (json_int_t)mix_docs[s], "mixture_tokens", (json_int_t)mix_tokens[s],
                      "mixture_share", all_mix ? (double)mix_tokens[s] / (double)all_mix : 0.0, "heldout_docs",
                      (json_int_t)held[s].n_docs, "heldout_bytes", (json_int_t)held[s].bytes, "heldout_tokens",
                      (json_int_t)ht, "val_docs", (json_int_t)val_docs[s], "val_tokens", (json_int_t)val_tokens[s],
                      "bytes_per_token", tt ? (double)src[s].bytes / (double)tt : 0.0));
    }
    free(mix_tokens), free(mix_docs), free(val_tokens), free(val_docs);
    *stats = json_pack("{s:i, s:s, s:I, s:O, s:o, s:I, s:I, s:I, s:o, s:o, s:f, s:f}", "vocab_size", (int)V,
                       "tokenizer_sha256", vh, "seed", (json_int_t)seed, "mixture", mixture, "sources", sources,
                       "train_tokens_unweighted", (json_int_t)all_train, "mixture_tokens", (json_int_t)all_mix,
                       "val_tokens", (json_int_t)all_held, "train_shards", train_files, "val_shard", val_entry,
                       "load_and_encode_seconds", t_enc, "encode_mb_per_s", t_encode > 0 ? (double)bytes_in / 1e6 / t_encode : 0.0);
    sources = train_files = NULL;
    if (pq_dir_swap(tmp_dir, out_dir) != 0) {
        json_decref(*stats);
        *stats = NULL;
        goto done;
    }
    rc = 0;
done:
    if (wr) pq_shard_writer_abort(wr);
    if (rc != 0) pq_remove_tree(tmp_dir);
    json_decref(train_files);
    json_decref(sources);
    for (int s = 0; s < ns; s++) {
        encoded_free(&src[s]);
        encoded_free(&held[s]);
    }
    free(src), free(held), free(w), free(refs), free(perm);
    pq_corpus_sources_free(names, ns);
    return rc;
}
