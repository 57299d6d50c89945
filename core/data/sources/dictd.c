/* dictd.c — dictionaries in dictd format: GCIDE (dict-gcide) and Ambrose
 * Bierce's Devil's Dictionary (dict-devil).
 *
 * A dictd database is <name>.dict.dz, a dictzip file (gzip with a random-access
 * table in its extra field, readable as plain gzip), and <name>.index, one line
 * per entry: headword TAB offset TAB length, the numbers in dictd's base64
 * (A-Z a-z 0-9 + /, most significant digit first) into the uncompressed text.
 * Headwords starting "00-database" / "00database" are metadata and skipped.
 *
 * GCIDE text is the 1913 Webster plus later additions, with markup:
 *   Apple \Ap"ple\ ([a^]p"p'l), n. [OE. appel ...]    headword, hyphenation,
 *   1. The fleshy pome ... ({Pyrus malus}) ...         pronunciation, etymology
 *      [1913 Webster]                                  a source line
 * We drop the \hyphenation\, the (pronunciation) after it and long bracketed
 * groups (etymologies) in the headword paragraph, remove source lines, turn
 * {cross references} into plain words and [x^]-style character codes into
 * letters, and reflow. Paragraphs whose source line names WordNet are dropped
 * (WordNet is its own source here); an entry whose first paragraph comes from
 * WordNet is dropped whole. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/sources/source.h"

int pq_gunzip(const uint8_t *in, size_t n, const char *what, pq_buf *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return pq_fail("%s: zlib init failed", what);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc = 0;
    for (;;) {
        pq_buf_reserve(out, n * 2 + 65536);
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len = out->cap - 1 - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0) break;
            inflateReset(&z); /* another gzip member follows */
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0) { rc = pq_fail("%s: truncated gzip data", what); break; }
        if (zr != Z_OK && zr != Z_BUF_ERROR) { rc = pq_fail("%s: corrupt gzip data (%s)", what, z.msg ? z.msg : "zlib error"); break; }
    }
    inflateEnd(&z);
    return rc;
}

char *pq_gunzip_file(const char *path, size_t *n_out) {
    size_t n;
    char *raw = pq_read_file(path, &n);
    if (!raw) return NULL;
    pq_buf out = {0};
    int rc = pq_gunzip((const uint8_t *)raw, n, path, &out);
    free(raw);
    if (rc) { pq_buf_free(&out); return NULL; }
    *n_out = out.len;
    return pq_buf_cstr(&out);
}

