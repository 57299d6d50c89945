/* corpus.c — recipes, fetching and verifying Debian packages, and writing the
 * split corpus with its manifest (see data/corpus.h for the formats). */
#include "data/corpus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/manifest.h"
#include "base/util.h"
#include "data/sources/source.h"

/* ---- decoder registry ---------------------------------------------------------- */

static const struct {
    const char *name;
    pq_decoder_fn fn;
} decoders[] = {
    {"kjv", pq_decode_kjv},         {"web", pq_decode_web},         {"austen", pq_decode_austen},
    {"gcide", pq_decode_gcide},     {"devil", pq_decode_devil},     {"wordnet", pq_decode_wordnet},
    {"fortunes", pq_decode_fortunes}, {"gutenberg", pq_decode_gutenberg}, {"jargon", pq_decode_jargon},
    {"html", pq_decode_html},       {"rst", pq_decode_rst},         {"pod", pq_decode_pod},
    {"man", pq_decode_man},         {"info", pq_decode_info},       {"commentary", pq_decode_commentary},
    {"dictd", pq_decode_dictd},     {"vimhelp", pq_decode_vimhelp},
};

pq_decoder_fn pq_decoder_find(const char *name) {
    for (size_t i = 0; i < PQ_COUNT(decoders); i++)
        if (!strcmp(decoders[i].name, name)) return decoders[i].fn;
    return NULL;
}

/* ---- recipes ------------------------------------------------------------------- */

/* $PQ_DATASETS, else ./datasets, else the datasets/ of the checkout this pq was
 * built in (pq is build/pq there), so pq also works from another folder. */
const char *pq_corpus_recipes_dir(void) {
    static char found[4096];
    const char *d = getenv("PQ_DATASETS");
    if (d && *d) return d;
    if (pq_file_exists("datasets/corpus.json")) return "datasets";
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        const char *tries[] = {"%s/../datasets", "%s/datasets"};
        for (size_t i = 0; i < PQ_COUNT(tries); i++) {
            char probe[4200];
            snprintf(found, sizeof found, tries[i], exe);
            snprintf(probe, sizeof probe, "%s/corpus.json", found);
            if (pq_file_exists(probe)) return found;
        }
    }
    return "datasets";
}

static int check_hex64(const char *s) {
    if (!s || strlen(s) != 64) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
    return 1;
}

/* A package's "files_list": a file beside the recipe in sha256sum format
 * ("<sha256>  <path>" per line), for packages whose recipe uses thousands of
 * files. Its entries are appended to the package's "files" in memory, so the
 * build key covers them like files listed in the recipe. */
static int files_list_load(const char *dir, json_t *pkg) {
    const char *name = json_string_value(json_object_get(pkg, "files_list"));
    if (!name) return 0;
    if (strchr(name, '/') || !*name) return pq_fail("\"files_list\" must be a file name beside the recipe");
    char *path = pq_path_join(dir, name);
    size_t n;
    char *text = pq_read_file(path, &n);
    if (!text) { free(path); return -1; }
    json_t *files = json_object_get(pkg, "files");
    if (!json_is_array(files)) json_object_set_new(pkg, "files", files = json_array());
    int rc = 0;
    long line = 0;
    for (char *p = text; p < text + n && !rc; line++) {
        char *e = memchr(p, '\n', (size_t)(text + n - p));
        if (!e) { rc = pq_fail("%s:%ld: last line has no newline (truncated?)", path, line + 1); break; }
        *e = 0;
        if (e - p < 67 || p[64] != ' ' || p[65] != ' ') rc = pq_fail("%s:%ld: not \"<sha256>  <path>\"", path, line + 1);
        else {
            p[64] = 0;
            json_array_append_new(files, json_pack("{s:s, s:s}", "path", p + 66, "sha256", p));
        }
        p = e + 1;
    }
    free(text), free(path);
    return rc;
}

