/* docs.c — what the documentation decoders (HTML, reStructuredText, POD, roff
 * man pages, Info) share: reading one file (gunzipped when it ends in .gz,
 * refused unless valid UTF-8 without NUL bytes), the document id and held-out
 * rule of a file, the code-block test, and the loop over a recipe's files.
 *
 * Every converter turns one file into paragraphs separated by "\n" (one
 * paragraph per line, inner whitespace collapsed). Code blocks are dropped
 * (README "## Data sources" says why); inline code stays as words. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/util.h"
#include "data/sources/source.h"

int pq_split_doc_heldout(const char *id) { return pq_fnv1a64(id, strlen(id)) % 100 < 2; }

/* Offset of the first byte that starts an invalid UTF-8 sequence (coarse: the
 * start of the sequence whose lead or continuation bytes are wrong). */
static size_t utf8_bad_offset(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n || !pq_utf8_valid(s + i, len)) return i;
        i += len;
    }
    return n;
}

int pq_doc_read(const char *path, pq_buf *out) { return pq_doc_read_nul(path, out, 0); }

int pq_doc_read_nul(const char *path, pq_buf *out, int allow_nul) {
    size_t n;
    char *raw;
    size_t pl = strlen(path);
    if (pl > 3 && !strcmp(path + pl - 3, ".gz")) raw = pq_gunzip_file(path, &n);
    else raw = pq_read_file(path, &n);
    if (!raw) return -1;
    pq_buf_clear(out);
    if (!allow_nul && memchr(raw, 0, n)) {
        size_t at = (size_t)((char *)memchr(raw, 0, n) - raw);
        free(raw);
        return pq_fail("%s: NUL byte at offset %zu (binary or corrupt file)", path, at);
    }
    if (!pq_utf8_valid(raw, n)) {
        size_t bad = utf8_bad_offset(raw, n);
        free(raw);
        return pq_fail("%s: not valid UTF-8 at byte %zu", path, bad);
    }
    pq_buf_put(out, raw, n);
    pq_buf_cstr(out);
    free(raw);
    return 0;
}

/* Characters typical of code and rare in prose. */
static int code_char(char c) { return strchr("{}[]();=<>$#|\\&*/_@%^~`", c) != NULL; }

int pq_text_looks_like_code(const char *s, size_t n) {
    size_t sym = 0, vis = 0, lines = 0, code_lines = 0;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        size_t a = i, b = e;
        while (a < b && (s[a] == ' ' || s[a] == '\t')) a++;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t')) b--;
        if (b > a) {
            lines++;
            char last = s[b - 1];
            if (last == ';' || last == '{' || last == '}' || last == '\\' || s[a] == '$' || s[a] == '#' ||
                (b - a >= 2 && (!memcmp(s + a, "//", 2) || !memcmp(s + a, "/*", 2) || !memcmp(s + a, ">>", 2))))
                code_lines++;
            for (size_t k = a; k < b; k++) {
                if (s[k] == ' ' || s[k] == '\t') continue;
                vis++;
                sym += code_char(s[k]);
            }
        }
        i = e + 1;
    }
    if (!vis) return 0;
    return sym * 100 > vis * 8 || code_lines * 3 > lines;
}

void pq_doc_tidy(const char *s, size_t n, pq_buf *out) {
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        size_t start = out->len;
        int space = 0;
        for (size_t k = i; k < e; k++) {
            char c = s[k];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') { space = 1; continue; }
            if (space && out->len > start) pq_buf_putc(out, ' ');
            space = 0;
            pq_buf_putc(out, c);
        }
        if (out->len > start) pq_buf_putc(out, '\n');
        i = e + 1;
    }
    pq_buf_rtrim(out);
}

const char *pq_doc_local_id(const char *path) {
    static const char *prefixes[] = {"usr/share/doc/", "usr/share/"};
    for (size_t i = 0; i < PQ_COUNT(prefixes); i++) {
        size_t k = strlen(prefixes[i]);
        if (!strncmp(path, prefixes[i], k)) return path + k;
    }
    return path;
}

int pq_decode_tree(pq_decode_ctx *ctx, pq_doc_convert_fn convert) {
    pq_buf raw = {0}, text = {0}, tidy = {0}, id = {0};
    int rc = 0;
    for (int f = 0; f < ctx->nfiles && !rc; f++) {
        if (pq_doc_read(ctx->files[f], &raw)) { rc = -1; break; }
        pq_buf_clear(&text);
        if (convert(ctx->files[f], raw.data, raw.len, &text)) { rc = -1; break; }
        pq_buf_clear(&tidy);
        pq_doc_tidy(text.data ? text.data : "", text.len, &tidy);
        if (pq_text_words(tidy.data ? tidy.data : "", tidy.len) < PQ_DOC_MIN_WORDS) continue;
        pq_buf_clear(&id);
        pq_buf_printf(&id, "%s/%s", ctx->name, pq_doc_local_id(ctx->paths ? ctx->paths[f] : ctx->files[f]));
        const char *sid = pq_buf_cstr(&id);
        rc = pq_sink_emit(ctx->sink, sid, tidy.data, tidy.len, pq_split_doc_heldout(sid));
    }
    pq_buf_free(&raw), pq_buf_free(&text), pq_buf_free(&tidy), pq_buf_free(&id);
    return rc;
}