int pq_dictd_b64(const char *s, size_t n, uint64_t *out) {
    uint64_t v = 0;
    if (!n || n > 10) return -1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (d < 0) return -1;
        v = v * 64 + (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* Calls fn for every non-metadata entry of a dictd database held in memory. */
typedef int (*dict_entry_fn)(void *ctx, const char *headword, const char *text, size_t n, long index);

static int dictd_each(const char *index, size_t ni, const char *index_path, const char *dict, size_t nd,
                      const char *dict_path, dict_entry_fn fn, void *ctx) {
    size_t i = 0;
    long line = 0, entry = 0;
    char head[1024];
    while (i < ni) {
        size_t e = i;
        while (e < ni && index[e] != '\n') e++;
        line++;
        const char *t1 = memchr(index + i, '\t', e - i);
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(index + e - t1 - 1)) : NULL;
        uint64_t off, len;
        if (!t1 || !t2 || pq_dictd_b64(t1 + 1, (size_t)(t2 - t1 - 1), &off) ||
            pq_dictd_b64(t2 + 1, (size_t)(index + e - t2 - 1), &len))
            return pq_fail("%s:%ld: not a dictd index line", index_path, line);
        if (off + len > nd) return pq_fail("%s:%ld: entry lies past the end of %s (truncated?)", index_path, line, dict_path);
        size_t hl = PQ_MIN((size_t)(t1 - index - i), sizeof head - 1);
        memcpy(head, index + i, hl);
        head[hl] = 0;
        if (strncmp(head, "00-", 3) && strncmp(head, "00database", 10)) {
            if (fn(ctx, head, dict + off, (size_t)len, entry++)) return -1;
        }
        i = e + 1;
    }
    return 0;
}

/* ---- GCIDE cleaning ---------------------------------------------------------- */

static const char *gcide_named_char(const char *s, size_t n) {
    static const char *names[][2] = {
        {"ae", "æ"}, {"AE", "Æ"}, {"oe", "œ"}, {"OE", "Œ"}, {"eth", "ð"}, {"thorn", "þ"}, {"deg", "°"}, {"sect", "§"},
        {"root", "√"}, {"imac", "i"}, {"aum", "ä"}, {"asl", "a"}, {"add", "a"}, {"udd", "u"}, {"ng", "ng"}, {"th", "th"},
        {"yogh", "y"}, {"=ae", "ae"}, {"=oo", "oo"}, {"oo^", "oo"}, {"-oo", "oo"}, {"pound", "£"}, {"cent", "¢"},
        {"min", "′"}, {"sec", "″"}, {"frac12", "1/2"}, {"frac14", "1/4"}, {"frac34", "3/4"}, {"frac13", "1/3"},
        {"frac23", "2/3"}, {"times", "×"}, {"divide", "÷"}, {"para", "¶"}, {"dag", "†"}, {"ddag", "‡"},
        {"dagger", "†"}, {"pounds", "£"}, {"rarr", "→"}, {"larr", "←"}, {"divby", "÷"}, {"ldqo", "“"}, {"rdqo", "”"},
        {"sharp", "♯"}, {"flat", "♭"}, {"natural", "♮"}, {"cuberoot", "∛"}, {"prime", "′"}, {"bprime", "″"},
        {"alpha", "α"}, {"beta", "β"}, {"gamma", "γ"}, {"delta", "δ"}, {"epsilon", "ε"}, {"zeta", "ζ"}, {"eta", "η"},
        {"theta", "θ"}, {"iota", "ι"}, {"kappa", "κ"}, {"lambda", "λ"}, {"mu", "μ"}, {"nu", "ν"}, {"xi", "ξ"},
        {"omicron", "ο"}, {"pi", "π"}, {"rho", "ρ"}, {"sigma", "σ"}, {"tau", "τ"}, {"upsilon", "υ"}, {"phi", "φ"},
        {"chi", "χ"}, {"psi", "ψ"}, {"omega", "ω"}, {"Delta", "Δ"}, {"Sigma", "Σ"}, {"Omega", "Ω"}, {"Pi", "Π"},
        {"bar", "|"}, {"crescent", "☾"}, {"hand", "☞"},
    };
    for (size_t i = 0; i < PQ_COUNT(names); i++)
        if (strlen(names[i][0]) == n && !memcmp(names[i][0], s, n)) return names[i][1];
    return NULL;
}

/* If [s, s+n) (the inside of a bracket) is a character code, appends its letter(s) and returns 1. */
static int gcide_char_code(const char *s, size_t n, pq_buf *out) {
    const char *named = gcide_named_char(s, n);
    if (named) { pq_buf_puts(out, named); return 1; }
    /* one diacritic symbol before or after one or two letters: [a^] ['e] [=o] [.a] */
    static const char *pre = "=^'`\".*~,-", *post = "=^'`~\"-";
    if (n < 2 || n > 3) return 0;
    size_t a = 0, z = n;
    if (strchr(pre, s[0])) a = 1;
    else if (strchr(post, s[n - 1])) z = n - 1;
    else return 0;
    if (z - a < 1 || z - a > 2) return 0;
    for (size_t i = a; i < z; i++)
        if (!isalpha((unsigned char)s[i])) return 0;
    pq_buf_put(out, s + a, z - a);
    return 1;
}

/* Is the line only a bracketed source tag like "[1913 Webster]"? */
static int source_line(const char *s, size_t n) {
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    if (n < 3 || s[0] != '[' || s[n - 1] != ']') return 0;
    return memchr(s + 1, '[', n - 2) == NULL && memchr(s + 1, ']', n - 2) == NULL;
}

static int mentions_wordnet(const char *s, size_t n) {
    for (size_t i = 0; i + 7 <= n; i++)
        if (!memcmp(s + i, "WordNet", 7)) return 1;
    return 0;
}

/* Markup-stripped text of one paragraph (source lines already removed). */
static void gcide_paragraph(const char *s, size_t n, int header, pq_buf *out) {
    pq_buf t = {0};
    size_t i = 0;
    int after_hyph = 0;
    while (i < n) {
        char c = s[i];
        if (c == '\\') { /* \Ap"ple\ : hyphenation, dropped with a following (pronunciation) */
            const char *e = memchr(s + i + 1, '\\', n - i - 1);
            if (e) { i = (size_t)(e - s) + 1; after_hyph = 1; continue; }
        }
        if (after_hyph && c == '(') {
            int depth = 0;
            size_t k = i;
            for (; k < n; k++) {
                if (s[k] == '(') depth++;
                else if (s[k] == ')' && --depth == 0) break;
            }
            if (k < n) { i = k + 1; after_hyph = 0; continue; }
        }
        if (c != ' ' && c != '\n' && c != '\t' && c != ',') after_hyph = 0;
        if (c == '[') {
            int depth = 0;
            size_t k = i;
            for (; k < n; k++) {
                if (s[k] == '[') depth++;
                else if (s[k] == ']' && --depth == 0) break;
            }
            if (k < n) {
                size_t inner = k - i - 1;
                if (gcide_char_code(s + i + 1, inner, &t)) { i = k + 1; continue; }
                if (header && inner > 12) { i = k + 1; continue; } /* etymology */
                /* a label like [Obs.]: keep, converting codes inside */
                pq_buf_putc(&t, '[');
                gcide_paragraph(s + i + 1, inner, 0, &t);
                pq_buf_putc(&t, ']');
                i = k + 1;
                continue;
            }
        }
        if (c == '{' || c == '}') { i++; continue; }
        pq_buf_putc(&t, c);
        i++;
    }
    /* "Slate \\Slate\\, n." left "Slate , n." */
    size_t w = 0;
    for (size_t r = 0; r < t.len; r++) {
        if (t.data[r] == ' ') {
            size_t q = r;
            while (q < t.len && t.data[q] == ' ') q++;
            if (q < t.len && t.data[q] == ',') { r = q - 1; continue; }
        }
        t.data[w++] = t.data[r];
    }
    t.len = w;
    pq_text_reflow(out, t.data ? t.data : "", t.len);
    pq_buf_free(&t);
}

void pq_gcide_clean(const char *entry, size_t n, pq_buf *out) {
    size_t start = out->len;
    pq_buf par = {0};
    int first = 1, wordnet = 0;
    size_t i = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && entry[e] != '\n') e++;
        int blank = 1;
        for (size_t k = i; k < e; k++)
            if (entry[k] != ' ' && entry[k] != '\t' && entry[k] != '\r') { blank = 0; break; }
        if (!blank) {
            if (source_line(entry + i, e - i)) {
                if (mentions_wordnet(entry + i, e - i)) wordnet = 1;
            } else {
                pq_buf_put(&par, entry + i, e - i);
                pq_buf_putc(&par, '\n');
            }
        }
        if ((blank || e >= n) && par.len) { /* end of a paragraph */
            if (wordnet && first) { out->len = start; break; } /* a WordNet entry: drop it all */
            if (!wordnet) {
                size_t before = out->len;
                if (out->len > start) pq_buf_putc(out, '\n');
                size_t mark = out->len;
                gcide_paragraph(par.data, par.len, first, out);
                if (out->len == mark) out->len = before;
            }
            first = 0;
            wordnet = 0;
            pq_buf_clear(&par);
        } else if (blank || e >= n) {
            wordnet = 0; /* a source line alone in its paragraph belongs to the text above; already judged */
        }
        if (e >= n) break;
        i = e + 1;
    }
    pq_buf_free(&par);
}