/* Loads and validates one recipe; NULL + pq_error() naming the recipe file. */
static json_t *recipe_load(const char *dir, const char *name) {
    char file[512];
    snprintf(file, sizeof file, "%s.json", name);
    char *path = pq_path_join(dir, file);
    json_t *r = pq_json_read(path);
    if (!r) { free(path); return NULL; }
    const char *why = NULL;
    json_t *pkgs = json_object_get(r, "packages");
    if (!json_is_string(json_object_get(r, "name")) || strcmp(json_string_value(json_object_get(r, "name")), name))
        why = "\"name\" must equal the file name";
    else if (!json_is_string(json_object_get(r, "decoder")) || !pq_decoder_find(json_string_value(json_object_get(r, "decoder"))))
        why = "\"decoder\" must name a known decoder";
    else if (!json_is_array(pkgs) || !json_array_size(pkgs))
        why = "\"packages\" must be a non-empty array";
    for (size_t i = 0; !why && i < json_array_size(pkgs); i++) {
        json_t *p = json_array_get(pkgs, i);
        if (files_list_load(dir, p)) {
            pq_fail_prefix("%s", path);
            json_decref(r), free(path);
            return NULL;
        }
        json_t *files = json_object_get(p, "files");
        if (!json_is_string(json_object_get(p, "package")) || !json_is_string(json_object_get(p, "version")) ||
            !json_is_string(json_object_get(p, "arch")))
            why = "each package needs \"package\", \"version\" and \"arch\"";
        else if (!check_hex64(json_string_value(json_object_get(p, "deb_sha256"))))
            why = "each package needs \"deb_sha256\" (64 lower-case hex digits)";
        else if (!json_is_array(files) || !json_array_size(files))
            why = "each package needs a non-empty \"files\" array";
        for (size_t k = 0; !why && k < json_array_size(files); k++) {
            json_t *f = json_array_get(files, k);
            const char *fp = json_string_value(json_object_get(f, "path"));
            if (!fp || fp[0] == '/' || strstr(fp, ".."))
                why = "each file needs a relative \"path\" without \"..\"";
            else if (!check_hex64(json_string_value(json_object_get(f, "sha256"))))
                why = "each file needs \"sha256\" (64 lower-case hex digits)";
        }
    }
    if (why) {
        pq_fail("%s: %s", path, why);
        json_decref(r);
        r = NULL;
    }
    free(path);
    return r;
}

/* The file that lists a selection's sources: corpus.json for the default
 * (NULL), corpus-<selection>.json for an opt-in one such as "next". */
static char *selection_path(const char *dir, const char *selection) {
    if (!selection) return pq_path_join(dir, "corpus.json");
    char file[300];
    snprintf(file, sizeof file, "corpus-%s.json", selection);
    return pq_path_join(dir, file);
}

int pq_corpus_selection_ok(const char *selection) {
    if (!selection) return 1;
    size_t n = strlen(selection);
    if (!n || n > 64) return 0;
    for (const char *p = selection; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) return 0;
    return 1;
}

/* corpus.json (or a selection's corpus-<name>.json): {"sources": [names in
 * build order]}; all recipes loaded. */
static json_t *recipes_load(const char *dir, const char *selection, json_t **order_out) {
    if (!pq_corpus_selection_ok(selection)) {
        pq_fail("source selection '%s': must be 1-64 of a-z, 0-9 and '-'", selection);
        return NULL;
    }
    char *path = selection_path(dir, selection);
    json_t *c = pq_json_read(path);
    if (!c) { free(path); return NULL; }
    json_t *order = json_object_get(c, "sources");
    if (!json_is_array(order) || !json_array_size(order)) {
        pq_fail("%s: \"sources\" must be a non-empty array of recipe names", path);
        json_decref(c), free(path);
        return NULL;
    }
    json_t *all = json_object();
    for (size_t i = 0; i < json_array_size(order); i++) {
        const char *name = json_string_value(json_array_get(order, i));
        if (!name || !*name || strchr(name, '/')) {
            pq_fail("%s: source %zu is not a plain name", path, i);
            json_decref(all), json_decref(c), free(path);
            return NULL;
        }
        json_t *r = recipe_load(dir, name);
        if (!r) { json_decref(all), json_decref(c), free(path); return NULL; }
        json_object_set_new(all, name, r);
    }
    *order_out = json_incref(order);
    json_decref(c);
    free(path);
    return all;
}

/* sha256 of the canonical {format, order, recipes}: what the corpus depends on. */
static void build_key(const json_t *order, const json_t *recipes, char hex[PQ_SHA256_HEX]) {
    json_t *k = json_pack("{s:i, s:O, s:O}", "format", PQ_CORPUS_FORMAT, "order", order, "recipes", recipes);
    pq_sha256_json(k, hex);
    json_decref(k);
}

/* ---- running tools ----------------------------------------------------------------- */

/* Runs argv with cwd (may be NULL); stdout to /dev/null, stderr too unless
 * verbose. Returns the exit status, or -1 if it could not run. */
static int run_tool(const char *cwd, char *const argv[], int verbose) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (cwd && chdir(cwd)) _exit(126);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            if (!verbose) dup2(null, 2);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int verify_sha(const char *path, const char *want, const char *what) {
    char got[PQ_SHA256_HEX];
    if (pq_sha256_file(path, got)) return -1;
    if (strcmp(got, want))
        return pq_fail("%s: SHA-256 mismatch (%s): expected %s, got %s", path, what, want, got);
    return 0;
}

