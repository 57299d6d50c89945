/* man.c — roff manual pages (man(7) macros; manpages, manpages-dev) to
 * paragraphs of text.
 *
 * Kept: running text, .SH/.SS headings, .TP/.IP tags, the words of font
 * macros (.B .I .BR .IR ...; alternating ones joined without spaces), link
 * text (.UR/.MT). Dropped: comments, .TH, no-fill regions (.nf ... .fi and
 * .EX ... .EE: synopses and code), tables (.TS ... .TE), macro definitions
 * and ignored blocks (.de/.ig ... ..), other requests. A page that is only
 * ".so other-page" is an alias and yields nothing. Escapes: fonts, sizes and
 * motions dropped, named glyphs (\(em, \[rq], \*(lq ...) to characters.
 * Malformed: .TS without .TE, .de/.ig without "..". */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "data/sources/source.h"

static const struct {
    const char *name, *utf8;
} glyphs[] = {
    {"em", "\xE2\x80\x94"}, {"en", "\xE2\x80\x93"}, {"hy", "-"},  {"mi", "-"},  {"bu", "\xE2\x80\xA2"},
    {"aq", "'"},            {"dq", "\""},           {"lq", "\xE2\x80\x9C"}, {"rq", "\xE2\x80\x9D"},
    {"oq", "\xE2\x80\x98"}, {"cq", "\xE2\x80\x99"}, {"co", "\xC2\xA9"}, {"rg", "\xC2\xAE"}, {"tm", "\xE2\x84\xA2"},
    {"pl", "+"},            {"mu", "\xC3\x97"},     {"de", "\xC2\xB0"}, {"ga", "`"},  {"ti", "~"},
    {"ha", "^"},            {"rs", "\\"},           {"sl", "/"},  {"ba", "|"},  {"or", "|"},
    {"lt", "<"},            {"gt", ">"},            {"<=", "\xE2\x89\xA4"}, {">=", "\xE2\x89\xA5"}, {"!=", "\xE2\x89\xA0"},
    {"->", "\xE2\x86\x92"}, {"<-", "\xE2\x86\x90"}, {"fm", "\xE2\x80\xB2"}, {"sq", "\xE2\x96\xA1"}, {"lB", "["},
    {"rB", "]"},            {"lC", "{"},            {"rC", "}"},  {"ul", "_"},  {"R", "\xC2\xAE"},
    {"Tm", "\xE2\x84\xA2"}, {"'e", "\xC3\xA9"},     {"`e", "\xC3\xA8"}, {":u", "\xC3\xBC"}, {":o", "\xC3\xB6"},
    {":a", "\xC3\xA4"},     {"ss", "\xC3\x9F"},     {"ci", "\xE2\x97\x8B"}, {"Eu", "\xE2\x82\xAC"}, {"eu", "\xE2\x82\xAC"},
};

static void put_glyph(const char *name, size_t n, pq_buf *out) {
    for (size_t i = 0; i < PQ_COUNT(glyphs); i++)
        if (strlen(glyphs[i].name) == n && !memcmp(glyphs[i].name, name, n)) {
            pq_buf_puts(out, glyphs[i].utf8);
            return;
        }
    if (n > 5 && !memcmp(name, "u", 1)) { /* \[u00E9] */
        char tmp[16];
        snprintf(tmp, sizeof tmp, "#x%.*s", (int)PQ_MIN(n - 1, (size_t)8), name + 1);
        pq_entity_put(tmp, strlen(tmp), out);
    }
}

/* The argument of an escape at p: "x", "(xy", "[name]"; returns its length in
 * p and sets the name. */
static size_t esc_name(const char *p, size_t n, const char **name, size_t *nn) {
    if (!n) { *name = p, *nn = 0; return 0; }
    if (p[0] == '(') { *name = p + 1, *nn = PQ_MIN(n - 1, (size_t)2); return 1 + *nn; }
    if (p[0] == '[') {
        const char *e = memchr(p, ']', n);
        size_t k = e ? (size_t)(e - p) : n;
        *name = p + 1, *nn = k ? k - 1 : 0;
        return e ? k + 1 : n;
    }
    *name = p, *nn = 1;
    return 1;
}

/* A quoted or bare escape argument like \s'+2' or \h'1m': its length. */
static size_t esc_delimited(const char *p, size_t n) {
    if (!n) return 0;
    char d = p[0];
    if (d == '[') { const char *e = memchr(p, ']', n); return e ? (size_t)(e - p) + 1 : n; }
    if (d == '\'' || d == '"') { const char *e = memchr(p + 1, d, n - 1); return e ? (size_t)(e - p) + 1 : n; }
    return 0;
}

