/* plaintext.c — sources that are already plain text: fortunes (fortunes,
 * fortunes-min), Project Gutenberg books that Go packages ship as test data,
 * and the Jargon File (jargon-text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/sources/source.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* A whole file, cleaned to UTF-8 with LF line ends and no BOM. */
static int read_clean(const char *path, pq_buf *out) {
    size_t n;
    char *raw = pq_read_file(path, &n);
    if (!raw) return -1;
    const char *s = raw;
    if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) s += 3, n -= 3;
    pq_text_append_clean(out, s, n);
    free(raw);
    pq_buf_cstr(out);
    return 0;
}

/* ---- fortunes -------------------------------------------------------------------- */

/* Entries are separated by lines holding only "%". Lines keep their breaks
 * (fortunes are often verse or dialogue); trailing spaces are dropped. */
int pq_fortune_emit(const char *label, const char *text, size_t n, pq_sink *sink) {
    pq_buf doc = {0};
    long k = 0;
    int rc = 0;
    size_t i = 0;
    while (i <= n && !rc) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        size_t z = e;
        while (z > i && (text[z - 1] == ' ' || text[z - 1] == '\t')) z--;
        int sep = (z - i == 1 && text[i] == '%');
        if (sep || e >= n) {
            if (!sep && z > i) { pq_buf_put(&doc, text + i, z - i); pq_buf_putc(&doc, '\n'); }
            pq_buf_rtrim(&doc);
            size_t a = 0;
            while (a < doc.len && doc.data[a] == '\n') a++;
            if (doc.len > a) {
                char id[128];
                snprintf(id, sizeof id, "fortunes/%s.%ld", label, k);
                rc = pq_sink_emit(sink, id, doc.data + a, doc.len - a, pq_split_fortune_heldout(doc.data + a, doc.len - a));
                k++;
            }
            pq_buf_clear(&doc);
        } else {
            pq_buf_put(&doc, text + i, z - i);
            pq_buf_putc(&doc, '\n');
        }
        if (e >= n) break;
        i = e + 1;
    }
    pq_buf_free(&doc);
    return rc;
}

/* files: the fortune text files (not the .dat indexes), any number */
int pq_decode_fortunes(pq_decode_ctx *ctx) {
    for (int f = 0; f < ctx->nfiles; f++) {
        pq_buf t = {0};
        if (read_clean(ctx->files[f], &t)) return -1;
        int rc = pq_fortune_emit(base_name(ctx->files[f]), t.data, t.len, ctx->sink);
        pq_buf_free(&t);
        if (rc) return pq_fail_in(ctx->files[f]);
    }
    return 0;
}

/* ---- Project Gutenberg -------------------------------------------------------------- */

static int starts(const char *s, size_t n, const char *p) {
    size_t k = strlen(p);
    return n >= k && !memcmp(s, p, k);
}

int pq_gutenberg_emit(const char *book, const char *text, size_t n, int target_words, pq_sink *sink) {
    /* body: after a "*** START OF" line, before "*** END OF" / "End of (the) Project Gutenberg" */
    size_t a = 0, z = n;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        if (starts(text + i, e - i, "*** START OF") || starts(text + i, e - i, "***START OF")) a = e + 1;
        else if (a <= i && (starts(text + i, e - i, "*** END OF") || starts(text + i, e - i, "End of the Project Gutenberg") ||
                            starts(text + i, e - i, "End of Project Gutenberg"))) {
            z = i;
            break;
        }
        i = e + 1;
    }
    if (a > z) a = z;
    pq_buf body = {0}, flow = {0}, doc = {0};
    for (size_t i = a; i < z; i++)
        if (text[i] != '_') pq_buf_putc(&body, text[i]); /* _italics_ */
    pq_text_reflow(&flow, body.data ? body.data : "", body.len);
    /* drop a leading "Produced by ..." credit paragraph */
    size_t p = 0;
    if (flow.len && starts(flow.data, flow.len, "Produced by")) {
        while (p < flow.len && flow.data[p] != '\n') p++;
        p++;
    }
    int rc = 0, part = 0;
    int64_t words = 0;
    while (p < flow.len && !rc) {
        size_t e = p;
        while (e < flow.len && flow.data[e] != '\n') e++;
        pq_buf_put(&doc, flow.data + p, e - p);
        pq_buf_putc(&doc, '\n');
        words += pq_text_words(flow.data + p, e - p);
        if (words >= target_words || e >= flow.len) {
            char id[128];
            snprintf(id, sizeof id, "gutenberg/%s.%d", book, part++);
            rc = pq_sink_emit(sink, id, doc.data, doc.len, 0);
            pq_buf_clear(&doc);
            words = 0;
        }
        p = e + 1;
    }
    if (!rc && doc.len) {
        char id[128];
        snprintf(id, sizeof id, "gutenberg/%s.%d", book, part++);
        rc = pq_sink_emit(sink, id, doc.data, doc.len, 0);
    }
    pq_buf_free(&body), pq_buf_free(&flow), pq_buf_free(&doc);
    return rc;
}

/* A short, stable book name from a file name: "pg1661.txt" -> "pg1661",
 * "Mark.Twain-Tom.Sawyer.txt" -> "Mark.Twain-Tom.Sawyer". */
