/* rst.c — reStructuredText (the Linux kernel's Documentation/, Sphinx
 * _sources/) to paragraphs of text.
 *
 * Kept: paragraphs, section titles (adornment lines dropped), list items and
 * field bodies (markers dropped), definition terms, the bodies of
 * admonitions and of description directives (.. function::, .. note::, ...).
 * Dropped: literal blocks (after "::") and doctest blocks (code), comments,
 * hyperlink targets, substitution definitions, tables (grid and simple), and
 * the bodies of directives that hold code, pictures, tables or tooling
 * (SKIP_BODY). Inline markup is reduced to its text: ``x`` -> x, :role:`t <x>`
 * -> t, `t <url>`_ -> t, *e* and **s** -> e and s. rST has no way to be
 * malformed beyond its bytes (pq_doc_read), so this never fails. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "data/sources/source.h"

/* Directives whose body is not prose (the argument is dropped for all). */
static const char *SKIP_BODY[] = {
    "code-block", "code",          "sourcecode",     "literalinclude", "toctree",        "image",        "figure",
    "include",    "raw",           "list-table",     "csv-table",      "table",          "flat-table",   "math",
    "highlight",  "index",         "contents",       "productionlist", "doctest",        "testcode",     "testoutput",
    "testsetup",  "testcleanup",   "graphviz",       "digraph",        "parsed-literal", "kernel-doc",   "kernel-abi",
    "kernel-feat", "kernel-include", "kernel-figure", "kernel-render",  "tabularcolumns", "sectionauthor", "moduleauthor",
    "codeauthor", "only",          "ifconfig",       "autoclass",      "automodule",     "autofunction", "cssclass",
    "role",       "default-role",  "currentmodule",  "module",         "program",        "literal",      "code-block::",
    "c:namespace", "c:namespace-push", "c:namespace-pop", "maxdepth",   "ditaa",          "plot",         "youtube",
    "audit-event", "availability", "impl-detail",    "seqdiag",        "blockdiag",      "kfigure",      "ssh"};
/* Directives whose argument is prose too (admonitions and the like). */
static const char *PROSE_ARG[] = {"note",    "warning", "tip",     "important", "attention", "caution", "hint",
                                  "danger",  "error",   "admonition", "seealso", "topic",    "sidebar", "rubric",
                                  "epigraph", "centered", "attention"};

static int in_list(const char *s, size_t n, const char **list, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (strlen(list[i]) == n && !strncmp(list[i], s, n)) return 1;
    return 0;
}

static int is_punct_adorn(char c) { return c && strchr("=-~^\"'`#*+:._<>!$%&,/;?@[\\]{|}", c) != NULL; }

