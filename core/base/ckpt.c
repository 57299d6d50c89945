#include "base/ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_c_stableInBuffer, ZSTD_getCParams (pq_ckpt_save) */
#include <zstd.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/util.h"

static const char MAGIC[8] = {'P', 'Q', 'C', 'K', 'P', 'T', '0', '1'};
enum { HEADER_BYTES = 64 };

size_t pq_dtype_size(pq_dtype t) {
    static const size_t sizes[] = {4, 8, 4, 8, 1, 2, 4};
    return (unsigned)t < PQ_COUNT(sizes) ? sizes[t] : 0;
}

const char *pq_dtype_name(pq_dtype t) {
    static const char *names[] = {"f32", "f64", "i32", "i64", "u8", "u16", "u32"};
    return (unsigned)t < PQ_COUNT(names) ? names[t] : "?";
}

pq_ckpt *pq_ckpt_new(void) {
    pq_ckpt *c = pq_calloc(1, sizeof *c);
    c->meta = json_object();
    return c;
}

void pq_ckpt_free(pq_ckpt *c) {
    if (!c) return;
    for (int i = 0; i < c->count; i++) {
        free(c->tensors[i].name);
        if (!c->tensors[i].borrowed) free(c->tensors[i].data);
    }
    free(c->tensors);
    json_decref(c->meta);
    free(c);
}

const pq_tensor *pq_ckpt_find(const pq_ckpt *c, const char *name) {
    for (int i = 0; i < c->count; i++)
        if (!strcmp(c->tensors[i].name, name)) return &c->tensors[i];
    return NULL;
}

/* Appends a tensor without data (the caller sets t->data). A bad shape, dtype or
 * name is a programming error here: the loader checks what it reads first. */
static pq_tensor *append(pq_ckpt *c, const char *name, pq_dtype dtype, int ndim, const int64_t *dims) {
    if (ndim < 0 || ndim > PQ_CKPT_MAX_DIMS || !pq_dtype_size(dtype))
        pq_die("checkpoint: tensor '%s' has an invalid shape or dtype", name);
    if (pq_ckpt_find(c, name)) pq_die("checkpoint: duplicate tensor name '%s'", name);
    if (c->count == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->tensors = pq_realloc(c->tensors, (size_t)c->cap * sizeof *c->tensors);
    }
    pq_tensor *t = &c->tensors[c->count++];
    memset(t, 0, sizeof *t);
    t->name = pq_strdup(name);
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) t->dims[d] = dims[d], t->numel *= dims[d];
    return t;
}

pq_tensor *pq_ckpt_add(pq_ckpt *c, const char *name, pq_dtype dtype, int ndim, const int64_t *dims, const void *data) {
    pq_tensor *t = append(c, name, dtype, ndim, dims);
    t->data = pq_malloc((size_t)t->numel * pq_dtype_size(dtype));
    memcpy(t->data, data, (size_t)t->numel * pq_dtype_size(dtype));
    return t;
}

pq_tensor *pq_ckpt_add_ref(pq_ckpt *c, const char *name, pq_dtype dtype, int ndim, const int64_t *dims, const void *data) {
    pq_tensor *t = append(c, name, dtype, ndim, dims);
    t->data = (void *)data;
    t->borrowed = 1;
    return t;
}

pq_tensor *pq_ckpt_add_f32(pq_ckpt *c, const char *name, const float *data, int64_t n) {
    return pq_ckpt_add(c, name, PQ_F32, 1, &n, data);
}

const void *pq_ckpt_expect(const pq_ckpt *c, const char *name, pq_dtype dtype, int64_t numel) {
    const pq_tensor *t = pq_ckpt_find(c, name);
    if (!t) {
        pq_fail("checkpoint has no tensor '%s'", name);
        return NULL;
    }
    if (t->dtype != dtype || t->numel != numel) {
        pq_fail("checkpoint tensor '%s' is %s[%lld], expected %s[%lld]", name, pq_dtype_name(t->dtype),
                (long long)t->numel, pq_dtype_name(dtype), (long long)numel);
        return NULL;
    }
    return t->data;
}

/* ---- serialization ------------------------------------------------------- */