/* Text of one line with its escapes resolved, appended to out. */
static void roff_text(const char *p, size_t n, pq_buf *out) {
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        if (c != '\\') { pq_buf_putc(out, c); i++; continue; }
        if (i + 1 >= n) break; /* \ at the end: continuation */
        char e = p[i + 1];
        i += 2;
        const char *nm;
        size_t nn;
        switch (e) {
        case '"': return; /* comment */
        case 'f': case 'F': i += esc_name(p + i, n - i, &nm, &nn); break;
        case '(': case '[': i -= 1; i += esc_name(p + i, n - i, &nm, &nn); put_glyph(nm, nn, out); break;
        case '*': {
            i += esc_name(p + i, n - i, &nm, &nn);
            if (nn == 2 && !memcmp(nm, "lq", 2)) pq_buf_puts(out, "\xE2\x80\x9C");
            else if (nn == 2 && !memcmp(nm, "rq", 2)) pq_buf_puts(out, "\xE2\x80\x9D");
            else if (nn == 1 && nm[0] == 'R') pq_buf_puts(out, "\xC2\xAE");
            else if (nn == 2 && !memcmp(nm, "Tm", 2)) pq_buf_puts(out, "\xE2\x84\xA2");
            break;
        }
        case 's': {
            if (i < n && (p[i] == '+' || p[i] == '-')) i++;
            size_t d = esc_delimited(p + i, n - i);
            if (d) i += d;
            else while (i < n && isdigit((unsigned char)p[i]) && d++ < 2) i++;
            break;
        }
        case 'h': case 'v': case 'w': case 'l': case 'L': case 'o': case 'X': case 'D': case 'b': case 'x': case 'Z':
        case 'N': case 'R': case 'A': case 'B': case 'C': case 'H': case 'S': case 'V': case 'Y': case 'k': case 'z':
            if (e == 'N') { /* \N'123': a character by number */
                size_t d = esc_delimited(p + i, n - i);
                if (d > 2) {
                    char tmp[16];
                    snprintf(tmp, sizeof tmp, "#%.*s", (int)PQ_MIN(d - 2, (size_t)8), p + i + 1);
                    pq_entity_put(tmp, strlen(tmp), out);
                }
                i += d;
                break;
            }
            if (e == 'z' || e == 'k') { if (i < n) i++; break; }
            i += esc_delimited(p + i, n - i);
            break;
        case 'n': case 'g': case '$': case 'm': case 'M':
            if (i < n && (p[i] == '+' || p[i] == '-') && e == 'n') i++;
            i += esc_name(p + i, n - i, &nm, &nn);
            break;
        case 'e': case '\\': pq_buf_putc(out, '\\'); break;
        case '-': pq_buf_putc(out, '-'); break;
        case ' ': case '~': case '0': pq_buf_putc(out, ' '); break;
        case '.': pq_buf_putc(out, '.'); break;
        case '\'': pq_buf_puts(out, "\xC2\xB4"); break;
        case '`': pq_buf_putc(out, '`'); break;
        case 'c': return; /* joins with the next line: the caller adds no space */
        default: break; /* \& \| \^ \% \: \{ \} \/ \, \) \p \t ... : nothing */
        }
    }
}

/* Splits a macro line's arguments (quotes group words) into args. */
static int macro_args(const char *p, size_t n, const char *args[], size_t lens[], int max) {
    int k = 0;
    size_t i = 0;
    while (i < n && k < max) {
        while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
        if (i >= n) break;
        if (p[i] == '"') {
            size_t s = ++i;
            while (i < n && !(p[i] == '"' && (i + 1 >= n || p[i + 1] != '"'))) i += p[i] == '"' ? 2 : 1;
            args[k] = p + s, lens[k++] = PQ_MIN(i, n) - s;
            i++;
        } else {
            size_t s = i;
            while (i < n && p[i] != ' ' && p[i] != '\t') i++;
            args[k] = p + s, lens[k++] = i - s;
        }
    }
    return k;
}

static void par_break(pq_buf *out) {
    if (out->len && out->data[out->len - 1] != '\n') pq_buf_putc(out, '\n');
}

static void space(pq_buf *out) {
    if (out->len && out->data[out->len - 1] != '\n' && out->data[out->len - 1] != ' ') pq_buf_putc(out, ' ');
}

static int is_req(const char *r, size_t rn, const char *name) { return strlen(name) == rn && !memcmp(r, name, rn); }