/* apt-get's file name: pkg_version_arch.deb with ':' as "%3a". */
static char *deb_file_name(const char *pkg, const char *version, const char *arch) {
    pq_buf b = {0};
    pq_buf_printf(&b, "%s_", pkg);
    for (const char *p = version; *p; p++) {
        if (*p == ':') pq_buf_puts(&b, "%3a");
        else pq_buf_putc(&b, *p);
    }
    pq_buf_printf(&b, "_%s.deb", arch);
    return pq_buf_cstr(&b);
}

/* apt-get downloads into debs/download.tmp.<pid>/ (its working directory),
 * and only a file that matches its pinned hash is renamed into debs/: a failed
 * download (a full disk leaves a 0-byte .deb) never sits where the next build
 * would take it for the cached package. */
static int download_deb(const char *debs, const char *name, const char *spec, const char *sha, const char *what,
                        int verbose) {
    char tmp_name[64];
    snprintf(tmp_name, sizeof tmp_name, "download.tmp.%ld", (long)getpid());
    char *tmp = pq_path_join(debs, tmp_name), *got = pq_path_join(tmp, name), *path = pq_path_join(debs, name);
    int rc = 0;
    pq_remove_stale_tmp(debs); /* what a killed build left */
    if ((pq_file_exists(tmp) && pq_remove_tree(tmp)) || pq_mkdirs(tmp)) rc = -1;
    if (rc == 0) {
        if (verbose) fprintf(stderr, "corpus: apt-get download %s\n", spec);
        /* As root, apt drops to the _apt user, who may not be able to write here;
         * downloading as root into our own folder is what we want anyway. */
        char *argv_root[] = {"apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", (char *)spec, NULL};
        char *argv_user[] = {"apt-get", "download", "-q", (char *)spec, NULL};
        int st = run_tool(tmp, geteuid() == 0 ? argv_root : argv_user, verbose);
        if (st || !pq_file_exists(got))
            rc = pq_fail("%s: missing, and `apt-get download %s` failed (exit %d): run apt-get update; if the pinned "
                         "version has left the mirror (point releases replace +debNuN versions), fetch that exact file from "
                         "snapshot.debian.org into %s (its SHA-256 is checked), or re-pin with datasets/pin.py",
                         path, spec, st, debs);
    }
    if (rc == 0 && verify_sha(got, sha, what)) rc = pq_fail_prefix("downloaded");
    if (rc == 0 && rename(got, path) != 0) rc = pq_fail("%s: cannot move the download into place: %s", path, strerror(errno));
    if (pq_file_exists(tmp)) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", pq_error());
        pq_remove_tree(tmp);
        if (rc) pq_fail("%s", keep);
    }
    free(tmp), free(got), free(path);
    return rc;
}

/* The verified .deb of one package entry; returns its path (caller frees). A
 * cached .deb that does not match its pinned hash (an interrupted or failed
 * download of an older pq) is deleted and fetched once more. */
static char *fetch_deb(const char *debs, const json_t *p, int verbose) {
    const char *pkg = json_string_value(json_object_get(p, "package"));
    const char *ver = json_string_value(json_object_get(p, "version"));
    const char *arch = json_string_value(json_object_get(p, "arch"));
    const char *sha = json_string_value(json_object_get(p, "deb_sha256"));
    char *name = deb_file_name(pkg, ver, arch);
    char *path = pq_path_join(debs, name);
    char spec[512], what[300];
    snprintf(spec, sizeof spec, "%s=%s", pkg, ver);
    snprintf(what, sizeof what, "package %s %s", pkg, ver);
    int rc = 0;
    if (pq_file_exists(path)) {
        if (verify_sha(path, sha, what) == 0) goto done;
        char mismatch[1024];
        snprintf(mismatch, sizeof mismatch, "%s", pq_error());
        if (verbose) fprintf(stderr, "corpus: %s; deleting it and fetching it again\n", mismatch);
        if (unlink(path) != 0) {
            rc = pq_fail("%s; cannot delete it: %s", mismatch, strerror(errno));
            goto done;
        }
        rc = download_deb(debs, name, spec, sha, what, verbose);
        if (rc) pq_fail_prefix("%s; deleted it, but fetching it again failed", mismatch);
    } else {
        rc = pq_mkdirs(debs) || download_deb(debs, name, spec, sha, what, verbose) ? -1 : 0;
    }
done:
    free(name);
    if (rc) {
        free(path);
        return NULL;
    }
    return path;
}