/* The payload is compressed as it is laid out, so saving N bytes of tensors costs
 * about zstd's window in memory, not 3N (a copy per tensor, the payload, the frame).
 * The file is byte for byte what one ZSTD_compress call over the whole payload wrote
 * (the format's first writer; run identities hash checkpoint files): zstd reads the
 * payload from one stable buffer that only grows (ZSTD_c_stableInBuffer), which
 * compresses exactly as the one-shot call does, where feeding it piece by piece
 * would not. That buffer is address space (pq_pages_alloc) whose pages behind
 * zstd's window go back to the kernel as the compressor advances. */
enum { CHUNK = 1 << 20 };

typedef struct {
    ZSTD_CCtx *z;
    ZSTD_inBuffer in; /* src = the payload buffer, size = bytes laid out so far */
    unsigned char *buf, *out;
    size_t raw_n, released, lag, packed_n;
    pq_sha256 *sha;
    FILE *f;
    int failed; /* a zstd or write error (pq_error() says which) */
    const char *path;
} writer;

/* Runs the compressor over what is laid out (to the frame's end if end), writing its output. */
static void w_compress(writer *w, int end) {
    size_t rc;
    do {
        ZSTD_outBuffer o = {w->out, CHUNK, 0};
        rc = ZSTD_compressStream2(w->z, &o, &w->in, end ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(rc)) {
            w->failed = pq_fail("%s: zstd compression failed: %s", w->path, ZSTD_getErrorName(rc));
            return;
        }
        if (fwrite(w->out, 1, o.pos, w->f) != o.pos) {
            w->failed = pq_fail("%s: write failed: %s", w->path, strerror(errno));
            return;
        }
        w->packed_n += o.pos;
    } while (end ? rc != 0 : w->in.pos < w->in.size);
    /* zstd never looks further back than its window: release what lies behind it. */
    if (w->in.pos > w->released + w->lag + CHUNK) {
        size_t upto = w->in.pos - w->lag;
        pq_pages_release(w->buf + w->released, upto - w->released);
        w->released = upto;
    }
}

static void put(writer *w, const void *src, size_t n) {
    const unsigned char *p = src;
    while (n && !w->failed) {
        size_t k = PQ_MIN(n, (size_t)CHUNK);
        if (k > w->raw_n - w->in.size) pq_die("%s: checkpoint payload larger than planned", w->path);
        memcpy(w->buf + w->in.size, p, k);
        pq_sha256_update(w->sha, p, k);
        w->in.size += k, p += k, n -= k;
        if (w->in.size - w->in.pos >= CHUNK) w_compress(w, 0);
    }
}

