/* sword.c — the World English Bible of Debian's sword-text-web (a SWORD zText
 * module) without the SWORD library.
 *
 * Per testament (ot, nt), three files, all integers little-endian:
 *   <t>.bzs  block index: per block u32 offset into .bzz, u32 compressed size,
 *            u32 uncompressed size (12 bytes)
 *   <t>.bzz  the blocks, each one zlib stream
 *   <t>.bzv  verse index: per entry u32 block, u32 offset in the uncompressed
 *            block, u16 size (10 bytes), in versification order. Besides verses
 *            there are heading entries: module, testament, book and chapter.
 * Entries are OSIS XML. Book headings carry <div type="book" osisID="Ruth">,
 * chapter headings <chapter osisID="Ruth.1">; everything after a chapter
 * heading up to the next heading is its verses. We emit one document per
 * chapter, one verse per line, with notes, titles and tags removed. */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/sources/source.h"

static int tag_is(const char *t, size_t n, const char *name) {
    size_t k = strlen(name);
    return n >= k && !memcmp(t, name, k) && (n == k || t[k] == ' ' || t[k] == '/' || t[k] == '>');
}

static void put_space(pq_buf *out) {
    if (out->len && out->data[out->len - 1] != ' ') pq_buf_putc(out, ' ');
}

