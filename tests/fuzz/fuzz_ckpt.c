/* fuzz_ckpt.c — the checkpoint container (pq_ckpt_load, base/ckpt.c).
 *
 * Input: one mode byte, then
 *   even: the bytes of a checkpoint file, as they are;
 *   odd:  u32 tensor count, then a raw (uncompressed) payload, which this target
 *         seals into a container with a correct header, zstd frame and SHA-256,
 *         so the fuzzer reaches the payload parser behind the checksum.
 * A checkpoint that loads must save and load again to the same tensors and metadata. */
#include <zstd.h>

#include "base/ckpt.h"
#include "base/hash.h"
#include "fuzz.h"

/* A container around a raw payload: what pq_ckpt_save writes, for any payload. */
static unsigned char *seal(const unsigned char *payload, size_t n, uint32_t count, size_t *out_n) {
    size_t bound = ZSTD_compressBound(n);
    unsigned char *file = malloc(64 + bound);
    size_t packed = ZSTD_compress(file + 64, bound, payload, n, 1);
    FUZZ_CHECK(!ZSTD_isError(packed));
    uint32_t version = PQ_CKPT_VERSION;
    uint64_t raw_n = n, packed_n = packed;
    memcpy(file, "PQCKPT01", 8);
    memcpy(file + 8, &version, 4);
    memcpy(file + 12, &count, 4);
    memcpy(file + 16, &raw_n, 8);
    memcpy(file + 24, &packed_n, 8);
    pq_sha256 *h = pq_sha256_begin();
    pq_sha256_update(h, payload, n);
    pq_sha256_end(h, file + 32, NULL);
    *out_n = 64 + packed;
    return file;
}

static void check_same(const pq_ckpt *a, const pq_ckpt *b) {
    FUZZ_CHECK(a->count == b->count);
    FUZZ_CHECK(json_equal(a->meta, b->meta));
    for (int i = 0; i < a->count; i++) {
        const pq_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        FUZZ_CHECK(!strcmp(x->name, y->name) && x->dtype == y->dtype && x->ndim == y->ndim && x->numel == y->numel);
        FUZZ_CHECK(!memcmp(x->dims, y->dims, sizeof(int64_t) * (size_t)x->ndim));
        FUZZ_CHECK(!memcmp(x->data, y->data, (size_t)x->numel * pq_dtype_size(x->dtype)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    const char *path;
    if (data[0] & 1) {
        if (n < 5) return 0;
        uint32_t count;
        memcpy(&count, data + 1, 4);
        size_t file_n;
        unsigned char *file = seal(data + 5, n - 5, count, &file_n);
        path = fuzz_file("fuzz.ckpt", file, file_n);
        free(file);
    } else {
        path = fuzz_file("fuzz.ckpt", data + 1, n - 1);
    }
    pq_ckpt *c = pq_ckpt_load(path);
    if (!c) {
        FUZZ_CHECK(pq_error()[0]);
        return 0;
    }
    for (int i = 0; i < c->count; i++) {
        const pq_tensor *t = &c->tensors[i];
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= PQ_CKPT_MAX_DIMS && pq_dtype_size(t->dtype));
        FUZZ_CHECK(pq_ckpt_find(c, t->name) == t);
    }
    const char *copy = fuzz_path("copy.ckpt");
    FUZZ_CHECK(pq_ckpt_save(c, copy, 1) == 0);
    pq_ckpt *again = pq_ckpt_load(copy);
    FUZZ_CHECK(again);
    check_same(c, again);
    pq_ckpt_free(again);
    pq_ckpt_free(c);
    return 0;
}