/* The format is little-endian; so is every machine we target (x86-64, arm64). */
static void put_u8(writer *w, uint8_t v) { put(w, &v, 1); }
static void put_u16(writer *w, uint16_t v) { put(w, &v, 2); }
static void put_u32(writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(writer *w, uint64_t v) { put(w, &v, 8); }

static size_t payload_size(const pq_ckpt *c, size_t meta_len) {
    size_t n = 4 + meta_len;
    for (int i = 0; i < c->count; i++) {
        const pq_tensor *t = &c->tensors[i];
        n += 2 + strlen(t->name) + 2 + 8 * (size_t)t->ndim + (size_t)t->numel * pq_dtype_size(t->dtype);
    }
    return n;
}

static void write_payload(writer *w, const pq_ckpt *c, const char *meta, size_t meta_len) {
    put_u32(w, (uint32_t)meta_len);
    put(w, meta, meta_len);
    for (int i = 0; i < c->count; i++) {
        const pq_tensor *t = &c->tensors[i];
        size_t name_len = strlen(t->name);
        put_u16(w, (uint16_t)name_len);
        put(w, t->name, name_len);
        put_u8(w, (uint8_t)t->dtype);
        put_u8(w, (uint8_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) put_u64(w, (uint64_t)t->dims[d]);
        put(w, t->data, (size_t)t->numel * pq_dtype_size(t->dtype));
    }
    if (!w->failed) w_compress(w, 1);
}

static void header_bytes(unsigned char h[HEADER_BYTES], uint32_t count, uint64_t raw_n, uint64_t packed_n,
                         const uint8_t digest[32]) {
    uint32_t version = PQ_CKPT_VERSION;
    memset(h, 0, HEADER_BYTES);
    memcpy(h, MAGIC, 8);
    memcpy(h + 8, &version, 4), memcpy(h + 12, &count, 4);
    memcpy(h + 16, &raw_n, 8), memcpy(h + 24, &packed_n, 8);
    memcpy(h + 32, digest, 32);
}

int pq_ckpt_save(const pq_ckpt *c, const char *path, int level) {
    level = level ? level : 3;
    char *meta = pq_json_canonical(c->meta);
    size_t meta_len = strlen(meta);
    writer w = {.raw_n = payload_size(c, meta_len), .path = path};
    pq_atomic_file af;
    if (pq_atomic_open(&af, path)) {
        free(meta);
        return -1;
    }
    w.f = af.f;
    unsigned char header[HEADER_BYTES] = {0};
    if (fwrite(header, 1, HEADER_BYTES, w.f) != HEADER_BYTES) w.failed = pq_fail("%s: write failed: %s", path, strerror(errno));
    w.z = ZSTD_createCCtx();
    if (!w.z) pq_die("out of memory (zstd context)");
    ZSTD_CCtx_setParameter(w.z, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(w.z, ZSTD_c_stableInBuffer, 1);
    ZSTD_CCtx_setPledgedSrcSize(w.z, w.raw_n);
    w.lag = ((size_t)2 << ZSTD_getCParams(level, w.raw_n, 0).windowLog) + CHUNK; /* twice the window: margin */
    w.buf = pq_pages_alloc(w.raw_n);
    w.out = pq_malloc(CHUNK);
    w.in.src = w.buf;
    w.sha = pq_sha256_begin();
    if (!w.failed) write_payload(&w, c, meta, meta_len);
    uint8_t digest[32];
    pq_sha256_end(w.sha, digest, NULL);
    ZSTD_freeCCtx(w.z);
    pq_pages_free(w.buf, w.raw_n);
    free(w.out), free(meta);
    header_bytes(header, (uint32_t)c->count, w.raw_n, w.packed_n, digest);
    if (!w.failed && (fseek(w.f, 0, SEEK_SET) || fwrite(header, 1, HEADER_BYTES, w.f) != HEADER_BYTES))
        w.failed = pq_fail("%s: write failed: %s", path, strerror(errno));
    if (w.failed) {
        pq_atomic_abort(&af);
        return -1;
    }
    return pq_atomic_commit(&af);
}

/* ---- loading: trust nothing until it is checked --------------------------- */

/* The payload is decompressed as it is parsed, straight into each tensor's buffer,
 * and hashed on the way: a checkpoint costs its tensors in memory, not also the
 * file and the whole payload. Tensor buffers grow with the bytes the frame
 * actually yields, so a header that claims terabytes costs nothing until the
 * frame delivers them. */
typedef struct {
    FILE *f;
    const char *path;
    ZSTD_DCtx *z;
    ZSTD_inBuffer in;
    unsigned char *in_buf;
    uint64_t raw_n, raw_at, packed_left; /* payload bytes in all, delivered, compressed bytes not yet read */
    int frame_done;                      /* zstd said the frame ended */
    pq_sha256 *sha;
} reader;

/* Reads more of the compressed frame when zstd has used what it had. */
static int refill(reader *r) {
    if (r->in.pos < r->in.size || !r->packed_left) return 0;
    size_t k = (size_t)PQ_MIN(r->packed_left, (uint64_t)CHUNK);
    if (fread(r->in_buf, 1, k, r->f) != k) return pq_fail("%s: read failed: %s", r->path, strerror(errno));
    r->in = (ZSTD_inBuffer){r->in_buf, k, 0};
    r->packed_left -= k;
    return 0;
}

/* One decompression call into o; -1 + pq_error() on a corrupt or cut frame. */
static int inflate_some(reader *r, ZSTD_outBuffer *o) {
    if (refill(r)) return -1;
    size_t before = o->pos, in_before = r->in.pos;
    size_t rc = ZSTD_decompressStream(r->z, o, &r->in);
    if (ZSTD_isError(rc)) return pq_fail("%s: corrupt checkpoint (zstd: %s)", r->path, ZSTD_getErrorName(rc));
    r->frame_done = rc == 0;
    if (!r->frame_done && o->pos == before && r->in.pos == in_before && !r->packed_left)
        return pq_fail("%s: corrupt checkpoint (zstd: the frame is cut short)", r->path);
    return 0;
}

/* n payload bytes into dst; -1 + pq_error() if the frame cannot give them. */
static int pull(reader *r, unsigned char *dst, size_t n) {
    ZSTD_outBuffer o = {dst, n, 0};
    while (o.pos < o.size) {
        if (r->frame_done)
            return pq_fail("%s: corrupt checkpoint (zstd: the frame is shorter than the header says)", r->path);
        if (inflate_some(r, &o)) return -1;
    }
    pq_sha256_update(r->sha, dst, n);
    r->raw_at += n;
    return 0;
}

static int take(reader *r, void *dst, size_t n, const char *what) {
    if (n > r->raw_n - r->raw_at) return pq_fail("%s: corrupt checkpoint: payload ends inside %s", r->path, what);
    return pull(r, dst, n);
}

/* A tensor's data, its buffer grown as the bytes arrive (realloc of a large block
 * moves pages, it does not copy them). */
static int take_data(reader *r, pq_tensor *t, size_t bytes, const char *name) {
    size_t cap = PQ_MIN(bytes, (size_t)16 * CHUNK), got = 0;
    t->data = pq_malloc(cap);
    while (got < bytes) {
        if (got == cap) cap = PQ_MIN(2 * cap, bytes), t->data = pq_realloc(t->data, cap);
        size_t k = PQ_MIN(cap - got, (size_t)16 * CHUNK);
        if (take(r, (unsigned char *)t->data + got, k, name)) return -1;
        got += k;
    }
    return 0;
}

static int read_tensor(reader *r, pq_ckpt *c) {
    uint16_t name_len = 0;
    uint8_t dtype = 0, ndim = 0;
    char name[65536];
    if (take(r, &name_len, 2, "a tensor name") || take(r, name, name_len, "a tensor name")) return -1;
    name[name_len] = '\0';
    if (take(r, &dtype, 1, name) || take(r, &ndim, 1, name)) return -1;
    if (!pq_dtype_size((pq_dtype)dtype) || ndim > PQ_CKPT_MAX_DIMS)
        return pq_fail("%s: corrupt checkpoint: tensor '%s' has dtype %u, %u dims", r->path, name, dtype, ndim);
    int64_t dims[PQ_CKPT_MAX_DIMS];
    uint64_t numel = 1, left = r->raw_n;
    for (int d = 0; d < ndim; d++) {
        uint64_t v = 0;
        if (take(r, &v, 8, name)) return -1;
        if (v > left || (v && numel > left / v))
            return pq_fail("%s: corrupt checkpoint: tensor '%s' has an impossible shape", r->path, name);
        dims[d] = (int64_t)v;
        numel *= v;
    }
    size_t bytes = numel * pq_dtype_size((pq_dtype)dtype);
    if (bytes > r->raw_n - r->raw_at) return pq_fail("%s: corrupt checkpoint: tensor '%s' is cut short", r->path, name);
    if (pq_ckpt_find(c, name)) return pq_fail("%s: corrupt checkpoint: tensor '%s' appears twice", r->path, name);
    pq_tensor *t = append(c, name, (pq_dtype)dtype, ndim, dims);
    return take_data(r, t, bytes, name);
}

/* count < 0: the metadata only (pq_ckpt_peek). */
static pq_ckpt *read_payload(reader *r, int64_t count) {
    uint32_t meta_len = 0;
    if (take(r, &meta_len, 4, "the metadata")) return NULL;
    if (meta_len > r->raw_n - r->raw_at) {
        pq_fail("%s: corrupt checkpoint: metadata is cut short", r->path);
        return NULL;
    }
    char *text = pq_malloc((size_t)meta_len + 1);
    if (pull(r, (unsigned char *)text, meta_len)) {
        free(text);
        return NULL;
    }
    json_error_t err;
    json_t *meta = json_loadb(text, meta_len, 0, &err);
    free(text);
    if (!json_is_object(meta)) {
        json_decref(meta);
        pq_fail("%s: corrupt checkpoint: metadata is not a JSON object", r->path);
        return NULL;
    }
    pq_ckpt *c = pq_ckpt_new();
    json_decref(c->meta);
    c->meta = meta;
    if (count < 0) return c;
    for (int64_t i = 0; i < count; i++) {
        if (read_tensor(r, c) != 0) {
            pq_ckpt_free(c);
            return NULL;
        }
    }
    if (r->raw_at != r->raw_n) {
        pq_ckpt_free(c);
        pq_fail("%s: corrupt checkpoint: %llu unexpected bytes after the last tensor", r->path,
                (unsigned long long)(r->raw_n - r->raw_at));
        return NULL;
    }
    return c;
}

/* After the payload: the frame must end here and fill the file. */
static int check_frame_end(reader *r) {
    unsigned char extra;
    while (!r->frame_done) {
        ZSTD_outBuffer o = {&extra, 1, 0};
        if (inflate_some(r, &o)) return -1;
        if (o.pos) return pq_fail("%s: corrupt checkpoint (zstd: the frame is longer than the header says)", r->path);
    }
    if (r->in.pos != r->in.size || r->packed_left) return pq_fail("%s: corrupt checkpoint (zstd: bytes after the frame)", r->path);
    return 0;
}

static pq_ckpt *load(const char *path, int meta_only, uint64_t *raw_n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        pq_fail("%s: %s", path, strerror(errno));
        return NULL;
    }
    reader r = {.f = f, .path = path};
    pq_ckpt *c = NULL;
    unsigned char header[HEADER_BYTES];
    uint32_t version, count;
    uint64_t packed_n;
    struct stat st;
    size_t file_n = fstat(fileno(f), &st) == 0 ? (size_t)st.st_size : 0;
    size_t got = fread(header, 1, HEADER_BYTES, f);
    if (got < HEADER_BYTES || memcmp(header, MAGIC, 8) != 0) {
        pq_fail(got < 8 || memcmp(header, MAGIC, 8) ? "%s: not a paretoq checkpoint (bad magic)"
                                                    : "%s: truncated checkpoint (header cut short)", path);
        goto done;
    }
    memcpy(&version, header + 8, 4);
    memcpy(&count, header + 12, 4);
    memcpy(&r.raw_n, header + 16, 8);
    memcpy(&packed_n, header + 24, 8);
    if (version != PQ_CKPT_VERSION) {
        pq_fail("%s: checkpoint format version %u, this build reads version %d", path, version, PQ_CKPT_VERSION);
        goto done;
    }
    if (packed_n != file_n - HEADER_BYTES) {
        pq_fail(packed_n > file_n - HEADER_BYTES ? "%s: truncated checkpoint (%zu of %llu payload bytes)"
                                                 : "%s: corrupt checkpoint (%zu bytes where %llu expected)",
                path, file_n - HEADER_BYTES, (unsigned long long)packed_n);
        goto done;
    }
    unsigned char frame_head[ZSTD_FRAMEHEADERSIZE_MAX] = {0};
    size_t head_n = fread(frame_head, 1, (size_t)PQ_MIN(packed_n, (uint64_t)sizeof frame_head), f);
    if (ZSTD_getFrameContentSize(frame_head, head_n) != r.raw_n) {
        pq_fail("%s: corrupt checkpoint (compressed frame does not match the header)", path);
        goto done;
    }
    if (fseek(f, HEADER_BYTES, SEEK_SET)) {
        pq_fail("%s: %s", path, strerror(errno));
        goto done;
    }
    r.packed_left = packed_n;
    r.z = ZSTD_createDCtx();
    if (!r.z) pq_die("out of memory (zstd context)");
    r.in_buf = pq_malloc(CHUNK);
    r.sha = pq_sha256_begin();
    if (raw_n_out) *raw_n_out = r.raw_n;
    c = read_payload(&r, meta_only ? -1 : (int64_t)count);
    uint8_t digest[32];
    pq_sha256_end(r.sha, digest, NULL);
    if (c && !meta_only && check_frame_end(&r)) pq_ckpt_free(c), c = NULL;
    if (c && !meta_only && memcmp(digest, header + 32, 32) != 0) {
        pq_fail("%s: corrupt checkpoint (checksum mismatch)", path);
        pq_ckpt_free(c), c = NULL;
    }
    ZSTD_freeDCtx(r.z);
    free(r.in_buf);
done:
    fclose(f);
    return c;
}

pq_ckpt *pq_ckpt_load(const char *path) { return load(path, 0, NULL); }

pq_ckpt *pq_ckpt_peek(const char *path, uint64_t *payload_bytes) { return load(path, 1, payload_bytes); }
