/* rdata.c — Jane Austen's novels from Debian's r-cran-janeaustenr, read
 * without R.
 *
 * An R package's data/ holds a lazy-load database: Rdata.rdx is a gzip file
 * with one serialized R object, a list (variables, references, compressed)
 * where variables maps each object name to an integer pair (offset, length)
 * into Rdata.rdb. Each rdb slice is a 4-byte big-endian uncompressed length and
 * a zlib stream (compressed = TRUE; type 2/3 add a byte: 'Z' zlib, '2' bzip2,
 * '0' stored). Inside is R's XDR serialization (format 2 or 3):
 *   "X\n", int version, int writer R version, int min reader version,
 *   [version 3: int n, n bytes native encoding], then one item.
 * An item starts with an int of flags: type (low 8 bits), has-attributes
 * (bit 9), has-tag (bit 10); payloads are big-endian ints/doubles, lengths
 * first, strings as CHARSXP (length -1 = NA). We read the subset that lists,
 * vectors, symbols, pairlists and references need. Each novel is a character
 * vector of hard-wrapped lines with "" between paragraphs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bzlib.h>
#include <zlib.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/sources/source.h"

enum { NILSXP = 0, SYMSXP = 1, LISTSXP = 2, CLOSXP = 3, ENVSXP = 4, PROMSXP = 5, LANGSXP = 6, CHARSXP = 9, LGLSXP = 10,
       INTSXP = 13, REALSXP = 14, CPLXSXP = 15, STRSXP = 16, DOTSXP = 17, VECSXP = 19, EXPRSXP = 20, RAWSXP = 24,
       BASENAMESPACE_SXP = 247, EMPTYENV_SXP = 242, BASEENV_SXP = 241, GLOBALENV_SXP = 253, UNBOUNDVALUE_SXP = 252,
       MISSINGARG_SXP = 251, NILVALUE_SXP = 254, REFSXP = 255 };

typedef struct rval {
    int type;
    long n;
    char **strs;        /* STRSXP (NULL entry = NA); SYMSXP/CHARSXP use strs[0] */
    int32_t *ints;      /* LGLSXP, INTSXP */
    struct rval **elts; /* VECSXP, EXPRSXP, pairlists (values) */
    char **tags;        /* pairlists: tag names (may be NULL) */
    struct rval *attr;  /* pairlist of attributes or NULL */
    struct rval *next_alloc;
} rval;

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    const char *what;
    rval *allocs;
    rval **refs;
    int nrefs, caprefs;
    int depth;
} rreader;

static rval *rnew(rreader *r, int type) {
    rval *v = pq_calloc(1, sizeof *v);
    v->type = type;
    v->next_alloc = r->allocs;
    r->allocs = v;
    return v;
}

static void rfree_all(rreader *r) {
    for (rval *v = r->allocs, *nx; v; v = nx) {
        nx = v->next_alloc;
        if (v->strs) {
            long k = (v->type == STRSXP) ? v->n : 1;
            for (long i = 0; i < k; i++) free(v->strs[i]);
            free(v->strs);
        }
        if (v->tags) {
            for (long i = 0; i < v->n; i++) free(v->tags[i]);
            free(v->tags);
        }
        free(v->ints), free(v->elts), free(v);
    }
    free(r->refs);
}

static int r_int(rreader *r, int32_t *out) {
    if (r->pos + 4 > r->n) return pq_fail("%s: truncated R serialization at byte %zu", r->what, r->pos);
    const uint8_t *q = r->p + r->pos;
    *out = (int32_t)((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]);
    r->pos += 4;
    return 0;
}

static int rlength(rreader *r, long *out) {
    int32_t a, b;
    if (r_int(r, &a)) return -1;
    if (a == -1) {
        if (r_int(r, &a) || r_int(r, &b)) return -1;
        *out = (long)(((uint64_t)(uint32_t)a << 32) | (uint32_t)b);
    } else *out = a;
    if (*out < 0 || (size_t)*out > r->n) return pq_fail("%s: implausible R vector length %ld", r->what, *out);
    return 0;
}