void pq_devil_clean(const char *entry, size_t n, pq_buf *out) {
    pq_buf t = {0};
    for (size_t i = 0; i < n; i++)
        if (entry[i] != '_') pq_buf_putc(&t, entry[i]); /* _italics_ */
    pq_text_reflow(out, t.data ? t.data : "", t.len);
    pq_buf_free(&t);
}

/* FOLDOC, VERA, the elements: the first line names the headword again (kept:
 * it starts the definition), {cross references} and <URLs> lose their
 * brackets, and the text is reflowed. */
void pq_dictd_generic_clean(const char *entry, size_t n, pq_buf *out) {
    pq_buf t = {0};
    for (size_t i = 0; i < n; i++)
        if (entry[i] != '{' && entry[i] != '}') pq_buf_putc(&t, entry[i]);
    pq_text_reflow(out, t.data ? t.data : "", t.len);
    pq_buf_free(&t);
}

/* ---- the decoders -------------------------------------------------------------- */

typedef struct {
    pq_decode_ctx *ctx;
    pq_buf clean, lower, raw;
    int gcide;
} dict_run;

static int dict_entry(void *vctx, const char *headword, const char *text, size_t n, long index) {
    dict_run *r = vctx;
    pq_buf_clear(&r->raw);
    pq_text_append_clean(&r->raw, text, n);
    pq_buf_clear(&r->clean);
    if (r->gcide == 1) pq_gcide_clean(r->raw.data ? r->raw.data : "", r->raw.len, &r->clean);
    else if (r->gcide == 2) pq_dictd_generic_clean(r->raw.data ? r->raw.data : "", r->raw.len, &r->clean);
    else pq_devil_clean(r->raw.data ? r->raw.data : "", r->raw.len, &r->clean);
    if (!r->clean.len) return 0;
    int heldout = 0;
    char id[64];
    snprintf(id, sizeof id, "%s/%ld", r->ctx->name, index);
    if (r->gcide == 2) heldout = pq_split_doc_heldout(id);
    if (r->gcide == 1) {
        heldout = pq_split_gcide_heldout(r->clean.data, r->clean.len);
        /* entries for a word whose WordNet sense is a task item stay out of training */
        pq_buf_clear(&r->lower);
        for (const char *p = headword; *p; p++) pq_buf_putc(&r->lower, (char)tolower((unsigned char)*p));
        if (pq_strset_has(&r->ctx->state->heldout_lemmas, pq_buf_cstr(&r->lower))) heldout = 1;
    }
    return pq_sink_emit(r->ctx->sink, id, r->clean.data, r->clean.len, heldout);
}