static int files_ok(const char *dir, const json_t *files) {
    for (size_t k = 0; k < json_array_size(files); k++) {
        json_t *f = json_array_get(files, k);
        char *fp = pq_path_join(dir, json_string_value(json_object_get(f, "path")));
        char got[PQ_SHA256_HEX];
        int ok = pq_file_exists(fp) && !pq_sha256_file(fp, got) && !strcmp(got, json_string_value(json_object_get(f, "sha256")));
        free(fp);
        if (!ok) return 0;
    }
    return 1;
}

/* Extracts the .deb (unless already extracted and verified) and checks every
 * named file; returns the extraction folder (caller frees). */
static char *extract_deb(const char *extract_root, const char *deb, const json_t *p, int verbose) {
    const char *pkg = json_string_value(json_object_get(p, "package"));
    const char *ver = json_string_value(json_object_get(p, "version"));
    json_t *files = json_object_get(p, "files");
    pq_buf b = {0};
    pq_buf_printf(&b, "%s_", pkg);
    for (const char *c = ver; *c; c++) pq_buf_putc(&b, *c == ':' ? '_' : *c);
    char *dir = pq_path_join(extract_root, pq_buf_cstr(&b));
    pq_buf_free(&b);
    if (pq_file_exists(dir) && files_ok(dir, files)) return dir;
    char *tmp = pq_malloc(strlen(dir) + 16);
    sprintf(tmp, "%s.tmp", dir);
    if ((pq_file_exists(tmp) && pq_remove_tree(tmp)) || pq_mkdirs(tmp)) goto fail;
    if (verbose) fprintf(stderr, "corpus: dpkg-deb -x %s\n", deb);
    char *argv[] = {"dpkg-deb", "-x", (char *)deb, tmp, NULL};
    int st = run_tool(NULL, argv, 1);
    if (st) { pq_fail("%s: `dpkg-deb -x` failed (exit %d): truncated or not a Debian package?", deb, st); goto fail; }
    for (size_t k = 0; k < json_array_size(files); k++) {
        json_t *f = json_array_get(files, k);
        char *fp = pq_path_join(tmp, json_string_value(json_object_get(f, "path")));
        char what[600];
        snprintf(what, sizeof what, "file of %s", deb);
        int rc = pq_file_exists(fp) ? verify_sha(fp, json_string_value(json_object_get(f, "sha256")), what)
                                    : pq_fail("%s: not in %s (wrong path in the recipe?)", fp, deb);
        free(fp);
        if (rc) goto fail;
    }
    if ((pq_file_exists(dir) && pq_remove_tree(dir)) || rename(tmp, dir)) {
        pq_fail("%s: cannot move extracted files into place: %s", dir, strerror(errno));
        goto fail;
    }
    free(tmp);
    return dir;
fail:
    if (pq_file_exists(tmp)) {
        char keep[1024];
        snprintf(keep, sizeof keep, "%s", pq_error());
        pq_remove_tree(tmp);
        pq_fail("%s", keep);
    }
    free(tmp), free(dir);
    return NULL;
}

/* ---- the writer sink ------------------------------------------------------------------- */

typedef struct {
    int64_t docs, words, bytes;
} part_counts;

/* ---- duplicate removal across the whole corpus --------------------------------------- */

/* Paragraphs (lines of a document) of at least DEDUP_MIN_WORDS words are
 * compared after normalisation (ASCII letters and digits lower-cased, every
 * other run of bytes one separator): a paragraph already seen anywhere earlier
 * in the build (sources in corpus.json order, documents in decoder order) is
 * dropped, and a document that loses at least half its words that way is
 * dropped whole (the same page in another rendering or version). Licence
 * texts, colophons and pages shipped twice go; short lines (headings, "See
 * also") stay. */
#define DEDUP_MIN_WORDS 8

typedef struct {
    uint64_t *slots; /* 0 = empty */
    size_t cap, count;
} hashset64;

/* 1 if h was added, 0 if it was there. */
static int hs_add(hashset64 *s, uint64_t h) {
    if (!h) h = 1;
    if (2 * (s->count + 1) > s->cap) {
        size_t ncap = s->cap ? 2 * s->cap : 1 << 16;
        uint64_t *ns = pq_calloc(ncap, sizeof *ns);
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i]) {
                size_t j = s->slots[i] & (ncap - 1);
                while (ns[j]) j = (j + 1) & (ncap - 1);
                ns[j] = s->slots[i];
            }
        free(s->slots);
        s->slots = ns, s->cap = ncap;
    }
    size_t j = h & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == h) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->slots[j] = h;
    s->count++;
    return 1;
}