/* A CHARSXP payload: returns a new string or NULL for NA (sets *na). */
static int rchars(rreader *r, char **out) {
    int32_t len;
    if (r_int(r, &len)) return -1;
    if (len == -1) { *out = NULL; return 0; }
    if (len < 0 || r->pos + (size_t)len > r->n) return pq_fail("%s: truncated R string at byte %zu", r->what, r->pos);
    *out = pq_malloc((size_t)len + 1);
    memcpy(*out, r->p + r->pos, (size_t)len);
    (*out)[len] = 0;
    r->pos += (size_t)len;
    return 0;
}

static int ritem(rreader *r, rval **out);

static void add_ref(rreader *r, rval *v) {
    if (r->nrefs == r->caprefs) {
        r->caprefs = r->caprefs ? 2 * r->caprefs : 16;
        r->refs = pq_realloc(r->refs, (size_t)r->caprefs * sizeof *r->refs);
    }
    r->refs[r->nrefs++] = v;
}

/* A pairlist (or language object) read iteratively along its CDRs. */
static int rpairlist(rreader *r, int32_t flags, rval **out) {
    rval *v = rnew(r, LISTSXP);
    long cap = 0;
    for (;;) {
        int type = flags & 0xFF;
        if (type != LISTSXP && type != LANGSXP && type != CLOSXP && type != PROMSXP && type != DOTSXP) {
            /* the final CDR: normally NILVALUE */
            if (type != NILVALUE_SXP) return pq_fail("%s: pairlist ends in type %d", r->what, type);
            break;
        }
        rval *attr = NULL, *tag = NULL, *car = NULL;
        if ((flags & (1 << 9)) && ritem(r, &attr)) return -1;
        if ((flags & (1 << 10)) && ritem(r, &tag)) return -1;
        if (ritem(r, &car)) return -1;
        if (v->n == cap) {
            cap = cap ? 2 * cap : 4;
            v->elts = pq_realloc(v->elts, (size_t)cap * sizeof *v->elts);
            v->tags = pq_realloc(v->tags, (size_t)cap * sizeof *v->tags);
        }
        v->elts[v->n] = car;
        v->tags[v->n] = (tag && tag->strs && tag->strs[0]) ? pq_strdup(tag->strs[0]) : NULL;
        v->n++;
        if (!v->attr) v->attr = attr;
        if (r_int(r, &flags)) return -1;
    }
    *out = v;
    return 0;
}

