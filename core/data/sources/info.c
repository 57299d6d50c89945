/* info.c — GNU Info files (makeinfo output; bash-doc, gnu-standards, ...) to
 * one document per node.
 *
 * A file is a preamble and nodes, each introduced by the byte 0x1f and a
 * line; node lines start "File: x.info,  Node: Name,  Next: ...". Indirect
 * tables ("Indirect:") and tag tables ("Tag Table:") are skipped, as is the
 * preamble. In a node: the header line, menus ("* Menu:" to the end of the
 * node), title underlines (*** === --- ...) are dropped; "*note X::" and
 * "*Note Label: X." cross references become their label. Code blocks are
 * dropped: a paragraph indented 10 or more columns, or indented 5 or more that
 * pq_text_looks_like_code() (Info indents examples by 5 inside text and by 10
 * inside tables, whose own bodies are indented 5). Malformed: a node whose
 * first line is not a "File:" line. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "data/sources/source.h"

static int underline(const char *t, size_t n) {
    if (n < 2 || !strchr("*=-.", t[0])) return 0;
    for (size_t i = 1; i < n; i++)
        if (t[i] != t[0]) return 0;
    return 1;
}

/* Cross references to their label, appended to out. */
static void info_line(const char *p, size_t n, pq_buf *out) {
    size_t i = 0;
    while (i < n) {
        if (i + 6 <= n && (!memcmp(p + i, "*note ", 6) || !memcmp(p + i, "*Note ", 6))) {
            i += 6;
            /* label up to "::" (the label is the node) or ":" (label: node.) */
            size_t k = i;
            while (k < n && p[k] != ':') k++;
            pq_buf_put(out, p + i, k - i);
            if (k + 1 < n && p[k + 1] == ':') { i = k + 2; continue; }
            /* skip the target node name up to . or , */
            k++;
            while (k < n && p[k] != '.' && p[k] != ',') k++;
            i = k < n && p[k] == ',' ? k : k + 1 <= n ? k + 1 : n;
            if (k < n && p[k] == '.') pq_buf_putc(out, '.');
            continue;
        }
        pq_buf_putc(out, p[i]);
        i++;
    }
}

/* One paragraph (lines [p, p+n)) to out, unless it is code. */
static void info_paragraph(const char *p, size_t n, pq_buf *out) {
    size_t min_ind = (size_t)-1;
    size_t i = 0;
    while (i < n) {
        size_t e = i, ind = 0;
        while (e < n && p[e] != '\n') e++;
        while (i + ind < e && p[i + ind] == ' ') ind++;
        if (i + ind < e && ind < min_ind) min_ind = ind;
        i = e + 1;
    }
    if (min_ind == (size_t)-1) return;
    if (min_ind >= 10 || (min_ind >= 5 && pq_text_looks_like_code(p, n))) return;
    /* lines joined first: a cross reference may span two */
    pq_buf joined = {0};
    i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && p[e] != '\n') e++;
        if (joined.len) pq_buf_putc(&joined, ' ');
        pq_buf_put(&joined, p + i, e - i);
        i = e + 1;
    }
    info_line(joined.data ? joined.data : "", joined.len, out);
    pq_buf_free(&joined);
    pq_buf_putc(out, '\n');
}

/* A node's text (after its header line) to paragraphs. */
static void info_node_text(const char *s, size_t n, pq_buf *out) {
    pq_buf par = {0};
    size_t i = 0;
    const char *prev = NULL;
    size_t prevn = 0;
    while (i <= n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        const char *t = s + i;
        size_t tn = e - i;
        while (tn && (t[tn - 1] == ' ' || t[tn - 1] == '\r')) tn--;
        i = e + 1;
        if (tn >= 7 && !memcmp(t, "* Menu:", 7)) break;
        size_t k = 0;
        while (k < tn && t[k] == ' ') k++;
        if (k == tn) {
            if (par.len) info_paragraph(par.data, par.len, out);
            pq_buf_clear(&par);
            prev = NULL;
            if (e >= n) break;
            continue;
        }
        if (underline(t + k, tn - k) && prev && tn - k + 2 >= prevn) {
            /* the line before was a title: its own paragraph */
            if (par.len) info_paragraph(par.data, par.len, out);
            pq_buf_clear(&par);
            prev = NULL;
            continue;
        }
        pq_buf_put(&par, t, tn);
        pq_buf_putc(&par, '\n');
        prev = t + k, prevn = tn - k;
        if (e >= n) break;
    }
    if (par.len) info_paragraph(par.data, par.len, out);
    pq_buf_free(&par);
}