static int hs_has(const hashset64 *s, uint64_t h) {
    if (!h) h = 1;
    if (!s->cap) return 0;
    size_t j = h & (s->cap - 1);
    while (s->slots[j]) {
        if (s->slots[j] == h) return 1;
        j = (j + 1) & (s->cap - 1);
    }
    return 0;
}

/* Normalised hash of one paragraph and its word count. */
static uint64_t para_hash(const char *p, size_t n, int *words) {
    uint64_t h = 0xcbf29ce484222325ull;
    int w = 0, in_word = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c >= 0x80;
        if (alnum) {
            if (!in_word) {
                if (w) h = (h ^ ' ') * 0x100000001b3ull;
                w++;
            }
            h = (h ^ (uint64_t)((c >= 'A' && c <= 'Z') ? c + 32 : c)) * 0x100000001b3ull;
        }
        in_word = alnum;
    }
    *words = w;
    return h;
}

struct pq_dedup {
    hashset64 seen;
    pq_buf kept;
};

pq_dedup *pq_dedup_new(void) { return pq_calloc(1, sizeof(pq_dedup)); }

void pq_dedup_free(pq_dedup *d) {
    if (!d) return;
    free(d->seen.slots);
    pq_buf_free(&d->kept);
    free(d);
}

const char *pq_dedup_kept(pq_dedup *d, size_t *n) {
    *n = d->kept.len;
    return pq_buf_cstr(&d->kept);
}

int pq_dedup_doc(pq_dedup *d, const char *text, size_t n, pq_dedup_counts *c) {
    int total = 0, dup = 0;
    for (size_t i = 0; i < n;) {
        const char *e = memchr(text + i, '\n', n - i);
        size_t len = e ? (size_t)(e - text) - i : n - i;
        int w;
        uint64_t h = para_hash(text + i, len, &w);
        total += w;
        if (w >= DEDUP_MIN_WORDS && hs_has(&d->seen, h)) dup += w;
        i += len + 1;
    }
    if (dup && 2 * dup >= total) {
        c->docs++, c->words += total;
        return 0;
    }
    pq_buf_clear(&d->kept);
    for (size_t i = 0; i < n;) {
        const char *e = memchr(text + i, '\n', n - i);
        size_t len = e ? (size_t)(e - text) - i : n - i;
        int w;
        uint64_t h = para_hash(text + i, len, &w);
        if (w < DEDUP_MIN_WORDS || hs_add(&d->seen, h)) {
            if (d->kept.len) pq_buf_putc(&d->kept, '\n');
            pq_buf_put(&d->kept, text + i, len);
        } else {
            c->paragraphs++, c->words += w;
        }
        i += len + 1;
    }
    return 1;
}

typedef struct {
    const char *source;
    pq_atomic_file train, heldout;
    part_counts c[2]; /* 0 train, 1 held-out */
    pq_dedup *dedup;
    pq_dedup_counts dropped;
} source_out;