static int ritem(rreader *r, rval **out) {
    int32_t flags;
    if (r_int(r, &flags)) return -1;
    if (++r->depth > 10000) return pq_fail("%s: R object nested too deeply", r->what);
    int type = flags & 0xFF, rc = 0;
    rval *v = NULL;
    switch (type) {
    case NILVALUE_SXP: case EMPTYENV_SXP: case BASEENV_SXP: case GLOBALENV_SXP: case UNBOUNDVALUE_SXP:
    case MISSINGARG_SXP: case BASENAMESPACE_SXP:
        v = rnew(r, NILSXP);
        break;
    case REFSXP: {
        int32_t idx = flags >> 8;
        if (!idx && r_int(r, &idx)) return -1;
        if (idx < 1 || idx > r->nrefs) return pq_fail("%s: bad R reference %d", r->what, idx);
        v = r->refs[idx - 1];
        break;
    }
    case SYMSXP: {
        rval *name;
        if (ritem(r, &name)) return -1;
        v = rnew(r, SYMSXP);
        v->strs = pq_calloc(1, sizeof(char *));
        v->strs[0] = (name->strs && name->strs[0]) ? pq_strdup(name->strs[0]) : NULL;
        add_ref(r, v);
        break;
    }
    case LISTSXP: case LANGSXP: case CLOSXP: case PROMSXP: case DOTSXP:
        rc = rpairlist(r, flags, &v);
        r->depth--;
        if (!rc) *out = v;
        return rc;
    case ENVSXP: {
        int32_t locked;
        if (r_int(r, &locked)) return -1;
        v = rnew(r, ENVSXP);
        add_ref(r, v);
        rval *enclos, *frame, *hashtab, *attrib;
        if (ritem(r, &enclos) || ritem(r, &frame) || ritem(r, &hashtab) || ritem(r, &attrib)) return -1;
        r->depth--;
        *out = v;
        return 0;
    }
    case CHARSXP:
        v = rnew(r, CHARSXP);
        v->strs = pq_calloc(1, sizeof(char *));
        if (rchars(r, &v->strs[0])) return -1;
        break;
    case LGLSXP: case INTSXP: {
        v = rnew(r, type);
        if (rlength(r, &v->n)) return -1;
        if (r->pos + 4 * (size_t)v->n > r->n) return pq_fail("%s: truncated R vector", r->what);
        v->ints = pq_malloc(4 * (size_t)v->n + 4);
        for (long i = 0; i < v->n; i++) r_int(r, &v->ints[i]);
        break;
    }
    case REALSXP: case CPLXSXP: case RAWSXP: {
        v = rnew(r, type);
        if (rlength(r, &v->n)) return -1;
        size_t sz = type == REALSXP ? 8 : type == CPLXSXP ? 16 : 1;
        if (r->pos + sz * (size_t)v->n > r->n) return pq_fail("%s: truncated R vector", r->what);
        r->pos += sz * (size_t)v->n; /* not needed by any source: skipped */
        break;
    }
    case STRSXP: {
        v = rnew(r, STRSXP);
        if (rlength(r, &v->n)) return -1;
        v->strs = pq_calloc((size_t)v->n + 1, sizeof(char *));
        for (long i = 0; i < v->n; i++) {
            int32_t f;
            if (r_int(r, &f)) return -1;
            if ((f & 0xFF) != CHARSXP) return pq_fail("%s: string vector element of type %d", r->what, f & 0xFF);
            if (rchars(r, &v->strs[i])) return -1;
        }
        break;
    }
    case VECSXP: case EXPRSXP: {
        v = rnew(r, type);
        if (rlength(r, &v->n)) return -1;
        v->elts = pq_calloc((size_t)v->n + 1, sizeof(rval *));
        for (long i = 0; i < v->n; i++)
            if (ritem(r, &v->elts[i])) return -1;
        break;
    }
    default:
        return pq_fail("%s: unsupported R object type %d at byte %zu", r->what, type, r->pos - 4);
    }
    if (type != REFSXP && type != SYMSXP && (flags & (1 << 9)) && ritem(r, &v->attr)) return -1;
    r->depth--;
    *out = v;
    return 0;
}

static int rheader(rreader *r) {
    if (r->n < 2 || r->p[0] != 'X' || r->p[1] != '\n')
        return pq_fail("%s: not an XDR R serialization (starts %02x %02x)", r->what, r->n > 0 ? r->p[0] : 0,
                       r->n > 1 ? r->p[1] : 0);
    r->pos = 2;
    int32_t version, wv, mv;
    if (r_int(r, &version) || r_int(r, &wv) || r_int(r, &mv)) return -1;
    if (version != 2 && version != 3) return pq_fail("%s: R serialization format %d not supported", r->what, version);
    if (version == 3) {
        int32_t nelen;
        if (r_int(r, &nelen)) return -1;
        if (nelen < 0 || r->pos + (size_t)nelen > r->n) return pq_fail("%s: truncated R header", r->what);
        r->pos += (size_t)nelen;
    }
    return 0;
}

