/* vimhelp.c — Vim help files (vim-runtime's doc/<name>.txt) to paragraphs.
 *
 * The format (Vim's :help helphelp): a file starts with its own tag line
 * "*name.txt*  For Vim version ..."; "*tag*" marks a jump target, "|tag|" a
 * link; a line ending in " >" (or a lone ">") starts an example, whose lines
 * are indented or blank and which ends at a line starting with "<" or at any
 * other line in column 0; a heading may end in " ~"; rows of "=" or "-"
 * separate sections; the last line is a "vim:...ft=help" modeline.
 *
 * Kept: the prose, hard-wrapped lines joined into one paragraph per block of
 * non-blank lines, link names as words. Dropped: examples (code blocks, as in
 * the other documentation decoders), tags, "~" heading marks, separators, the
 * modeline, and paragraphs that pq_text_looks_like_code() (key tables,
 * mappings written as prose blocks). Malformed: a file whose first line is not
 * a "*name*" tag line. */
#include <string.h>

#include "base/util.h"
#include "data/sources/source.h"

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* 1 if [s, s+n) is a "*tag*" or "|link|" token: the delimiter, at least one
 * character that is neither space nor the delimiter, the delimiter. */
static size_t delimited(const char *s, size_t n, char d) {
    if (n < 3 || s[0] != d) return 0;
    size_t k = 1;
    while (k < n && s[k] != d && !is_space(s[k])) k++;
    return k > 1 && k < n && s[k] == d ? k + 1 : 0;
}

/* One text line: tags dropped, links to their name, appended to para. */
static void text_line(const char *s, size_t n, pq_buf *para) {
    while (n && is_space(s[n - 1])) n--;
    if (n >= 2 && s[n - 1] == '~' && is_space(s[n - 2])) n -= 2; /* heading mark */
    if (para->len) pq_buf_putc(para, '\n');
    for (size_t i = 0; i < n;) {
        int at_word = i == 0 || is_space(s[i - 1]);
        size_t t = at_word ? delimited(s + i, n - i, '*') : 0;
        if (t && (i + t == n || is_space(s[i + t]))) { i += t; continue; }
        size_t l = delimited(s + i, n - i, '|');
        if (l) { pq_buf_put(para, s + i + 1, l - 2); i += l; continue; }
        pq_buf_putc(para, s[i++]);
    }
}

/* Ends a paragraph: kept (lines joined by spaces, one line of out) unless it
 * reads as code or holds no words. */
static void flush(pq_buf *para, pq_buf *out) {
    if (para->len && !pq_text_looks_like_code(para->data, para->len) && pq_text_words(para->data, para->len)) {
        for (size_t i = 0; i < para->len; i++) pq_buf_putc(out, para->data[i] == '\n' ? ' ' : para->data[i]);
        pq_buf_putc(out, '\n');
    }
    pq_buf_clear(para);
}

static int separator(const char *s, size_t n) {
    while (n && is_space(s[n - 1])) n--;
    if (n < 10 || (s[0] != '=' && s[0] != '-')) return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] != s[0]) return 0;
    return 1;
}

static int modeline(const char *s, size_t n) {
    return memmem(s, n, "vim:", 4) && memmem(s, n, "ft=help", 7);
}

/* A line that starts an example: its last non-space character is '>' after a
 * space, or it is ">" alone; returns the length without the marker. */
static size_t example_start(const char *s, size_t n, int *starts) {
    while (n && is_space(s[n - 1])) n--;
    *starts = n && s[n - 1] == '>' && (n == 1 || is_space(s[n - 2]));
    return *starts ? n - 1 : n;
}

int pq_vimhelp_to_text(const char *what, const char *in, size_t n, pq_buf *out) {
    const char *nl = memchr(in, '\n', n);
    size_t first = nl ? (size_t)(nl - in) : n;
    if (!delimited(in, first, '*'))
        return pq_fail("%s: not a Vim help file (the first line is not a *name* tag line)", what);
    pq_buf para = {0};
    int in_example = 0;
    for (size_t i = 0; i < n;) {
        const char *e = memchr(in + i, '\n', n - i);
        size_t len = e ? (size_t)(e - in) - i : n - i;
        const char *s = in + i;
        i += len + 1;
        if (in_example) {
            if (!len || is_space(s[0])) continue;
            in_example = 0;
            if (s[0] == '<') s++, len--;
        }
        size_t k = 0;
        while (k < len && is_space(s[k])) k++;
        if (k == len || separator(s, len) || modeline(s, len)) {
            flush(&para, out);
            continue;
        }
        int starts;
        len = example_start(s, len, &starts);
        if (len) text_line(s, len, &para);
        if (starts) {
            flush(&para, out);
            in_example = 1;
        }
    }
    flush(&para, out);
    pq_buf_free(&para);
    return 0;
}

int pq_decode_vimhelp(pq_decode_ctx *ctx) { return pq_decode_tree(ctx, pq_vimhelp_to_text); }