/* ---- named character references (HTML, POD's E<>) ------------------------------ */

static const struct {
    const char *name, *utf8;
} entities[] = {
    {"amp", "&"},        {"lt", "<"},         {"gt", ">"},         {"quot", "\""},      {"apos", "'"},
    {"nbsp", " "},       {"ensp", " "},       {"emsp", " "},       {"thinsp", " "},     {"shy", ""},
    {"zwj", ""},         {"zwnj", ""},        {"copy", "\xC2\xA9"}, {"reg", "\xC2\xAE"}, {"trade", "\xE2\x84\xA2"},
    {"mdash", "\xE2\x80\x94"}, {"ndash", "\xE2\x80\x93"}, {"hellip", "\xE2\x80\xA6"}, {"lsquo", "\xE2\x80\x98"},
    {"rsquo", "\xE2\x80\x99"}, {"ldquo", "\xE2\x80\x9C"}, {"rdquo", "\xE2\x80\x9D"}, {"laquo", "\xC2\xAB"},
    {"raquo", "\xC2\xBB"}, {"bull", "\xE2\x80\xA2"}, {"middot", "\xC2\xB7"}, {"times", "\xC3\x97"},
    {"divide", "\xC3\xB7"}, {"deg", "\xC2\xB0"},   {"para", "\xC2\xB6"},  {"sect", "\xC2\xA7"},  {"minus", "\xE2\x88\x92"},
    {"plusmn", "\xC2\xB1"}, {"rarr", "\xE2\x86\x92"}, {"larr", "\xE2\x86\x90"}, {"hArr", "\xE2\x87\x94"},
    {"rArr", "\xE2\x87\x92"}, {"le", "\xE2\x89\xA4"}, {"ge", "\xE2\x89\xA5"}, {"ne", "\xE2\x89\xA0"},
    {"micro", "\xC2\xB5"}, {"euro", "\xE2\x82\xAC"}, {"pound", "\xC2\xA3"}, {"cent", "\xC2\xA2"}, {"yen", "\xC2\xA5"},
    {"verbar", "|"},     {"sol", "/"},        {"lowbar", "_"},     {"dagger", "\xE2\x80\xA0"},
    {"eacute", "\xC3\xA9"}, {"egrave", "\xC3\xA8"}, {"ecirc", "\xC3\xAA"}, {"euml", "\xC3\xAB"}, {"aacute", "\xC3\xA1"},
    {"agrave", "\xC3\xA0"}, {"acirc", "\xC3\xA2"}, {"auml", "\xC3\xA4"}, {"aring", "\xC3\xA5"}, {"ccedil", "\xC3\xA7"},
    {"iacute", "\xC3\xAD"}, {"iuml", "\xC3\xAF"}, {"oacute", "\xC3\xB3"}, {"ocirc", "\xC3\xB4"}, {"ouml", "\xC3\xB6"},
    {"oslash", "\xC3\xB8"}, {"uacute", "\xC3\xBA"}, {"uuml", "\xC3\xBC"}, {"ntilde", "\xC3\xB1"}, {"szlig", "\xC3\x9F"},
    {"Auml", "\xC3\x84"}, {"Ouml", "\xC3\x96"}, {"Uuml", "\xC3\x9C"}, {"Eacute", "\xC3\x89"},
};

static void put_codepoint(pq_buf *out, unsigned long cp) {
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return;
    if (cp == 0xA0) cp = ' ';
    if (cp < 0x80) pq_buf_putc(out, (char)cp);
    else if (cp < 0x800) {
        pq_buf_putc(out, (char)(0xC0 | (cp >> 6)));
        pq_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        pq_buf_putc(out, (char)(0xE0 | (cp >> 12)));
        pq_buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        pq_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    } else {
        pq_buf_putc(out, (char)(0xF0 | (cp >> 18)));
        pq_buf_putc(out, (char)(0x80 | ((cp >> 12) & 0x3F)));
        pq_buf_putc(out, (char)(0x80 | ((cp >> 6) & 0x3F)));
        pq_buf_putc(out, (char)(0x80 | (cp & 0x3F)));
    }
}

int pq_entity_put(const char *name, size_t n, pq_buf *out) {
    if (n >= 2 && name[0] == '#') {
        char *end;
        char tmp[16];
        if (n > sizeof tmp - 1) return 0;
        memcpy(tmp, name + 1, n - 1);
        tmp[n - 1] = 0;
        int hex = tmp[0] == 'x' || tmp[0] == 'X';
        unsigned long cp = strtoul(tmp + hex, &end, hex ? 16 : 10);
        if (*end || end == tmp + hex) return 0;
        put_codepoint(out, cp);
        return 1;
    }
    for (size_t i = 0; i < PQ_COUNT(entities); i++)
        if (strlen(entities[i].name) == n && !memcmp(entities[i].name, name, n)) {
            pq_buf_puts(out, entities[i].utf8);
            return 1;
        }
    return 0;
}