/* The attribute named name of v, or NULL. */
static rval *rattr(const rval *v, const char *name) {
    if (!v->attr || v->attr->type != LISTSXP) return NULL;
    for (long i = 0; i < v->attr->n; i++)
        if (v->attr->tags[i] && !strcmp(v->attr->tags[i], name)) return v->attr->elts[i];
    return NULL;
}

long pq_rdata_strings(const uint8_t *buf, size_t n, const char *what, char ***lines) {
    rreader r = {.p = buf, .n = n, .what = what};
    rval *v;
    long count = -1;
    if (rheader(&r) || ritem(&r, &v)) goto out;
    if (v->type != STRSXP) { pq_fail("%s: top-level R object has type %d, not a character vector", what, v->type); goto out; }
    count = v->n;
    *lines = pq_calloc((size_t)count + 1, sizeof(char *));
    for (long i = 0; i < count; i++) {
        const char *s = v->strs[i] ? v->strs[i] : "";
        pq_buf b = {0};
        pq_text_append_clean(&b, s, strlen(s));
        (*lines)[i] = pq_strdup(pq_buf_cstr(&b));
        pq_buf_free(&b);
    }
out:
    rfree_all(&r);
    return count;
}

/* One rdb slice to its serialized bytes. */
static int rdb_inflate(const uint8_t *p, size_t n, int ctype, const char *what, const char *name, pq_buf *out) {
    if (n < 4) return pq_fail("%s: object '%s' truncated", what, name);
    uLongf want = (uLongf)p[0] << 24 | (uLongf)p[1] << 16 | (uLongf)p[2] << 8 | p[3];
    p += 4, n -= 4;
    char method = 'Z';
    if (ctype == 2 || ctype == 3) {
        if (!n) return pq_fail("%s: object '%s' truncated", what, name);
        method = (char)*p++, n--;
    }
    pq_buf_reserve(out, want);
    if (method == '0') {
        if (n < want) return pq_fail("%s: object '%s' truncated", what, name);
        pq_buf_put(out, p, want);
        return 0;
    }
    if (method == 'Z') {
        uLongf got = want;
        int zr = uncompress((Bytef *)out->data, &got, p, n);
        if (zr != Z_OK || got != want) return pq_fail("%s: object '%s' does not inflate (zlib %d; truncated?)", what, name, zr);
        out->len = want;
        return 0;
    }
    if (method == '2') {
        unsigned int got = (unsigned int)want;
        int br = BZ2_bzBuffToBuffDecompress(out->data, &got, (char *)p, (unsigned int)n, 0, 0);
        if (br != BZ_OK || got != want) return pq_fail("%s: object '%s' does not bunzip2 (bz2 %d)", what, name, br);
        out->len = want;
        return 0;
    }
    return pq_fail("%s: object '%s' uses compression '%c', not supported", what, name, method);
}