static int write_doc(void *vctx, const char *id, const char *text, size_t n, int heldout) {
    source_out *o = vctx;
    if (!pq_dedup_doc(o->dedup, text, n, &o->dropped)) return 0;
    text = pq_dedup_kept(o->dedup, &n);
    if (!n) return 0;
    json_t *t = json_stringn(text, n);
    if (!t) return pq_fail("%s: document %s is not valid UTF-8 (decoder bug)", o->source, id);
    json_t *d = json_object();
    json_object_set_new(d, "id", json_string(id));
    json_object_set_new(d, "text", t);
    FILE *f = heldout ? o->heldout.f : o->train.f;
    int rc = json_dumpf(d, f, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    if (rc || fputc('\n', f) == EOF) return pq_fail("%s: write failed: %s", heldout ? o->heldout.tmp_path : o->train.tmp_path, strerror(errno));
    part_counts *c = &o->c[heldout ? 1 : 0];
    c->docs++;
    c->words += pq_text_words(text, n);
    c->bytes += (int64_t)n;
    return 0;
}

static json_t *counts_json(const part_counts *c) {
    return json_pack("{s:I, s:I, s:I}", "documents", (json_int_t)c->docs, "words", (json_int_t)c->words, "bytes",
                     (json_int_t)c->bytes);
}

/* ---- the build -------------------------------------------------------------------------- */

static char *corpus_path(const char *data_dir, const char *name) {
    char *dir = pq_path_join(data_dir, "corpus");
    char *p = pq_path_join(dir, name);
    free(dir);
    return p;
}

int pq_corpus_build_key(const char *recipes_dir, const char *selection, char hex[65]) {
    json_t *order = NULL, *recipes = recipes_load(recipes_dir, selection, &order);
    if (!recipes) return -1;
    build_key(order, recipes, hex);
    json_decref(order), json_decref(recipes);
    return 0;
}

int pq_corpus_up_to_date(const char *recipes_dir, const char *data_dir) {
    return pq_corpus_up_to_date_sel(recipes_dir, NULL, data_dir);
}

int pq_corpus_up_to_date_sel(const char *recipes_dir, const char *selection, const char *data_dir) {
    char key[PQ_SHA256_HEX];
    if (pq_corpus_build_key(recipes_dir, selection, key)) return 0;
    char *mpath = corpus_path(data_dir, "manifest.json");
    int ok = 0;
    if (pq_file_exists(mpath)) {
        json_t *m = pq_json_read(mpath);
        const char *have = m ? json_string_value(json_object_get(m, "build_key")) : NULL;
        ok = have && !strcmp(have, key);
        /* every output must be there with the size the manifest recorded */
        json_t *outs = m ? json_object_get(m, "outputs") : NULL;
        const char *fname;
        json_t *size;
        ok = ok && json_is_object(outs);
        if (ok) json_object_foreach(outs, fname, size) {
            char *p = corpus_path(data_dir, fname);
            struct stat st;
            if (stat(p, &st) || st.st_size != (off_t)json_integer_value(size)) ok = 0;
            free(p);
        }
        json_decref(m);
    }
    free(mpath);
    return ok;
}

/* Deletes the .train/.heldout.jsonl of sources no longer in corpus.json: the
 * mixture reads every such file in the folder, so a source dropped from the
 * recipes (or left out of a smaller build) must not linger there. */
static int remove_other_sources(const char *data_dir, const json_t *order) {
    char *dir = pq_path_join(data_dir, "corpus");
    DIR *d = opendir(dir);
    int rc = 0;
    struct dirent *e;
    while (d && !rc && (e = readdir(d))) {
        const char *suffixes[] = {".train.jsonl", ".heldout.jsonl"};
        for (size_t k = 0; k < PQ_COUNT(suffixes); k++) {
            size_t nl = strlen(e->d_name), sl = strlen(suffixes[k]);
            if (nl <= sl || strcmp(e->d_name + nl - sl, suffixes[k])) continue;
            int known = 0;
            for (size_t i = 0; i < json_array_size(order); i++) {
                const char *n = json_string_value(json_array_get(order, i));
                if (strlen(n) == nl - sl && !strncmp(n, e->d_name, nl - sl)) known = 1;
            }
            char *p = pq_path_join(dir, e->d_name);
            if (!known && unlink(p)) rc = pq_fail("%s: cannot remove (a source no longer in corpus.json): %s", p, strerror(errno));
            free(p);
        }
    }
    if (d) closedir(d);
    free(dir);
    return rc;
}

int pq_corpus_build(const char *data_dir, int verbose) { return pq_corpus_build_from(pq_corpus_recipes_dir(), data_dir, 0, verbose); }

int pq_corpus_build_from(const char *recipes_dir, const char *data_dir, int force, int verbose) {
    return pq_corpus_build_sel(recipes_dir, NULL, data_dir, force, verbose);
}

int pq_corpus_build_sel(const char *recipes_dir, const char *selection, const char *data_dir, int force, int verbose) {
    json_t *order = NULL, *recipes = recipes_load(recipes_dir, selection, &order);
    if (!recipes) return -1;
    if (!force && pq_corpus_up_to_date_sel(recipes_dir, selection, data_dir)) {
        if (verbose) fprintf(stderr, "corpus: up to date in %s/corpus\n", data_dir);
        json_decref(order), json_decref(recipes);
        return 0;
    }
    double t0 = pq_now();
    char key[PQ_SHA256_HEX];
    build_key(order, recipes, key);
    char *debs = pq_path_join(data_dir, "debs"), *extract = pq_path_join(data_dir, "extract");
    char *mpath = corpus_path(data_dir, "manifest.json"), *synpath = corpus_path(data_dir, "wordnet_synsets.jsonl");
    size_t nsrc = json_array_size(order);
    source_out *outs = pq_calloc(nsrc, sizeof *outs);
    pq_source_state state = {.synsets_path = synpath};
    pq_dedup *dedup = pq_dedup_new();
    json_t *sources = json_object(), *man = json_object();
    json_t *config = json_pack("{s:O, s:s}", "order", order, "recipes_dir", recipes_dir);
    /* only an opt-in selection is named, so the default build's manifest is as before */
    if (selection) json_object_set_new(config, "selection", json_string(selection));
    json_t *pqman = pq_manifest_new("corpus", config);
    json_decref(config);
    int rc = 0;
    size_t opened = 0;
    /* An old manifest must not vouch for files that are about to change. */
    if (pq_file_exists(mpath) && unlink(mpath)) { rc = pq_fail("%s: cannot remove: %s", mpath, strerror(errno)); goto done; }
    for (size_t s = 0; s < nsrc && !rc; s++) {
        const char *name = json_string_value(json_array_get(order, s));
        json_t *r = json_object_get(recipes, name), *pkgs = json_object_get(r, "packages");
        double ts = pq_now();
        /* fetch, verify, extract */
        int nfiles = 0;
        char **files = NULL, **paths = NULL;
        json_t *jpk = json_array();
        for (size_t i = 0; i < json_array_size(pkgs) && !rc; i++) {
            json_t *p = json_array_get(pkgs, i), *pf = json_object_get(p, "files");
            char *deb = fetch_deb(debs, p, verbose);
            char *dir = deb ? extract_deb(extract, deb, p, verbose) : NULL;
            if (!dir) { rc = -1; free(deb); break; }
            json_t *fh = json_object();
            for (size_t k = 0; k < json_array_size(pf); k++) {
                json_t *f = json_array_get(pf, k);
                files = pq_realloc(files, (size_t)(nfiles + 1) * sizeof *files);
                paths = pq_realloc(paths, (size_t)(nfiles + 1) * sizeof *paths);
                paths[nfiles] = pq_strdup(json_string_value(json_object_get(f, "path")));
                files[nfiles++] = pq_path_join(dir, json_string_value(json_object_get(f, "path")));
                json_object_set(fh, json_string_value(json_object_get(f, "path")), json_object_get(f, "sha256"));
            }
            json_array_append_new(jpk, json_pack("{s:O, s:O, s:s, s:O, s:o}", "package", json_object_get(p, "package"),
                                                 "version", json_object_get(p, "version"), "deb", strrchr(deb, '/') + 1,
                                                 "deb_sha256", json_object_get(p, "deb_sha256"), "files", fh));
            pq_manifest_add_input_hash(pqman, strrchr(deb, '/') + 1, json_string_value(json_object_get(p, "deb_sha256")));
            free(deb), free(dir);
        }
        /* decode into the two temporary outputs */
        source_out *o = &outs[s];
        o->source = name;
        o->dedup = dedup;
        char tn[300], hn[300];
        snprintf(tn, sizeof tn, "%s.train.jsonl", name);
        snprintf(hn, sizeof hn, "%s.heldout.jsonl", name);
        char *tp = corpus_path(data_dir, tn), *hp = corpus_path(data_dir, hn);
        if (!rc) {
            if (pq_atomic_open(&o->train, tp)) rc = -1;
            else if (pq_atomic_open(&o->heldout, hp)) {
                pq_atomic_abort(&o->train);
                rc = -1;
            } else opened = s + 1;
        }
        free(tp), free(hp);
        if (!rc) {
            pq_sink sink = {write_doc, o};
            pq_decode_ctx ctx = {.name = name, .files = files, .nfiles = nfiles, .sink = &sink, .state = &state, .paths = paths};
            pq_decoder_fn fn = pq_decoder_find(json_string_value(json_object_get(r, "decoder")));
            rc = fn(&ctx);
            if (!rc && (o->c[0].docs == 0))
                rc = pq_fail("%s: source '%s' decoded to no training documents", name, name);
        }
        for (int k = 0; k < nfiles; k++) free(files[k]), free(paths[k]);
        free(files), free(paths);
        if (rc) { json_decref(jpk); break; }
        json_object_set_new(sources, name,
                            json_pack("{s:O, s:o, s:o, s:o, s:{s:I, s:I, s:I}, s:f}", "decoder", json_object_get(r, "decoder"),
                                      "packages", jpk, "train", counts_json(&o->c[0]), "heldout", counts_json(&o->c[1]),
                                      "duplicates_dropped", "documents", (json_int_t)o->dropped.docs, "paragraphs",
                                      (json_int_t)o->dropped.paragraphs, "words", (json_int_t)o->dropped.words, "seconds",
                                      pq_now() - ts));
        if (verbose)
            fprintf(stderr,
                    "corpus: %-10s train %7lld docs %9lld words | held-out %6lld docs %8lld words | duplicates %lld docs, "
                    "%lld paragraphs, %lld words  (%.1fs)\n",
                    name, (long long)o->c[0].docs, (long long)o->c[0].words, (long long)o->c[1].docs, (long long)o->c[1].words,
                    (long long)o->dropped.docs, (long long)o->dropped.paragraphs, (long long)o->dropped.words, pq_now() - ts);
    }
    if (!rc && !pq_file_exists(synpath) && !json_object_get(recipes, "wordnet"))
        rc = pq_fail("%s/corpus.json: the corpus needs the \"wordnet\" source (it writes wordnet_synsets.jsonl)", recipes_dir);
done:
    /* commit everything or nothing */
    for (size_t s = 0; s < opened; s++) {
        if (rc) {
            pq_atomic_abort(&outs[s].train), pq_atomic_abort(&outs[s].heldout);
        } else if (pq_atomic_commit(&outs[s].train) || pq_atomic_commit(&outs[s].heldout)) {
            rc = -1;
        }
    }
    if (!rc) rc = remove_other_sources(data_dir, order);
    if (!rc) {
        json_t *files = json_object(), *totals = json_object();
        part_counts tot[2] = {{0}};
        for (size_t s = 0; s < nsrc && !rc; s++) {
            json_t *src = json_object_get(sources, outs[s].source);
            for (int h = 0; h < 2; h++) {
                char fname[300], hex[PQ_SHA256_HEX];
                snprintf(fname, sizeof fname, "%s.%s.jsonl", outs[s].source, h ? "heldout" : "train");
                char *p = corpus_path(data_dir, fname);
                struct stat st;
                if (pq_sha256_file(p, hex) || stat(p, &st)) rc = -1;
                else {
                    json_t *part = json_object_get(src, h ? "heldout" : "train");
                    json_object_set_new(part, "file", json_string(fname));
                    json_object_set_new(part, "sha256", json_string(hex));
                    json_object_set_new(files, fname, json_integer((json_int_t)st.st_size));
                }
                free(p);
                tot[h].docs += outs[s].c[h].docs, tot[h].words += outs[s].c[h].words, tot[h].bytes += outs[s].c[h].bytes;
            }
        }
        char hex[PQ_SHA256_HEX];
        struct stat st;
        if (!rc && (pq_sha256_file(synpath, hex) || stat(synpath, &st))) rc = -1;
        if (!rc) {
            json_object_set_new(files, "wordnet_synsets.jsonl", json_integer((json_int_t)st.st_size));
            json_object_set_new(man, "synsets", json_pack("{s:s, s:s}", "file", "wordnet_synsets.jsonl", "sha256", hex));
            json_object_set_new(totals, "train", counts_json(&tot[0]));
            json_object_set_new(totals, "heldout", counts_json(&tot[1]));
            json_object_set_new(man, "format", json_integer(PQ_CORPUS_FORMAT));
            json_object_set_new(man, "build_key", json_string(key));
            json_object_set_new(man, "order", json_incref(order));
            json_object_set_new(man, "sources", json_incref(sources));
            json_object_set_new(man, "outputs", files);
            json_object_set_new(man, "totals", totals);
            pq_manifest_finish(pqman);
            json_object_set_new(man, "manifest", json_incref(pqman));
            rc = pq_json_write(man, mpath);
            if (!rc && verbose)
                fprintf(stderr, "corpus: %lld train words, %lld held-out words, written to %s/corpus in %.1fs\n",
                        (long long)tot[0].words, (long long)tot[1].words, data_dir, pq_now() - t0);
        } else {
            json_decref(files), json_decref(totals);
        }
    }
    pq_strset_free(&state.heldout_lemmas);
    pq_dedup_free(dedup);
    json_decref(sources), json_decref(man), json_decref(pqman), json_decref(order), json_decref(recipes);
    free(outs), free(debs), free(extract), free(mpath), free(synpath);
    return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

int pq_corpus_read_jsonl(const char *path, pq_corpus_doc_fn fn, void *ctx) {
    FILE *f = fopen(path, "rb");
    if (!f) return pq_fail("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n == 0 || line[n - 1] != '\n') { rc = pq_fail("%s:%ld: truncated line (no newline)", path, lineno); break; }
        json_error_t err;
        json_t *d = json_loadb(line, (size_t)n, 0, &err);
        json_t *id = d ? json_object_get(d, "id") : NULL, *text = d ? json_object_get(d, "text") : NULL;
        if (!d) rc = pq_fail("%s:%ld: %s", path, lineno, err.text);
        else if (!json_is_string(id) || !json_is_string(text)) rc = pq_fail("%s:%ld: needs string \"id\" and \"text\"", path, lineno);
        else rc = fn(ctx, json_string_value(id), json_string_value(text), json_string_length(text));
        json_decref(d);
    }
    free(line);
    fclose(f);
    return rc;
}
