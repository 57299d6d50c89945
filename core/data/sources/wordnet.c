/* wordnet.c — WordNet 3.0 glosses and examples from Debian's wordnet-base
 * (/usr/share/wordnet/data.{noun,verb,adj,adv}).
 *
 * A data line (wndb(5WN)); lines starting with two spaces are the licence:
 *   offset lex_filenum ss_type w_cnt(2 hex) {word lex_id(1 hex)}*
 *   p_cnt(3 dec) {ptr_symbol offset pos source/target(4 hex)}*
 *   [verbs: f_cnt {+ f_num w_num}*] | gloss; "example"; "example"
 * Synset ids are "<file letter>:<offset>" (n, v, a, r); satellites (ss_type s)
 * live in data.adj and so have ids "a:...". Hypernyms are the "@" and "@i"
 * pointers. Each synset becomes one training document
 *   "lemma, lemma: gloss\n\"example\"\n..."
 * unless it is a held-out task synset, and one JSON line of structure. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/sources/source.h"

/* Next space-separated field of [*p, end). */
static int field(const char **p, const char *end, const char **f, size_t *n) {
    const char *s = *p;
    while (s < end && *s == ' ') s++;
    const char *e = s;
    while (e < end && *e != ' ') e++;
    if (e == s) return -1;
    *f = s, *n = (size_t)(e - s), *p = e;
    return 0;
}

static long parse_num(const char *f, size_t n, int base) {
    char t[16];
    if (n == 0 || n >= sizeof t) return -1;
    memcpy(t, f, n);
    t[n] = 0;
    char *end;
    long v = strtol(t, &end, base);
    return *end ? -1 : v;
}

static char *trim_dup(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == ';')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == ';' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    char *d = pq_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* Splits "gloss; "ex one"; "ex two"" into the gloss and its examples. */
static char *split_gloss(const char *g, size_t n, json_t *examples) {
    size_t q = 0;
    int found = 0;
    for (; q < n; q++)
        if (g[q] == '"' && (q == 0 || (q >= 2 && g[q - 1] == ' ' && g[q - 2] == ';'))) { found = 1; break; }
    char *gloss = trim_dup(g, found ? q : n);
    if (!found) return gloss;
    size_t i = q;
    while (i < n) {
        size_t e = i + 1;
        while (e < n && !(g[e] == ';' && e + 2 < n && g[e + 1] == ' ' && g[e + 2] == '"')) e++;
        size_t a = i, z = e;
        if (a < z && g[a] == '"') a++;
        while (z > a && (g[z - 1] == ' ' || g[z - 1] == '\n' || g[z - 1] == '\r')) z--;
        if (z > a && g[z - 1] == '"') z--;
        if (z > a) {
            char *ex = trim_dup(g + a, z - a);
            json_array_append_new(examples, json_string(ex));
            free(ex);
        }
        i = e + 2;
    }
    return gloss;
}