int pq_man_to_text(const char *what, const char *s, size_t n, pq_buf *out) {
    int nofill = 0, tag_next = 0, heading_next = 0;
    size_t i = 0;
    long line = 0;
    size_t start = out->len;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        line++;
        const char *p = s + i;
        size_t pn = e - i;
        i = e + 1;
        if (pn && p[pn - 1] == '\r') pn--;
        if (pn && (p[0] == '.' || p[0] == '\'')) {
            size_t k = 1;
            while (k < pn && (p[k] == ' ' || p[k] == '\t')) k++;
            const char *r = p + k;
            size_t rs = k;
            while (k < pn && p[k] != ' ' && p[k] != '\t') k++;
            size_t rn = k - rs;
            const char *rest = p + k;
            size_t restn = pn - k;
            if (rn >= 2 && r[0] == '\\' && r[1] == '"') continue; /* .\" comment */
            if (rn == 0) continue;
            if (is_req(r, rn, "TS") || is_req(r, rn, "de") || is_req(r, rn, "de1") || is_req(r, rn, "ig") ||
                is_req(r, rn, "am")) {
                const char *end = is_req(r, rn, "TS") ? "\n.TE" : "\n..";
                const char *f = memmem(p, n - (size_t)(p - s), end, strlen(end));
                if (!f) return pq_fail("%s:%ld: .%.*s without %s", what, line, (int)rn, r, end + 1);
                /* skip to the line after the terminator */
                const char *nl = memchr(f + 1, '\n', n - (size_t)(f + 1 - s));
                for (const char *q = p; q < f + 1; q++) line += *q == '\n';
                i = nl ? (size_t)(nl - s) + 1 : n;
                par_break(out);
                continue;
            }
            if (is_req(r, rn, "so")) {
                if (out->len == start) { out->len = start; return 0; } /* an alias page */
                continue;
            }
            if (is_req(r, rn, "nf") || is_req(r, rn, "EX")) { nofill = 1; par_break(out); continue; }
            if (is_req(r, rn, "fi") || is_req(r, rn, "EE")) { nofill = 0; par_break(out); continue; }
            if (nofill) continue;
            if (is_req(r, rn, "SH") || is_req(r, rn, "SS")) {
                par_break(out);
                if (restn) {
                    const char *a[16];
                    size_t l[16];
                    int na = macro_args(rest, restn, a, l, 16);
                    for (int j = 0; j < na; j++) { space(out); roff_text(a[j], l[j], out); }
                    par_break(out);
                } else heading_next = 1;
                continue;
            }
            if (is_req(r, rn, "TP") || is_req(r, rn, "TQ")) { par_break(out); tag_next = 1; continue; }
            if (is_req(r, rn, "IP") || is_req(r, rn, "HP")) {
                par_break(out);
                const char *a[4];
                size_t l[4];
                int na = macro_args(rest, restn, a, l, 4);
                pq_buf tag = {0};
                if (na) roff_text(a[0], l[0], &tag);
                /* a bullet, dash or number label is dropped; a word label is its own line */
                int label = tag.len && !(tag.len <= 4 && (isdigit((unsigned char)tag.data[0]) || tag.data[0] == '-' ||
                                                          tag.data[0] == '*' || (unsigned char)tag.data[0] == 0xE2));
                if (label) { pq_buf_put(out, tag.data, tag.len); par_break(out); }
                pq_buf_free(&tag);
                continue;
            }
            if (is_req(r, rn, "PP") || is_req(r, rn, "P") || is_req(r, rn, "LP") || is_req(r, rn, "sp") ||
                is_req(r, rn, "br") || is_req(r, rn, "RS") || is_req(r, rn, "RE") || is_req(r, rn, "bp") ||
                is_req(r, rn, "SY") || is_req(r, rn, "YS")) {
                par_break(out);
                continue;
            }
            int font = is_req(r, rn, "B") || is_req(r, rn, "I") || is_req(r, rn, "SM") || is_req(r, rn, "SB") ||
                       is_req(r, rn, "UR") || is_req(r, rn, "MT") || is_req(r, rn, "OP");
            int alt = rn == 2 && strchr("BIR", r[0]) && strchr("BIR", r[1]) && r[0] != r[1];
            if (is_req(r, rn, "UR") || is_req(r, rn, "MT")) continue; /* the address; the link text follows */
            if (is_req(r, rn, "UE") || is_req(r, rn, "ME")) {
                const char *a[2];
                size_t l[2];
                if (macro_args(rest, restn, a, l, 2)) roff_text(a[0], l[0], out); /* trailing punctuation */
                continue;
            }
            if (font || alt) {
                const char *a[16];
                size_t l[16];
                int na = macro_args(rest, restn, a, l, 16);
                space(out);
                for (int j = 0; j < na; j++) {
                    if (font && j) pq_buf_putc(out, ' ');
                    roff_text(a[j], l[j], out);
                }
                if (tag_next || heading_next) { par_break(out); tag_next = heading_next = 0; }
                continue;
            }
            continue; /* other requests: nothing to keep */
        }
        if (nofill) continue;
        if (pn && (p[0] == ' ' || p[0] == '\t')) par_break(out); /* a leading space breaks the line */
        if (!pn) { par_break(out); continue; }
        space(out);
        roff_text(p, pn, out);
        if (tag_next || heading_next) { par_break(out); tag_next = heading_next = 0; }
    }
    return 0;
}

int pq_decode_man(pq_decode_ctx *ctx) { return pq_decode_tree(ctx, pq_man_to_text); }