void pq_osis_strip(const char *x, size_t n, pq_buf *out) {
    size_t start = out->len;
    int skip = 0;       /* depth inside <note> or <title> */
    int after_note = 0; /* a note was just removed: "Christ,<note/>to" needs a space back */
    size_t i = 0;
    while (i < n) {
        char c = x[i];
        if (c == '<') {
            size_t e = i + 1;
            while (e < n && x[e] != '>') e++;
            const char *t = x + i + 1;
            size_t tn = e - i - 1;
            int closing = tn && t[0] == '/', selfclosing = tn && t[tn - 1] == '/';
            const char *name = closing ? t + 1 : t;
            size_t nn = closing ? tn - 1 : tn;
            if (tag_is(name, nn, "note") || tag_is(name, nn, "title")) {
                if (closing) {
                    skip = skip > 0 ? skip - 1 : 0;
                    after_note = !skip;
                }
                else if (!selfclosing) skip++;
            } else if (!skip && (tag_is(name, nn, "lb") || tag_is(name, nn, "l") || tag_is(name, nn, "p") ||
                                 tag_is(name, nn, "div") || tag_is(name, nn, "milestone") || tag_is(name, nn, "lg"))) {
                put_space(out);
            }
            i = e < n ? e + 1 : n;
            continue;
        }
        if (skip) { i++; continue; }
        if (after_note) {
            int word = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       (i + 2 < n && !memcmp(x + i, "\xE2\x80\x9C", 3)); /* opening curly quote */
            if (word) put_space(out);
            after_note = 0;
        }
        if (c == '&') {
            static const char *ent[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
            size_t k;
            for (k = 0; k < PQ_COUNT(ent); k++) {
                size_t l = strlen(ent[k][0]);
                if (i + l <= n && !memcmp(x + i, ent[k][0], l)) {
                    pq_buf_puts(out, ent[k][1]);
                    i += l;
                    break;
                }
            }
            if (k < PQ_COUNT(ent)) continue;
        }
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') put_space(out);
        else pq_buf_putc(out, c);
        i++;
    }
    /* trim what we added */
    size_t a = start;
    while (a < out->len && out->data[a] == ' ') a++;
    if (a > start) {
        memmove(out->data + start, out->data + a, out->len - a);
        out->len -= a - start;
    }
    while (out->len > start && out->data[out->len - 1] == ' ') out->len--;
}

/* The value of attribute attr inside the first tag named tag that has it. */
static int find_attr(const char *x, size_t n, const char *tag, const char *must, const char *attr, char *val, size_t vcap) {
    size_t tl = strlen(tag);
    for (size_t i = 0; i + tl + 1 < n; i++) {
        if (x[i] != '<' || memcmp(x + i + 1, tag, tl) || x[i + 1 + tl] != ' ') continue;
        size_t e = i;
        while (e < n && x[e] != '>') e++;
        char t[1024];
        size_t len = PQ_MIN(e - i, sizeof t - 1);
        memcpy(t, x + i, len);
        t[len] = 0;
        if (must && !strstr(t, must)) continue;
        char pat[64];
        snprintf(pat, sizeof pat, " %s=\"", attr);
        char *p = strstr(t, pat);
        if (!p) continue;
        p += strlen(pat);
        char *q = strchr(p, '"');
        if (!q || (size_t)(q - p) >= vcap) continue;
        memcpy(val, p, (size_t)(q - p));
        val[q - p] = 0;
        return 1;
    }
    return 0;
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* An entry's text with the OSIS markup stripped, as one line of doc (an empty
 * verse adds nothing); verse is scratch. */
static void add_verse(pq_buf *verse, pq_buf *doc, const char *x, size_t n) {
    pq_buf_clear(verse);
    pq_osis_strip(x, n, verse);
    if (!verse->len) return;
    pq_buf_put(doc, verse->data, verse->len);
    pq_buf_putc(doc, '\n');
}

typedef struct {
    char book[64];
    int chapter;
    int in_chapter;
    pq_buf doc, verse, clean;
} web_state;

static int flush(web_state *st, pq_sink *sink) {
    if (!st->in_chapter || !st->doc.len) { pq_buf_clear(&st->doc); return 0; }
    char id[96];
    snprintf(id, sizeof id, "web/%s.%d", st->book, st->chapter);
    int rc = pq_sink_emit(sink, id, st->doc.data, st->doc.len, pq_split_bible_book_heldout(st->book));
    pq_buf_clear(&st->doc);
    return rc;
}

static int entry(web_state *st, const char *x, size_t n, pq_sink *sink) {
    char val[64];
    if (find_attr(x, n, "div", "type=\"book\"", "osisID", val, sizeof val)) {
        if (flush(st, sink)) return -1;
        snprintf(st->book, sizeof st->book, "%s", val);
        st->in_chapter = 0;
        return 0;
    }
    if (find_attr(x, n, "chapter", NULL, "osisID", val, sizeof val)) {
        if (flush(st, sink)) return -1;
        char *dot = strrchr(val, '.');
        st->chapter = dot ? atoi(dot + 1) : 0;
        st->in_chapter = st->book[0] != 0;
        return 0;
    }
    if (!st->in_chapter) return 0;
    add_verse(&st->verse, &st->doc, x, n);
    return 0;
}

/* Calls fn for every non-empty entry of one testament's block index (bzs),
 * entry index (bzv: 10-byte entries, or 12 for zCom4's .czv) and blocks (bzz). */
typedef int (*entry_fn)(void *ctx, const char *x, size_t n);

static int sword_entries(const char *bzs, const char *bzv, const char *bzz, size_t vsize, entry_fn fn, void *ctx) {
    size_t ns, nv, nz;
    char *s = NULL, *v = NULL, *z = NULL;
    int rc = -1;
    uint8_t *block = NULL;
    long cur = -1;
    if (!(s = pq_read_file(bzs, &ns)) || !(v = pq_read_file(bzv, &nv)) || !(z = pq_read_file(bzz, &nz))) goto out;
    if (ns % 12) { pq_fail("%s: size %zu is not a multiple of 12 (truncated?)", bzs, ns); goto out; }
    if (nv % vsize) { pq_fail("%s: size %zu is not a multiple of %zu (truncated?)", bzv, nv, vsize); goto out; }
    size_t nblocks = ns / 12;
    uLongf have = 0;
    for (size_t k = 0; k < nv / vsize; k++) {
        const uint8_t *r = (const uint8_t *)v + vsize * k;
        uint32_t b = le32(r), off = le32(r + 4);
        uint32_t size = vsize == 12 ? le32(r + 8) : ((uint32_t)r[8] | (uint32_t)r[9] << 8);
        if (!size) continue;
        if (b >= nblocks) { pq_fail("%s: entry %zu names block %u of %zu", bzv, k, b, nblocks); goto out; }
        if ((long)b != cur) {
            const uint8_t *br = (const uint8_t *)s + 12 * (size_t)b;
            uint32_t bo = le32(br), bc = le32(br + 4), bu = le32(br + 8);
            if ((size_t)bo + bc > nz) { pq_fail("%s: block %u extends past the end (truncated?)", bzz, b); goto out; }
            free(block);
            block = pq_malloc((size_t)bu + 1);
            have = bu;
            int zr = uncompress(block, &have, (const Bytef *)z + bo, bc);
            if (zr != Z_OK || have != bu) { pq_fail("%s: block %u does not inflate to %u bytes (zlib %d)", bzz, b, bu, zr); goto out; }
            cur = b;
        }
        if ((uLongf)off + size > have) { pq_fail("%s: entry %zu reaches past its block", bzv, k); goto out; }
        if (fn(ctx, (const char *)block + off, size)) goto out;
    }
    rc = 0;
out:
    free(s), free(v), free(z), free(block);
    return rc;
}

typedef struct {
    web_state *st;
    pq_sink *sink;
} web_run;

static int web_entry(void *vctx, const char *x, size_t n) {
    web_run *r = vctx;
    return entry(r->st, x, n, r->sink);
}

static int testament(web_state *st, const char *bzs, const char *bzv, const char *bzz, pq_sink *sink) {
    web_run r = {st, sink};
    if (sword_entries(bzs, bzv, bzz, 10, web_entry, &r)) return -1;
    int rc = flush(st, sink);
    st->in_chapter = 0;
    return rc;
}

/* files: ot.bzs ot.bzv ot.bzz nt.bzs nt.bzv nt.bzz */
int pq_decode_web(pq_decode_ctx *ctx) {
    if (ctx->nfiles != 6) return pq_fail("%s: the web decoder wants 6 files (ot/nt .bzs .bzv .bzz), got %d", ctx->name, ctx->nfiles);
    web_state st = {0};
    int rc = testament(&st, ctx->files[0], ctx->files[1], ctx->files[2], ctx->sink);
    if (!rc) {
        memset(st.book, 0, sizeof st.book);
        rc = testament(&st, ctx->files[3], ctx->files[4], ctx->files[5], ctx->sink);
    }
    pq_buf_free(&st.doc), pq_buf_free(&st.verse), pq_buf_free(&st.clean);
    return rc;
}

/* ---- commentaries (sword-comm-*: zCom and zCom4 modules, OSIS) -------------------------- */

/* One document per book and chapter as the module marks them
 * (<div type="book" osisID=..>, <chapter osisID="Book.N">), text before any
 * chapter mark going to chapter 0 (introductions); notes and titles removed.
 * Commentary on the Bible books held out of kjv and web is held out too. */
typedef struct {
    const char *source;
    pq_sink *sink;
    char book[64];
    int chapter;
    pq_buf doc, verse;
} comm_state;

static int comm_flush(comm_state *st) {
    if (st->doc.len && st->book[0] && pq_text_words(st->doc.data, st->doc.len) >= PQ_DOC_MIN_WORDS) {
        char id[160];
        snprintf(id, sizeof id, "%s/%s.%d", st->source, st->book, st->chapter);
        pq_buf_rtrim(&st->doc);
        if (pq_sink_emit(st->sink, id, st->doc.data, st->doc.len, pq_split_bible_book_heldout(st->book))) return -1;
    }
    pq_buf_clear(&st->doc);
    return 0;
}

static int comm_entry(void *vctx, const char *x, size_t n) {
    comm_state *st = vctx;
    char val[64];
    if (find_attr(x, n, "div", "type=\"book\"", "osisID", val, sizeof val)) {
        if (comm_flush(st)) return -1;
        snprintf(st->book, sizeof st->book, "%s", val);
        st->chapter = 0;
    }
    if (find_attr(x, n, "chapter", NULL, "osisID", val, sizeof val)) {
        char *dot = strrchr(val, '.');
        int ch = dot ? atoi(dot + 1) : 0;
        if (ch != st->chapter) {
            if (comm_flush(st)) return -1;
            st->chapter = ch;
        }
    }
    add_verse(&st->verse, &st->doc, x, n);
    return 0;
}

/* files: ot.Xzs ot.Xzv ot.Xzz nt.Xzs nt.Xzv nt.Xzz with X = b (zCom) or c (zCom4) */
int pq_decode_commentary(pq_decode_ctx *ctx) {
    if (ctx->nfiles != 6)
        return pq_fail("%s: the commentary decoder wants 6 files (ot/nt .bzs .bzv .bzz or .czs .czv .czz), got %d", ctx->name,
                       ctx->nfiles);
    comm_state st = {.source = ctx->name, .sink = ctx->sink};
    int rc = 0;
    for (int t = 0; t < 2 && !rc; t++) {
        const char *v = ctx->files[3 * t + 1];
        size_t vl = strlen(v);
        size_t vsize = vl > 4 && !strcmp(v + vl - 4, ".czv") ? 12 : 10;
        rc = sword_entries(ctx->files[3 * t], v, ctx->files[3 * t + 2], vsize, comm_entry, &st);
        if (!rc) rc = comm_flush(&st);
        st.book[0] = 0;
    }
    pq_buf_free(&st.doc), pq_buf_free(&st.verse);
    return rc;
}