/* A line of one repeated punctuation character (section adornment, transition). */
static int adornment(const char *t, size_t n) {
    if (n < 3 || !is_punct_adorn(t[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (t[i] != t[0]) return 0;
    return 1;
}

/* "=====  ====  ===": a simple table's border. */
static int simple_table_border(const char *t, size_t n) {
    int groups = 0;
    size_t i = 0;
    while (i < n) {
        if (t[i] != '=') return 0;
        while (i < n && t[i] == '=') i++;
        groups++;
        if (i < n && t[i] != ' ') return 0;
        while (i < n && t[i] == ' ') i++;
    }
    return groups >= 2;
}

/* Length of a list marker at t ("- ", "* ", "#. ", "12. ", "(a) ", "a) ", "• "), or 0. */
static size_t list_marker(const char *t, size_t n) {
    if (n >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ') return 2;
    if (n >= 4 && !memcmp(t, "\xE2\x80\xA2 ", 4)) return 4;
    size_t i = 0;
    int paren = t[0] == '(';
    if (paren) i++;
    size_t s = i;
    if (i < n && t[i] == '#') i++;
    else if (i < n && isdigit((unsigned char)t[i])) while (i < n && isdigit((unsigned char)t[i])) i++;
    else if (i < n && isalpha((unsigned char)t[i]) && i + 1 < n && (t[i + 1] == '.' || t[i + 1] == ')')) i++;
    if (i == s || i - s > 3 || i >= n) return 0;
    if (paren ? t[i] != ')' : (t[i] != '.' && t[i] != ')')) return 0;
    i++;
    return i < n && t[i] == ' ' ? i + 1 : 0;
}

/* Length of a field marker ":name: " at t, or 0 (":role:`" is inline markup). */
static size_t field_marker(const char *t, size_t n) {
    if (n < 3 || t[0] != ':' || t[1] == ' ' || t[1] == ':') return 0;
    for (size_t i = 1; i < n; i++) {
        if (t[i] == '`') return 0;
        if (t[i] == ':' && t[i - 1] != '\\') {
            if (i + 1 == n) return n;
            return t[i + 1] == ' ' ? i + 2 : 0;
        }
    }
    return 0;
}

static int opens(char prev) { return !prev || isspace((unsigned char)prev) || strchr("([{<'\"-/:", prev); }
static int ends(char next) { return !next || isspace((unsigned char)next) || strchr(")]}>'\".,;:!?-/\\", next); }

/* Inline markup of one paragraph to text, appended to out. */
static void rst_inline(const char *p, size_t n, pq_buf *out) {
    size_t i = 0;
    while (i < n) {
        char c = p[i], prev = i ? p[i - 1] : 0;
        if (c == '`' && i + 1 < n && p[i + 1] == '`') {
            const char *e = memmem(p + i + 2, n - i - 2, "``", 2);
            if (e) {
                pq_buf_put(out, p + i + 2, (size_t)(e - p) - i - 2);
                i = (size_t)(e - p) + 2;
                continue;
            }
        }
        if (c == ':' && opens(prev)) { /* :role:`...` -> drop the role */
            size_t k = i + 1;
            while (k < n && (isalnum((unsigned char)p[k]) || strchr("_.+:-", p[k]))) k++;
            if (k > i + 1 && k + 1 < n && p[k - 1] == ':' && p[k] == '`') { i = k; continue; }
        }
        if (c == '`') {
            const char *e = memchr(p + i + 1, '`', n - i - 1);
            if (e) {
                const char *a = p + i + 1, *b = e;
                if (b > a && b[-1] == '>') { /* text <target> */
                    const char *lt = b - 1;
                    while (lt > a && *lt != '<') lt--;
                    if (*lt == '<') {
                        const char *te = lt;
                        while (te > a && te[-1] == ' ') te--;
                        if (te > a) b = te;
                        else a = lt + 1, b = b - 1;
                    }
                }
                if (a < b && (*a == '!' || *a == '~')) {
                    if (*a == '~') {
                        const char *dot = b;
                        while (dot > a && dot[-1] != '.') dot--;
                        a = dot > a ? dot : a + 1;
                    } else a++;
                }
                pq_buf_put(out, a, (size_t)(b - a));
                i = (size_t)(e - p) + 1;
                while (i < n && p[i] == '_') i++;
                continue;
            }
        }
        if (c == '*' && opens(prev)) {
            size_t m = i + 1 < n && p[i + 1] == '*' ? 2 : 1;
            if (i + m < n && p[i + m] != ' ' && p[i + m] != '*') {
                const char *e = memmem(p + i + m, n - i - m, m == 2 ? "**" : "*", m);
                if (e && e[-1] != ' ' && ends((size_t)(e - p) + m < n ? e[m] : 0)) {
                    pq_buf_put(out, p + i + m, (size_t)(e - p) - i - m);
                    i = (size_t)(e - p) + m;
                    continue;
                }
            }
        }
        if (c == '|' && opens(prev) && i + 1 < n && p[i + 1] != ' ') {
            const char *e = memchr(p + i + 1, '|', n - i - 1);
            if (e && e[-1] != ' ' && ends((size_t)(e - p) + 1 < n ? e[1] : 0)) {
                pq_buf_put(out, p + i + 1, (size_t)(e - p) - i - 1);
                i = (size_t)(e - p) + 1;
                while (i < n && p[i] == '_') i++;
                continue;
            }
        }
        if (c == '[' && i + 2 < n) { /* footnote and citation references [1]_ [#x]_ [*]_ [CIT]_ */
            const char *e = memchr(p + i + 1, ']', PQ_MIN(n - i - 1, (size_t)40));
            if (e && (size_t)(e - p) + 1 < n && e[1] == '_' && !memchr(p + i, ' ', (size_t)(e - p) - i)) {
                while (out->len && out->data[out->len - 1] == ' ') out->len--;
                i = (size_t)(e - p) + 2;
                continue;
            }
        }
        if (c == '\\' && i + 1 < n) {
            if (p[i + 1] != ' ') pq_buf_putc(out, p[i + 1]);
            i += 2;
            continue;
        }
        pq_buf_putc(out, c);
        i++;
    }
}

typedef struct {
    pq_buf par;       /* the paragraph being collected, lines joined by spaces */
    int par_indent;   /* its content indentation, -1 when empty */
    int par_lines;
    int literal_next; /* the paragraph ended in "::": the next indented block is code */
    int literal_indent;
    pq_buf *out;
} rst_state;

static void flush(rst_state *st) {
    if (st->par.len) {
        pq_buf *p = &st->par;
        pq_buf_rtrim(p);
        if (p->len >= 2 && !memcmp(p->data + p->len - 2, "::", 2)) {
            st->literal_next = 1;
            st->literal_indent = st->par_indent;
            p->len -= 2; /* "text::" -> "text:", "text ::" -> "text" */
            if (p->len && p->data[p->len - 1] != ' ') pq_buf_putc(p, ':');
            pq_buf_rtrim(p);
        }
        rst_inline(p->data, p->len, st->out);
        pq_buf_putc(st->out, '\n');
    }
    pq_buf_clear(&st->par);
    st->par_indent = -1;
    st->par_lines = 0;
}

static void add_text(rst_state *st, int indent, const char *t, size_t n) {
    if (st->par_indent < 0) st->par_indent = indent;
    if (st->par.len) pq_buf_putc(&st->par, ' ');
    pq_buf_put(&st->par, t, n);
    st->par_lines++;
}

int pq_rst_to_text(const char *what, const char *s, size_t n, pq_buf *out) {
    (void)what;
    rst_state st = {.par_indent = -1, .out = out};
    int skip_indent = -1;     /* >= 0: skip blank lines and lines indented deeper */
    int skip_to_blank = 0;    /* doctest block, grid table */
    int simple_table = 0;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        /* indentation (tabs to multiples of 8) and the trimmed text */
        int ind = 0;
        size_t a = i;
        for (; a < e && (s[a] == ' ' || s[a] == '\t'); a++) ind = s[a] == '\t' ? (ind / 8 + 1) * 8 : ind + 1;
        size_t b = e;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r')) b--;
        const char *t = s + a;
        size_t tn = b - a;
        int blank = tn == 0;
        size_t next = e + 1;
        i = next;

        if (skip_indent >= 0) {
            if (blank || ind > skip_indent) continue;
            skip_indent = -1;
        }
        if (skip_to_blank) {
            if (!blank) continue;
            skip_to_blank = 0;
        }
        if (simple_table) {
            if (!blank && ind <= simple_table - 1 && simple_table_border(t, tn)) {
                /* the closing border is followed by a blank line or the end */
                size_t k = next;
                while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) k++;
                if (k >= n || s[k] == '\n') simple_table = 0;
            }
            continue;
        }
        if (blank) {
            flush(&st);
            if (st.literal_next) {
                skip_indent = st.literal_indent;
                st.literal_next = 0;
            }
            continue;
        }
        st.literal_next = 0;
        if (simple_table_border(t, tn)) { flush(&st); simple_table = ind + 1; continue; }
        if (adornment(t, tn)) { flush(&st); continue; }
        if (tn >= 2 && (!memcmp(t, "+-", 2) || !memcmp(t, "+=", 2))) { flush(&st); skip_to_blank = 1; continue; }
        if (tn >= 3 && !memcmp(t, ">>>", 3)) { flush(&st); skip_to_blank = 1; continue; }
        if (tn >= 2 && t[0] == '.' && t[1] == '.' && (tn == 2 || t[2] == ' ')) {
            flush(&st);
            const char *d = t + 2;
            while (d < t + tn && *d == ' ') d++;
            const char *dc = memmem(d, (size_t)(t + tn - d), "::", 2);
            size_t dn = dc ? (size_t)(dc - d) : 0;
            int is_directive = dc && dn > 0;
            for (size_t k = 0; is_directive && k < dn; k++)
                if (!(isalnum((unsigned char)d[k]) || strchr("-_:+.", d[k]))) is_directive = 0;
            if (!is_directive) { skip_indent = ind; continue; } /* comment, target, footnote, substitution */
            /* the domain prefix ("py:", "c:") does not change what the body is */
            const char *base = d;
            for (const char *q = d; q < d + dn; q++)
                if (*q == ':') base = q + 1;
            size_t bn = (size_t)(d + dn - base);
            if (in_list(base, bn, SKIP_BODY, PQ_COUNT(SKIP_BODY)) || in_list(d, dn, SKIP_BODY, PQ_COUNT(SKIP_BODY))) {
                skip_indent = ind;
                continue;
            }
            if (in_list(base, bn, PROSE_ARG, PQ_COUNT(PROSE_ARG))) {
                const char *arg = dc + 2;
                while (arg < t + tn && *arg == ' ') arg++;
                if (arg < t + tn) add_text(&st, ind + 3, arg, (size_t)(t + tn - arg));
            }
            continue; /* the body, indented, is read as text */
        }
        size_t m = list_marker(t, tn);
        if (!m && tn >= 2 && t[0] == '|' && t[1] == ' ') m = 2;
        if (m) {
            flush(&st);
            add_text(&st, ind + (int)m, t + m, tn - m);
            continue;
        }
        size_t f = field_marker(t, tn);
        if (f) {
            flush(&st);
            if (f < tn) add_text(&st, ind + 1, t + f, tn - f);
            else st.par_indent = ind + 1;
            continue;
        }
        if (st.par_indent >= 0 && ind != st.par_indent) {
            /* deeper after one line: a definition term and its body; shallower: a new block */
            if (!(ind > st.par_indent && st.par_lines == 0)) flush(&st);
        }
        add_text(&st, ind, t, tn);
    }
    flush(&st);
    pq_buf_free(&st.par);
    return 0;
}

int pq_decode_rst(pq_decode_ctx *ctx) { return pq_decode_tree(ctx, pq_rst_to_text); }