static int decode_dict(pq_decode_ctx *ctx, int gcide) {
    if (ctx->nfiles != 2) return pq_fail("%s: a dictd decoder wants 2 files (.index, .dict.dz), got %d", ctx->name, ctx->nfiles);
    size_t ni, nd;
    char *index = pq_read_file(ctx->files[0], &ni);
    if (!index) return -1;
    char *dict = pq_gunzip_file(ctx->files[1], &nd);
    if (!dict) { free(index); return -1; }
    dict_run r = {.ctx = ctx, .gcide = gcide}; /* 1 GCIDE, 0 Devil, 2 generic */
    int rc = dictd_each(index, ni, ctx->files[0], dict, nd, ctx->files[1], dict_entry, &r);
    pq_buf_free(&r.clean), pq_buf_free(&r.lower), pq_buf_free(&r.raw);
    free(index), free(dict);
    return rc;
}

/* files: gcide.index gcide.dict.dz */
int pq_decode_gcide(pq_decode_ctx *ctx) { return decode_dict(ctx, 1); }
/* files: devil.index devil.dict.dz */
int pq_decode_devil(pq_decode_ctx *ctx) { return decode_dict(ctx, 0); }
/* files: <name>.index <name>.dict.dz (FOLDOC, VERA, elements); one document
 * per entry, held out by pq_split_doc_heldout(id). */
int pq_decode_dictd(pq_decode_ctx *ctx) { return decode_dict(ctx, 2); }