int pq_rdata_read_db(const char *rdx_path, const char *rdb_path, pq_rdata_fn fn, void *ctx) {
    size_t nx = 0, nb = 0;
    char *rdx = pq_gunzip_file(rdx_path, &nx);
    if (!rdx) return -1;
    char *rdb = pq_read_file(rdb_path, &nb);
    if (!rdb) { free(rdx); return -1; }
    rreader r = {.p = (const uint8_t *)rdx, .n = nx, .what = rdx_path};
    int rc = -1;
    rval *idx;
    if (rheader(&r) || ritem(&r, &idx)) goto out;
    rval *names = rattr(idx, "names");
    if (idx->type != VECSXP || !names || names->type != STRSXP) { pq_fail("%s: not a lazy-load index", rdx_path); goto out; }
    rval *vars = NULL, *comp = NULL;
    for (long i = 0; i < names->n && i < idx->n; i++) {
        if (names->strs[i] && !strcmp(names->strs[i], "variables")) vars = idx->elts[i];
        if (names->strs[i] && !strcmp(names->strs[i], "compressed")) comp = idx->elts[i];
    }
    rval *vnames = vars ? rattr(vars, "names") : NULL;
    if (!vars || vars->type != VECSXP || !vnames || vnames->type != STRSXP || vnames->n != vars->n) {
        pq_fail("%s: lazy-load index has no named 'variables'", rdx_path);
        goto out;
    }
    int ctype = (comp && comp->ints && comp->n > 0) ? comp->ints[0] : 1;
    for (long i = 0; i < vars->n; i++) {
        rval *pair = vars->elts[i];
        const char *name = vnames->strs[i] ? vnames->strs[i] : "?";
        if (pair->type != INTSXP || pair->n != 2) { pq_fail("%s: entry '%s' is not (offset, length)", rdx_path, name); goto out; }
        size_t off = (size_t)(uint32_t)pair->ints[0], len = (size_t)(uint32_t)pair->ints[1];
        if (off + len > nb) { pq_fail("%s: object '%s' lies past the end (truncated?)", rdb_path, name); goto out; }
        pq_buf raw = {0};
        if (rdb_inflate((const uint8_t *)rdb + off, len, ctype, rdb_path, name, &raw)) { pq_buf_free(&raw); goto out; }
        char what[512];
        snprintf(what, sizeof what, "%s: object '%s'", rdb_path, name);
        char **lines = NULL;
        long count = pq_rdata_strings((const uint8_t *)raw.data, raw.len, what, &lines);
        pq_buf_free(&raw);
        if (count < 0) goto out;
        int frc = fn(ctx, name, lines, count);
        for (long k = 0; k < count; k++) free(lines[k]);
        free(lines);
        if (frc) goto out;
    }
    rc = 0;
out:
    rfree_all(&r);
    free(rdx), free(rdb);
    return rc;
}

/* ---- Austen: lines to chapters ------------------------------------------------ */

static int is_chapter_line(const char *s) {
    return !strncmp(s, "CHAPTER ", 8) || !strncmp(s, "Chapter ", 8);
}

static int flush_chapter(const char *novel, int chapter, pq_buf *raw, pq_buf *doc, pq_sink *sink) {
    int rc = 0;
    if (chapter > 0 && raw->len) {
        pq_buf_clear(doc);
        pq_text_reflow(doc, raw->data, raw->len);
        char id[128];
        snprintf(id, sizeof id, "austen/%s.%d", novel, chapter);
        rc = pq_sink_emit(sink, id, doc->data ? doc->data : "", doc->len, pq_split_austen_heldout(novel));
    }
    pq_buf_clear(raw);
    return rc;
}

int pq_austen_emit(const char *novel, char **lines, long count, pq_sink *sink) {
    pq_buf raw = {0}, doc = {0};
    int chapter = 0, rc = 0;
    for (long i = 0; i < count && !rc; i++) {
        const char *s = lines[i];
        while (*s == ' ') s++;
        if (is_chapter_line(s)) {
            rc = flush_chapter(novel, chapter, &raw, &doc, sink);
            chapter++;
            continue;
        }
        if (!strncmp(s, "VOLUME ", 7)) continue; /* volume headings between chapters */
        if (chapter > 0) {
            pq_buf_puts(&raw, s);
            pq_buf_putc(&raw, '\n');
        }
    }
    if (!rc) rc = flush_chapter(novel, chapter, &raw, &doc, sink);
    pq_buf_free(&raw), pq_buf_free(&doc);
    return rc;
}

static int austen_fn(void *ctx, const char *name, char **lines, long count) {
    return pq_austen_emit(name, lines, count, (pq_sink *)ctx);
}

/* files: data/Rdata.rdx data/Rdata.rdb */
int pq_decode_austen(pq_decode_ctx *ctx) {
    if (ctx->nfiles != 2) return pq_fail("%s: the austen decoder wants 2 files (Rdata.rdx, Rdata.rdb), got %d", ctx->name, ctx->nfiles);
    return pq_rdata_read_db(ctx->files[0], ctx->files[1], austen_fn, ctx->sink);
}