int pq_info_nodes(const char *what, const char *s, size_t n, pq_info_node_fn fn, void *ctx) {
    const char *p = memchr(s, 0x1f, n);
    pq_buf text = {0};
    int rc = 0;
    while (p && !rc) {
        const char *end = memchr(p + 1, 0x1f, n - (size_t)(p + 1 - s));
        const char *b = p + 1, *be = end ? end : s + n;
        while (b < be && (*b == '\n' || *b == '\f' || *b == '\r')) b++;
        const char *nl = memchr(b, '\n', (size_t)(be - b));
        const char *hend = nl ? nl : be;
        size_t hn = (size_t)(hend - b);
        p = end;
        if (b == be || (hn >= 9 && !memcmp(b, "Indirect:", 9)) || (hn >= 10 && !memcmp(b, "Tag Table:", 10)) ||
            (hn >= 13 && !memcmp(b, "End Tag Table", 13)) || (hn >= 15 && !memcmp(b, "Local Variables", 15)))
            continue;
        if (hn < 5 || memcmp(b, "File:", 5))
            { rc = pq_fail("%s: node at byte %zu does not start with a \"File:\" line", what, (size_t)(b - s)); break; }
        const char *node = memmem(b, hn, "Node: ", 6);
        char name[256] = "?";
        if (node) {
            node += 6;
            const char *ne = node;
            while (ne < hend && *ne != ',' && *ne != '\t') ne++;
            snprintf(name, sizeof name, "%.*s", (int)PQ_MIN((size_t)(ne - node), sizeof name - 1), node);
        }
        pq_buf_clear(&text);
        if (nl) info_node_text(nl + 1, (size_t)(be - nl - 1), &text);
        rc = fn(ctx, name, text.data ? text.data : "", text.len);
    }
    pq_buf_free(&text);
    return rc;
}

typedef struct {
    pq_decode_ctx *ctx;
    const char *file;
    pq_buf tidy, id;
} info_run;

static int info_emit(void *vctx, const char *node, const char *text, size_t n) {
    info_run *r = vctx;
    pq_buf_clear(&r->tidy);
    pq_doc_tidy(text, n, &r->tidy);
    if (pq_text_words(r->tidy.data ? r->tidy.data : "", r->tidy.len) < PQ_DOC_MIN_WORDS) return 0;
    pq_buf_clear(&r->id);
    pq_buf_printf(&r->id, "%s/%s#%s", r->ctx->name, r->file, node);
    const char *id = pq_buf_cstr(&r->id);
    return pq_sink_emit(r->ctx->sink, id, r->tidy.data, r->tidy.len, pq_split_doc_heldout(id));
}

/* Texinfo marks index nodes with "\0\b[index\0\b]"; those are the only NUL
 * bytes an Info file has. Removes them in place; returns the new length. */
static size_t strip_index_markers(char *s, size_t n) {
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && s[i] == 0 && s[i + 1] == '\b' && s[i + 2] == '[') {
            const char *e = memmem(s + i + 3, n - i - 3, "\0\b]", 3);
            if (e) { i = (size_t)(e - s) + 3; continue; }
        }
        s[w++] = s[i++];
    }
    return w;
}

int pq_decode_info(pq_decode_ctx *ctx) {
    pq_buf raw = {0};
    info_run r = {.ctx = ctx};
    int rc = 0;
    for (int f = 0; f < ctx->nfiles && !rc; f++) {
        if (pq_doc_read_nul(ctx->files[f], &raw, 1)) { rc = -1; break; }
        raw.len = strip_index_markers(raw.data, raw.len);
        if (memchr(raw.data, 0, raw.len)) { rc = pq_fail("%s: NUL byte outside an index marker (corrupt file?)", ctx->files[f]); break; }
        const char *path = ctx->paths ? ctx->paths[f] : ctx->files[f];
        const char *base = strrchr(path, '/');
        r.file = base ? base + 1 : path;
        if (!memchr(raw.data, 0x1f, raw.len)) { rc = pq_fail("%s: no Info nodes (no 0x1f separator)", ctx->files[f]); break; }
        rc = pq_info_nodes(ctx->files[f], raw.data, raw.len, info_emit, &r);
    }
    pq_buf_free(&raw), pq_buf_free(&r.tidy), pq_buf_free(&r.id);
    return rc;
}
