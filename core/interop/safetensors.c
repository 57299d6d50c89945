#include "interop/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"

#define MAX_HEADER (100u << 20) /* the format's own limit */

static const struct {
    const char *name;
    pq_st_dtype dtype;
    int size;
} dtypes[] = {{"F32", PQ_ST_F32, 4}, {"F16", PQ_ST_F16, 2}, {"BF16", PQ_ST_BF16, 2}, {"F64", PQ_ST_F64, 8},
              {"U8", PQ_ST_U8, 1},   {"I8", PQ_ST_OTHER, 1}, {"I16", PQ_ST_OTHER, 2}, {"I32", PQ_ST_OTHER, 4},
              {"I64", PQ_ST_OTHER, 8}, {"BOOL", PQ_ST_OTHER, 1}};

float pq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf, nan */
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else { /* zero or subnormal: man * 2^-24, exact in float */
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float pq_bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static pq_st_tensor *push(pq_st_set *s) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->t = pq_realloc(s->t, sizeof *s->t * s->cap);
    }
    pq_st_tensor *t = &s->t[s->n++];
    memset(t, 0, sizeof *t);
    return t;
}

/* Parses one header entry into t; sizes checked against the data length. */
static int parse_entry(pq_st_tensor *t, const char *path, const char *name, json_t *v, uint64_t data_start,
                       uint64_t data_len) {
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"), *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2)
        return pq_fail("%s: tensor %s: header entry needs dtype, shape and data_offsets", path, name);
    int size = 0;
    for (size_t i = 0; i < PQ_COUNT(dtypes); i++)
        if (!strcmp(json_string_value(dt), dtypes[i].name)) t->dtype = dtypes[i].dtype, size = dtypes[i].size;
    if (!size) return pq_fail("%s: tensor %s: unsupported dtype %s", path, name, json_string_value(dt));
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", json_string_value(dt));
    if (json_array_size(shape) > 4) return pq_fail("%s: tensor %s: more than 4 dimensions", path, name);
    t->ndim = (int)json_array_size(shape);
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *x = json_array_get(shape, d);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > ((int64_t)1 << 40) ||
            __builtin_mul_overflow(t->numel, json_integer_value(x), &t->numel))
            return pq_fail("%s: tensor %s: bad shape", path, name);
        t->shape[d] = json_integer_value(x);
    }
    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return pq_fail("%s: tensor %s: bad data_offsets", path, name);
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(e);
    if (end - begin != (uint64_t)t->numel * size)
        return pq_fail("%s: tensor %s: %llu bytes of data for shape of %lld %s values", path, name,
                       (unsigned long long)(end - begin), (long long)t->numel, t->dtype_name);
    if (end > data_len)
        return pq_fail("%s: tensor %s: data ends at byte %llu, past the end of the file (truncated?)", path, name,
                       (unsigned long long)(data_start + end));
    t->offset = data_start + begin, t->bytes = end - begin;
    t->name = pq_strdup(name), t->file = pq_strdup(path);
    return 0;
}