int pq_wordnet_emit(char pos_file, const char *text, size_t n, const char *what, pq_sink *sink, FILE *synsets,
                    pq_strset *lemmas) {
    pq_buf doc = {0}, lem = {0};
    int rc = 0;
    long line = 0;
    size_t i = 0;
    while (i < n && !rc) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        line++;
        const char *s = text + i, *end = text + e;
        i = e + 1;
        if (end - s < 2 || s[0] == ' ') continue; /* licence header */
        const char *bar = memchr(s, '|', (size_t)(end - s));
        const char *f;
        size_t fl;
        const char *p = s;
        long offset, wcnt, pcnt;
        char sstype;
        if (field(&p, end, &f, &fl) || (offset = parse_num(f, fl, 10)) < 0 || field(&p, end, &f, &fl) ||
            field(&p, end, &f, &fl) || fl != 1 || (sstype = f[0], 0) || field(&p, end, &f, &fl) ||
            (wcnt = parse_num(f, fl, 16)) < 1) {
            rc = pq_fail("%s:%ld: malformed synset line", what, line);
            break;
        }
        json_t *jl = json_array(), *jh = json_array(), *jex = json_array();
        pq_buf_clear(&doc);
        int bad = 0;
        for (long w = 0; w < wcnt && !bad; w++) {
            if (field(&p, end, &f, &fl) || !(fl < 256)) { bad = 1; break; }
            pq_buf_clear(&lem);
            for (size_t k = 0; k < fl; k++) pq_buf_putc(&lem, f[k] == '_' ? ' ' : f[k]);
            /* adjective position markers: "(a)", "(p)", "(ip)" */
            char *l = pq_buf_cstr(&lem);
            char *paren = strchr(l, '(');
            if (paren && l[lem.len - 1] == ')') *paren = 0;
            json_array_append_new(jl, json_string(l));
            if (w) pq_buf_puts(&doc, ", ");
            pq_buf_puts(&doc, l);
            if (field(&p, end, &f, &fl)) bad = 1; /* lex_id */
        }
        if (bad || field(&p, end, &f, &fl) || (pcnt = parse_num(f, fl, 10)) < 0) {
            json_decref(jl), json_decref(jh), json_decref(jex);
            rc = pq_fail("%s:%ld: malformed synset line", what, line);
            break;
        }
        for (long k = 0; k < pcnt && !bad; k++) {
            const char *sym, *off, *pos;
            size_t nsym, noff, npos;
            if (field(&p, end, &sym, &nsym) || field(&p, end, &off, &noff) || field(&p, end, &pos, &npos) ||
                field(&p, end, &f, &fl)) { bad = 1; break; }
            if ((nsym == 1 && sym[0] == '@') || (nsym == 2 && sym[0] == '@' && sym[1] == 'i')) {
                char id[32];
                char pf = pos[0] == 's' ? 'a' : pos[0];
                snprintf(id, sizeof id, "%c:%.*s", pf, (int)noff, off);
                json_array_append_new(jh, json_string(id));
            }
        }
        if (bad) {
            json_decref(jl), json_decref(jh), json_decref(jex);
            rc = pq_fail("%s:%ld: malformed pointer list", what, line);
            break;
        }
        char *gloss = bar ? split_gloss(bar + 1, (size_t)(end - bar - 1), jex) : pq_strdup("");
        int heldout = pq_split_wordnet_heldout(pos_file, (uint32_t)offset, gloss[0] != 0);
        char id[32], docid[48];
        snprintf(id, sizeof id, "%c:%08ld", pos_file, offset);
        snprintf(docid, sizeof docid, "wordnet/%s", id);
        if (heldout && lemmas) {
            for (size_t k = 0; k < json_array_size(jl); k++) {
                pq_buf_clear(&lem);
                for (const char *c = json_string_value(json_array_get(jl, k)); *c; c++)
                    pq_buf_putc(&lem, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
                pq_strset_add(lemmas, pq_buf_cstr(&lem));
            }
        }
        if (gloss[0]) {
            pq_buf_puts(&doc, ": ");
            pq_buf_puts(&doc, gloss);
        }
        for (size_t k = 0; k < json_array_size(jex); k++) {
            pq_buf_puts(&doc, "\n\"");
            pq_buf_puts(&doc, json_string_value(json_array_get(jex, k)));
            pq_buf_putc(&doc, '"');
        }
        if (synsets) {
            char posc[2] = {sstype, 0};
            json_t *o = json_object();
            json_object_set_new(o, "id", json_string(id));
            json_object_set_new(o, "pos", json_string(posc));
            json_object_set_new(o, "lemmas", jl);
            json_object_set_new(o, "gloss", json_string(gloss));
            json_object_set_new(o, "examples", jex);
            json_object_set_new(o, "hypernyms", jh);
            json_object_set_new(o, "heldout", json_boolean(heldout));
            if (json_dumpf(o, synsets, JSON_COMPACT | JSON_PRESERVE_ORDER) || fputc('\n', synsets) == EOF)
                rc = pq_fail("%s: cannot write synsets", what);
            json_decref(o);
        } else {
            json_decref(jl), json_decref(jh), json_decref(jex);
        }
        free(gloss);
        if (!rc) rc = pq_sink_emit(sink, docid, doc.data ? doc.data : "", doc.len, heldout);
    }
    pq_buf_free(&doc), pq_buf_free(&lem);
    return rc;
}

/* files: data.noun data.verb data.adj data.adv (in that order: nouns first so
 * held-out lemmas are known before anything else is emitted). */
int pq_decode_wordnet(pq_decode_ctx *ctx) {
    static const char letters[] = {'n', 'v', 'a', 'r'};
    if (ctx->nfiles != 4) return pq_fail("%s: the wordnet decoder wants 4 files (data.noun/verb/adj/adv), got %d", ctx->name, ctx->nfiles);
    pq_atomic_file af = {0};
    FILE *syn = NULL;
    if (ctx->state->synsets_path) {
        if (pq_atomic_open(&af, ctx->state->synsets_path)) return -1;
        syn = af.f;
    }
    int rc = 0;
    for (int k = 0; k < 4 && !rc; k++) {
        size_t n;
        char *text = pq_read_file(ctx->files[k], &n);
        if (!text) { rc = -1; break; }
        rc = pq_wordnet_emit(letters[k], text, n, ctx->files[k], ctx->sink, syn, &ctx->state->heldout_lemmas);
        free(text);
    }
    if (syn) {
        if (rc) pq_atomic_abort(&af);
        else rc = pq_atomic_commit(&af);
    }
    return rc;
}