static void book_name(const char *path, char *out, size_t cap) {
    snprintf(out, cap, "%s", base_name(path));
    char *dot = strrchr(out, '.');
    if (dot && !strcmp(dot, ".txt")) *dot = 0;
}

/* files: plain-text Gutenberg books, any number */
int pq_decode_gutenberg(pq_decode_ctx *ctx) {
    for (int f = 0; f < ctx->nfiles; f++) {
        pq_buf t = {0};
        if (read_clean(ctx->files[f], &t)) return -1;
        char book[128];
        book_name(ctx->files[f], book, sizeof book);
        int rc = pq_gutenberg_emit(book, t.data, t.len, 1000, ctx->sink);
        pq_buf_free(&t);
        if (rc) return pq_fail_in(ctx->files[f]);
    }
    return 0;
}

/* ---- the Jargon File --------------------------------------------------------------- */

/* Lines of box-drawing characters (U+2500..U+257F: E2 94 xx, E2 95 xx) are tables. */
static int has_box_drawing(const char *s, size_t n) {
    for (size_t i = 0; i + 1 < n; i++)
        if ((unsigned char)s[i] == 0xE2 && ((unsigned char)s[i + 1] == 0x94 || (unsigned char)s[i + 1] == 0x95)) return 1;
    return 0;
}

typedef struct {
    pq_buf raw, doc;
    char id[160];
    pq_sink *sink;
} jargon_doc;

static int jargon_flush(jargon_doc *j) {
    int rc = 0;
    if (j->id[0] && j->raw.len) {
        pq_buf_clear(&j->doc);
        pq_text_reflow(&j->doc, j->raw.data, j->raw.len);
        rc = pq_sink_emit(j->sink, j->id, j->doc.data ? j->doc.data : "", j->doc.len, 0);
    }
    pq_buf_clear(&j->raw);
    j->id[0] = 0;
    return rc;
}

int pq_jargon_emit(const char *text_in, size_t n_in, pq_sink *sink) {
    /* The file writes "Chapter\u00A01." and uses no-break spaces elsewhere: plain spaces here. */
    pq_buf plain = {0};
    for (size_t k = 0; k < n_in; k++) {
        if (k + 1 < n_in && (unsigned char)text_in[k] == 0xC2 && (unsigned char)text_in[k + 1] == 0xA0) {
            pq_buf_putc(&plain, ' ');
            k++;
        } else pq_buf_putc(&plain, text_in[k]);
    }
    const char *text = pq_buf_cstr(&plain);
    size_t n = plain.len;
    jargon_doc j = {.sink = sink};
    int rc = 0, in_glossary = 0, section = 0;
    long entry = 0;
    size_t i = 0;
    while (i < n && !rc) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        const char *s = text + i;
        size_t len = e - i;
        i = e + 1;
        if (starts(s, len, "Chapter ") || starts(s, len, "Appendix ")) {
            if ((rc = jargon_flush(&j))) break;
            in_glossary = 0;
            snprintf(j.id, sizeof j.id, "jargon/section.%d", section++);
            pq_buf_put(&j.raw, s, len);
            pq_buf_puts(&j.raw, "\n\n");
            continue;
        }
        if (len == 8 && starts(s, len, "Glossary")) { /* the list of terms, then the lexicon entries */
            if ((rc = jargon_flush(&j))) break;
            in_glossary = 1;
            continue;
        }
        size_t a = 0;
        while (a < len && s[a] == ' ') a++;
        if (a > 0 && a < len && s[a] == ':') { /* ":headword: rest" starts an entry */
            const char *c = memchr(s + a + 1, ':', len - a - 1);
            if (c) {
                if ((rc = jargon_flush(&j))) break;
                in_glossary = 0;
                snprintf(j.id, sizeof j.id, "jargon/entry.%ld", entry++);
                pq_buf_put(&j.raw, s + a + 1, (size_t)(c - s - a - 1));
                pq_buf_putc(&j.raw, ':');
                pq_buf_put(&j.raw, c + 1, (size_t)(s + len - c - 1));
                pq_buf_putc(&j.raw, '\n');
                continue;
            }
        }
        if (in_glossary || !j.id[0] || has_box_drawing(s, len)) continue;
        for (size_t k = 0; k < len; k++)
            if (s[k] != '{' && s[k] != '}') pq_buf_putc(&j.raw, s[k]); /* {cross reference} */
        pq_buf_putc(&j.raw, '\n');
    }
    if (!rc) rc = jargon_flush(&j);
    pq_buf_free(&j.raw), pq_buf_free(&j.doc), pq_buf_free(&plain);
    return rc;
}

/* files: jargon.txt.gz */
int pq_decode_jargon(pq_decode_ctx *ctx) {
    if (ctx->nfiles != 1) return pq_fail("%s: the jargon decoder wants 1 file (jargon.txt.gz), got %d", ctx->name, ctx->nfiles);
    size_t n;
    char *raw = pq_gunzip_file(ctx->files[0], &n);
    if (!raw) return -1;
    pq_buf t = {0};
    pq_text_append_clean(&t, raw, n);
    free(raw);
    int rc = pq_jargon_emit(pq_buf_cstr(&t), t.len, ctx->sink);
    pq_buf_free(&t);
    return rc ? pq_fail_in(ctx->files[0]) : 0;
}