int pq_st_read_header(pq_st_set *s, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return pq_fail("%s: cannot open", path);
    struct stat st;
    uint8_t lenb[8];
    if (fstat(fileno(f), &st) || fread(lenb, 1, 8, f) != 8) {
        fclose(f);
        return pq_fail("%s: truncated (no header length)", path);
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | lenb[i];
    if (n > MAX_HEADER || n + 8 > (uint64_t)st.st_size) {
        fclose(f);
        return pq_fail("%s: header of %llu bytes does not fit a file of %lld bytes (truncated or not safetensors)", path,
                       (unsigned long long)n, (long long)st.st_size);
    }
    char *text = pq_malloc(n + 1);
    size_t got = fread(text, 1, n, f);
    fclose(f);
    text[got] = 0;
    json_error_t err;
    json_t *h = got == n ? json_loadb(text, n, JSON_REJECT_DUPLICATES, &err) : NULL;
    free(text);
    if (!json_is_object(h)) {
        json_decref(h);
        return pq_fail("%s: header is not a JSON object", path);
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(h, key, v) {
        if (!strcmp(key, "__metadata__")) continue;
        pq_st_tensor *t = push(s);
        if ((rc = parse_entry(t, path, key, v, 8 + n, (uint64_t)st.st_size - 8 - n))) {
            s->n--;
            break;
        }
    }
    json_decref(h);
    return rc;
}

int pq_st_open_dir(pq_st_set *s, const char *dir) {
    char *single = pq_path_join(dir, "model.safetensors"), *index = pq_path_join(dir, "model.safetensors.index.json");
    int rc = -1;
    if (pq_file_exists(single)) {
        rc = pq_st_read_header(s, single);
        goto done;
    }
    if (!pq_file_exists(index)) {
        pq_fail("%s: neither model.safetensors nor model.safetensors.index.json", dir);
        goto done;
    }
    json_t *ix = pq_json_read(index), *wm = json_object_get(ix, "weight_map");
    if (!json_is_object(wm)) {
        json_decref(ix);
        pq_fail("%s: no \"weight_map\" object", index);
        goto done;
    }
    /* each shard once, in first-mention order */
    const char *name;
    json_t *v;
    json_t *seen = json_object();
    rc = 0;
    json_object_foreach(wm, name, v) {
        const char *file = json_string_value(v);
        if (!file || strchr(file, '/') || file[0] == '.') {
            rc = pq_fail("%s: tensor %s: bad shard file name", index, name);
            break;
        }
        if (json_object_get(seen, file)) continue;
        json_object_set_new(seen, file, json_true());
        char *p = pq_path_join(dir, file);
        rc = pq_st_read_header(s, p);
        free(p);
        if (rc) break;
    }
    json_object_foreach(wm, name, v) {
        if (rc) break;
        const pq_st_tensor *t = pq_st_find(s, name);
        const char *want = json_string_value(v), *got = t ? strrchr(t->file, '/') + 1 : NULL;
        if (!t || strcmp(got, want)) rc = pq_fail("%s: tensor %s: not found in %s", index, name, want);
    }
    json_decref(seen);
    json_decref(ix);
done:
    free(single), free(index);
    return rc;
}

const pq_st_tensor *pq_st_find(const pq_st_set *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}

int pq_st_read_raw(const pq_st_tensor *t, void *out) {
    FILE *f = fopen(t->file, "rb");
    if (!f) return pq_fail("%s: cannot open", t->file);
    int ok = fseeko(f, (off_t)t->offset, SEEK_SET) == 0 && fread(out, 1, t->bytes, f) == t->bytes;
    fclose(f);
    return ok ? 0 : pq_fail("%s: tensor %s: truncated", t->file, t->name);
}

int pq_st_read_f32(const pq_st_tensor *t, float *out) {
    if (t->dtype != PQ_ST_F32 && t->dtype != PQ_ST_F16 && t->dtype != PQ_ST_BF16 && t->dtype != PQ_ST_F64)
        return pq_fail("%s: tensor %s: dtype %s is not a float type", t->file, t->name, t->dtype_name);
    uint8_t *raw = pq_malloc(t->bytes ? t->bytes : 1);
    if (pq_st_read_raw(t, raw)) {
        free(raw);
        return -1;
    }
    for (int64_t i = 0; i < t->numel; i++) {
        const uint8_t *p = raw + i * (t->bytes / (t->numel ? t->numel : 1));
        if (t->dtype == PQ_ST_F32) {
            memcpy(&out[i], p, 4);
        } else if (t->dtype == PQ_ST_F64) {
            double d;
            memcpy(&d, p, 8);
            out[i] = (float)d;
        } else {
            uint16_t h = (uint16_t)(p[0] | p[1] << 8);
            out[i] = t->dtype == PQ_ST_F16 ? pq_f16_to_f32(h) : pq_bf16_to_f32(h);
        }
        if (!isfinite(out[i])) {
            free(raw);
            return pq_fail("%s: tensor %s: element %lld is not finite", t->file, t->name, (long long)i);
        }
    }
    free(raw);
    return 0;
}

void pq_st_free(pq_st_set *s) {
    for (int i = 0; i < s->n; i++) free(s->t[i].name), free(s->t[i].file);
    free(s->t);
    memset(s, 0, sizeof *s);
}

int pq_st_write(const char *path, const pq_st_out *t, int n, const json_t *metadata) {
    json_t *h = json_object();
    if (metadata) json_object_set(h, "__metadata__", (json_t *)metadata);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        int size = !strcmp(t[i].dtype, "U8") ? 1 : 4;
        int64_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++) numel *= t[i].shape[d], json_array_append_new(shape, json_integer(t[i].shape[d]));
        uint64_t bytes = (uint64_t)numel * size;
        json_object_set_new(h, t[i].name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", t[i].dtype, "shape", shape,
                                                     "data_offsets", (json_int_t)off, (json_int_t)(off + bytes)));
        off += bytes;
    }
    char *text = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(h);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    pq_atomic_file af;
    if (pq_atomic_open(&af, path)) {
        free(text);
        return -1;
    }
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)(padded >> (8 * i));
    int ok = fwrite(lenb, 1, 8, af.f) == 8 && fwrite(text, 1, len, af.f) == len;
    for (size_t i = len; ok && i < padded; i++) ok = fputc(' ', af.f) != EOF;
    free(text);
    for (int i = 0; ok && i < n; i++) {
        int size = !strcmp(t[i].dtype, "U8") ? 1 : 4;
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        ok = fwrite(t[i].data, size, numel, af.f) == numel;
    }
    if (!ok) {
        pq_atomic_abort(&af);
        return pq_fail("%s: write failed", path);
    }
    return pq_atomic_commit(&af);
}
