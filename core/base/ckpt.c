#include "base/ckpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        free(c->tensors[i].data);
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

/* Appends a tensor whose data buffer is allocated but not filled. */
static pq_tensor *append(pq_ckpt *c, const char *name, pq_dtype dtype, int ndim, const int64_t *dims) {
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
    t->data = pq_malloc((size_t)t->numel * pq_dtype_size(dtype));
    return t;
}

pq_tensor *pq_ckpt_add(pq_ckpt *c, const char *name, pq_dtype dtype, int ndim, const int64_t *dims, const void *data) {
    if (ndim < 0 || ndim > PQ_CKPT_MAX_DIMS || !pq_dtype_size(dtype))
        pq_die("checkpoint: tensor '%s' has an invalid shape or dtype", name);
    pq_tensor *t = append(c, name, dtype, ndim, dims);
    memcpy(t->data, data, (size_t)t->numel * pq_dtype_size(dtype));
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

typedef struct {
    unsigned char *p;
    size_t n, cap;
} buffer;

static void put(buffer *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = pq_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

/* The format is little-endian; so is every machine we target (x86-64, arm64). */
static void put_u8(buffer *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(buffer *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(buffer *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buffer *b, uint64_t v) { put(b, &v, 8); }

static buffer serialize_payload(const pq_ckpt *c) {
    buffer b = {0};
    char *meta = pq_json_canonical(c->meta);
    size_t meta_len = strlen(meta);
    put_u32(&b, (uint32_t)meta_len);
    put(&b, meta, meta_len);
    free(meta);
    for (int i = 0; i < c->count; i++) {
        const pq_tensor *t = &c->tensors[i];
        size_t name_len = strlen(t->name);
        put_u16(&b, (uint16_t)name_len);
        put(&b, t->name, name_len);
        put_u8(&b, (uint8_t)t->dtype);
        put_u8(&b, (uint8_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) put_u64(&b, (uint64_t)t->dims[d]);
        put(&b, t->data, (size_t)t->numel * pq_dtype_size(t->dtype));
    }
    return b;
}

int pq_ckpt_save(const pq_ckpt *c, const char *path, int level) {
    buffer payload = serialize_payload(c);
    size_t bound = ZSTD_compressBound(payload.n);
    void *packed = pq_malloc(bound);
    size_t packed_n = ZSTD_compress(packed, bound, payload.p, payload.n, level ? level : 3);
    if (ZSTD_isError(packed_n)) {
        free(payload.p), free(packed);
        return pq_fail("%s: zstd compression failed: %s", path, ZSTD_getErrorName(packed_n));
    }
    buffer header = {0};
    put(&header, MAGIC, 8);
    put_u32(&header, PQ_CKPT_VERSION);
    put_u32(&header, (uint32_t)c->count);
    put_u64(&header, payload.n);
    put_u64(&header, packed_n);
    uint8_t digest[32];
    pq_sha256 *h = pq_sha256_begin();
    pq_sha256_update(h, payload.p, payload.n);
    pq_sha256_end(h, digest, NULL);
    put(&header, digest, 32);
    free(payload.p);

    pq_atomic_file af;
    int rc = pq_atomic_open(&af, path);
    if (rc == 0 && (fwrite(header.p, 1, HEADER_BYTES, af.f) != HEADER_BYTES ||
                    fwrite(packed, 1, packed_n, af.f) != packed_n)) {
        pq_fail("%s: write failed: %s", path, strerror(errno));
        pq_atomic_abort(&af);
        rc = -1;
    } else if (rc == 0) {
        rc = pq_atomic_commit(&af);
    }
    free(header.p);
    free(packed);
    return rc;
}

/* ---- loading: trust nothing until it is checked --------------------------- */

typedef struct {
    const unsigned char *p;
    size_t n, at;
    const char *path;
} reader;

static int take(reader *r, void *dst, size_t n, const char *what) {
    if (n > r->n - r->at) return pq_fail("%s: corrupt checkpoint: payload ends inside %s", r->path, what);
    memcpy(dst, r->p + r->at, n);
    r->at += n;
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
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        uint64_t v = 0;
        if (take(r, &v, 8, name)) return -1;
        if (v > r->n || (v && numel > r->n / v))
            return pq_fail("%s: corrupt checkpoint: tensor '%s' has an impossible shape", r->path, name);
        dims[d] = (int64_t)v;
        numel *= v;
    }
    size_t bytes = numel * pq_dtype_size((pq_dtype)dtype);
    if (bytes > r->n - r->at) return pq_fail("%s: corrupt checkpoint: tensor '%s' is cut short", r->path, name);
    if (pq_ckpt_find(c, name)) return pq_fail("%s: corrupt checkpoint: tensor '%s' appears twice", r->path, name);
    pq_tensor *t = append(c, name, (pq_dtype)dtype, ndim, dims);
    return take(r, t->data, bytes, name);
}

static pq_ckpt *parse_payload(const char *path, const unsigned char *p, size_t n, uint32_t count) {
    reader r = {p, n, 0, path};
    uint32_t meta_len = 0;
    if (take(&r, &meta_len, 4, "the metadata") || meta_len > n - r.at) {
        pq_fail("%s: corrupt checkpoint: metadata is cut short", path);
        return NULL;
    }
    json_error_t err;
    json_t *meta = json_loadb((const char *)p + r.at, meta_len, 0, &err);
    r.at += meta_len;
    if (!json_is_object(meta)) {
        json_decref(meta);
        pq_fail("%s: corrupt checkpoint: metadata is not a JSON object", path);
        return NULL;
    }
    pq_ckpt *c = pq_ckpt_new();
    json_decref(c->meta);
    c->meta = meta;
    for (uint32_t i = 0; i < count; i++) {
        if (read_tensor(&r, c) != 0) {
            pq_ckpt_free(c);
            return NULL;
        }
    }
    if (r.at != n) {
        pq_ckpt_free(c);
        pq_fail("%s: corrupt checkpoint: %zu unexpected bytes after the last tensor", path, n - r.at);
        return NULL;
    }
    return c;
}

/* The payload, decompressed into a buffer that grows with the output the frame
 * actually yields (up to raw_n): a header that claims terabytes costs nothing
 * until the frame delivers them. NULL + pq_error() unless the single frame is
 * exactly raw_n bytes and fills the file. */
static unsigned char *decompress_payload(const char *path, const unsigned char *packed, size_t packed_n, uint64_t raw_n) {
    ZSTD_DCtx *z = ZSTD_createDCtx();
    if (!z) pq_die("out of memory (zstd context)");
    ZSTD_inBuffer in = {packed, packed_n, 0};
    ZSTD_outBuffer out = {NULL, 0, 0};
    size_t rc;
    do {
        if (out.pos == out.size && out.size < raw_n) {
            out.size = out.size ? PQ_MIN(2 * out.size, raw_n) : PQ_MIN(raw_n, (uint64_t)1 << 20);
            out.dst = pq_realloc(out.dst, out.size);
        }
        size_t in_before = in.pos, out_before = out.pos;
        rc = ZSTD_decompressStream(z, &out, &in);
        if (!ZSTD_isError(rc) && rc != 0 && in.pos == in_before && out.pos == out_before) break; /* stuck */
    } while (!ZSTD_isError(rc) && rc != 0);
    ZSTD_freeDCtx(z);
    if (ZSTD_isError(rc) || rc != 0 || out.pos != raw_n || in.pos != packed_n) {
        pq_fail("%s: corrupt checkpoint (zstd: %s)", path,
                ZSTD_isError(rc) ? ZSTD_getErrorName(rc)
                : rc != 0        ? "the frame is cut short or longer than the header says"
                : out.pos != raw_n ? "the frame is shorter than the header says"
                                   : "bytes after the frame");
        free(out.dst);
        return NULL;
    }
    return out.dst ? out.dst : pq_malloc(1);
}

pq_ckpt *pq_ckpt_load(const char *path) {
    size_t file_n;
    unsigned char *file = (unsigned char *)pq_read_file(path, &file_n);
    if (!file) return NULL;
    pq_ckpt *c = NULL;
    unsigned char *raw = NULL;
    uint32_t version, count;
    uint64_t raw_n, packed_n;
    if (file_n < HEADER_BYTES || memcmp(file, MAGIC, 8) != 0) {
        pq_fail(file_n < 8 || memcmp(file, MAGIC, 8) ? "%s: not a paretoq checkpoint (bad magic)"
                                                     : "%s: truncated checkpoint (header cut short)", path);
        goto done;
    }
    memcpy(&version, file + 8, 4);
    memcpy(&count, file + 12, 4);
    memcpy(&raw_n, file + 16, 8);
    memcpy(&packed_n, file + 24, 8);
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
    unsigned long long frame_n = ZSTD_getFrameContentSize(file + HEADER_BYTES, packed_n);
    if (frame_n != raw_n) {
        pq_fail("%s: corrupt checkpoint (compressed frame does not match the header)", path);
        goto done;
    }
    if (!(raw = decompress_payload(path, file + HEADER_BYTES, packed_n, raw_n))) goto done;
    uint8_t digest[32];
    pq_sha256 *h = pq_sha256_begin();
    pq_sha256_update(h, raw, raw_n);
    pq_sha256_end(h, digest, NULL);
    if (memcmp(digest, file + 32, 32) != 0) {
        pq_fail("%s: corrupt checkpoint (checksum mismatch)", path);
        goto done;
    }
    c = parse_payload(path, raw, raw_n, count);
done:
    free(raw);
    free(file);
    return c;
}
