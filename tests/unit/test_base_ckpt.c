#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/resource.h>

#include <zstd.h>

#include "base/ckpt.h"
#include "base/fsio.h"
#include "base/util.h"
#include "under_asan.h"

static char dir[64];

static void make_dir(void) {
    strcpy(dir, "/tmp/pq_ckpt_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void remove_dir(void) { pq_remove_tree(dir); }

TestSuite(ckpt, .init = make_dir, .fini = remove_dir);

static char *path_in_dir(const char *name) { return pq_path_join(dir, name); }

/* A checkpoint with a matrix, a vector of bytes and metadata. */
static pq_ckpt *sample(void) {
    pq_ckpt *c = pq_ckpt_new();
    float w[6] = {1.5f, -2.0f, 0.0f, 3.25f, -0.0f, 1e-30f};
    int64_t dims[2] = {2, 3};
    pq_ckpt_add(c, "layer0.wq", PQ_F32, 2, dims, w);
    uint8_t codes[5] = {0, 1, 2, 3, 255};
    int64_t n = 5;
    pq_ckpt_add(c, "codes", PQ_U8, 1, &n, codes);
    json_object_set_new(c->meta, "step", json_integer(1234));
    return c;
}

static void write_sample(const char *path) {
    pq_ckpt *c = sample();
    cr_assert_eq(pq_ckpt_save(c, path, 0), 0, "%s", pq_error());
    pq_ckpt_free(c);
}

Test(ckpt, round_trip_is_exact) {
    char *path = path_in_dir("a.ckpt");
    write_sample(path);
    pq_ckpt *c = pq_ckpt_load(path);
    cr_assert(c, "%s", pq_error());
    cr_expect_eq(c->count, 2);
    const float *w = pq_ckpt_expect(c, "layer0.wq", PQ_F32, 6);
    cr_assert(w, "%s", pq_error());
    pq_ckpt *ref = sample();
    cr_expect_eq(memcmp(w, ref->tensors[0].data, 6 * sizeof(float)), 0);
    const pq_tensor *t = pq_ckpt_find(c, "layer0.wq");
    cr_expect_eq(t->ndim, 2);
    cr_expect_eq(t->dims[0], 2);
    cr_expect_eq(t->dims[1], 3);
    const uint8_t *codes = pq_ckpt_expect(c, "codes", PQ_U8, 5);
    cr_expect_eq(codes[4], 255);
    cr_expect_eq(json_integer_value(json_object_get(c->meta, "step")), 1234);
    cr_expect_null(pq_ckpt_find(c, "missing"));
    pq_ckpt_free(ref);
    pq_ckpt_free(c);
    free(path);
}

Test(ckpt, expect_names_mismatches) {
    char *path = path_in_dir("a.ckpt");
    write_sample(path);
    pq_ckpt *c = pq_ckpt_load(path);
    cr_expect_null(pq_ckpt_expect(c, "layer0.wq", PQ_F32, 7));
    cr_expect(strstr(pq_error(), "layer0.wq") && strstr(pq_error(), "f32[6]"), "%s", pq_error());
    cr_expect_null(pq_ckpt_expect(c, "absent", PQ_F32, 1));
    cr_expect(strstr(pq_error(), "absent"), "%s", pq_error());
    pq_ckpt_free(c);
    free(path);
}

Test(ckpt, save_leaves_no_temporary_files) {
    char *path = path_in_dir("sub/dir/b.ckpt");
    write_sample(path);
    cr_expect(pq_file_exists(path));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(find %s -name '*.tmp.*')\"", dir);
    cr_expect_eq(system(cmd), 0);
    free(path);
}

/* Writes the sample, lets `mutate` damage the bytes, and expects a load error mentioning `needle`. */
static void expect_load_error(void (*mutate)(unsigned char *buf, size_t *n), const char *needle) {
    char *path = path_in_dir("bad.ckpt");
    write_sample(path);
    size_t n;
    unsigned char *buf = (unsigned char *)pq_read_file(path, &n);
    mutate(buf, &n);
    cr_assert_eq(pq_write_file_atomic(path, buf, n), 0);
    pq_ckpt *c = pq_ckpt_load(path);
    cr_expect_null(c);
    cr_expect(strstr(pq_error(), path) != NULL, "error names the file: %s", pq_error());
    cr_expect(strstr(pq_error(), needle) != NULL, "error says '%s': %s", needle, pq_error());
    pq_ckpt_free(c);
    free(buf);
    free(path);
}

static void truncate_payload(unsigned char *b, size_t *n) { (void)b, *n -= 7; }
static void truncate_header(unsigned char *b, size_t *n) { (void)b, *n = 30; }
static void flip_payload_byte(unsigned char *b, size_t *n) { b[*n - 3] ^= 0x40; }
static void flip_checksum(unsigned char *b, size_t *n) { (void)n, b[40] ^= 1; }
static void bump_version(unsigned char *b, size_t *n) { (void)n, b[8] = 99; }
static void bad_magic(unsigned char *b, size_t *n) { (void)n, b[0] = 'X'; }
static void empty_file(unsigned char *b, size_t *n) { (void)b, *n = 0; }

Test(ckpt, truncated_payload) { expect_load_error(truncate_payload, "truncated"); }
Test(ckpt, truncated_header) { expect_load_error(truncate_header, "truncated"); }
Test(ckpt, corrupted_byte) { expect_load_error(flip_payload_byte, "corrupt"); }
Test(ckpt, corrupted_checksum) { expect_load_error(flip_checksum, "checksum"); }
Test(ckpt, wrong_version) { expect_load_error(bump_version, "version 99"); }
Test(ckpt, not_a_checkpoint) { expect_load_error(bad_magic, "magic"); }
Test(ckpt, empty_file) { expect_load_error(empty_file, "magic"); }

/* A 16-byte zstd frame that claims `size` bytes of content (8-byte size field,
 * single segment) and holds one empty raw block, behind a header that agrees. */
static void expect_claimed_size_refused(uint64_t size) {
    unsigned char file[64 + 16] = "PQCKPT01";
    uint32_t version = PQ_CKPT_VERSION, count = 1;
    uint64_t packed = 16;
    memcpy(file + 8, &version, 4), memcpy(file + 12, &count, 4);
    memcpy(file + 16, &size, 8), memcpy(file + 24, &packed, 8);
    unsigned char frame[16] = {0x28, 0xB5, 0x2F, 0xFD, 0xE0};
    memcpy(frame + 5, &size, 8);
    frame[13] = 1; /* last block, raw, 0 bytes */
    memcpy(file + 64, frame, 16);
    char *path = path_in_dir("claims.ckpt");
    cr_assert_eq(pq_write_file_atomic(path, file, sizeof file), 0);
    cr_expect_null(pq_ckpt_load(path));
    cr_expect(strstr(pq_error(), "claims.ckpt: corrupt checkpoint (zstd"), "%s", pq_error());
    free(path);
}

/* The payload buffer had been allocated at the header's word: 80 bytes could ask for a terabyte. */
Test(ckpt, claimed_payload_size_is_not_allocated_up_front) {
    expect_claimed_size_refused((uint64_t)1 << 40);
    expect_claimed_size_refused((uint64_t)100 << 20);
}

Test(ckpt, missing_file) {
    cr_expect_null(pq_ckpt_load("/nonexistent/x.ckpt"));
    cr_expect(strstr(pq_error(), "/nonexistent/x.ckpt") != NULL, "%s", pq_error());
}

/* The streaming writer (compressing as it lays the payload out, handing back the pages
 * behind zstd's window) must write the bytes one ZSTD_compress call over the whole
 * payload writes: run identities hash checkpoint files. 24 MiB of weights-like floats
 * (mostly incompressible, some runs) span several windows, so pages are released. */
Test(ckpt, streamed_save_equals_one_shot_frame) {
    const int64_t n = 6 << 20;
    float *w = pq_malloc(sizeof(float) * (size_t)n);
    uint32_t x = 12345;
    for (int64_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        w[i] = (i / 4096) % 7 == 0 ? 0.25f : (float)(int32_t)x * 1e-10f;
    }
    for (int level = 0; level <= 1; level++) {
        pq_ckpt *c = pq_ckpt_new();
        json_object_set_new(c->meta, "kind", json_string("test"));
        pq_ckpt_add_ref(c, "w", PQ_F32, 1, &n, w); /* borrowed: saved from w itself */
        cr_expect_eq(pq_ckpt_find(c, "w")->data, (void *)w);
        char *path = path_in_dir("big.ckpt");
        cr_assert_eq(pq_ckpt_save(c, path, level), 0, "%s", pq_error());
        pq_ckpt_free(c); /* does not free w */
        size_t file_n;
        unsigned char *file = (unsigned char *)pq_read_file(path, &file_n);
        uint64_t raw_n;
        memcpy(&raw_n, file + 16, 8);
        unsigned char *raw = pq_malloc(raw_n);
        cr_assert_eq(ZSTD_decompress(raw, raw_n, file + 64, file_n - 64), raw_n);
        size_t bound = ZSTD_compressBound(raw_n);
        unsigned char *ref = pq_malloc(bound);
        size_t ref_n = ZSTD_compress(ref, bound, raw, raw_n, level ? level : 3);
        cr_expect_eq(ref_n, file_n - 64, "level %d", level);
        cr_expect(ref_n == file_n - 64 && !memcmp(ref, file + 64, ref_n), "level %d: other bytes", level);
        pq_ckpt *back = pq_ckpt_load(path);
        cr_assert(back, "%s", pq_error());
        cr_expect_eq(memcmp(pq_ckpt_expect(back, "w", PQ_F32, n), w, sizeof(float) * (size_t)n), 0);
        pq_ckpt_free(back);
        free(raw), free(ref), free(file), free(path);
    }
    free(w);
}


static double max_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Saving 64 MiB of tensors by reference costs about zstd's window, not copies of them (the
 * writer had held a copy per tensor, the payload and the compressed frame: ~190 MiB more);
 * loading costs the tensors, not also the file and the payload. */
Test(ckpt, save_and_load_cost_no_extra_copies) {
#ifdef UNDER_ASAN
    cr_skip_test("resident memory is ASan's under ASan");
#endif
    const int64_t n = 16 << 20;
    float *w = pq_malloc(sizeof(float) * (size_t)n);
    uint32_t x = 7;
    for (int64_t i = 0; i < n; i++) x = x * 1664525u + 1013904223u, w[i] = (float)(int32_t)x * 1e-10f;
    double before = max_rss_mib();
    pq_ckpt *c = pq_ckpt_new();
    pq_ckpt_add_ref(c, "w", PQ_F32, 1, &n, w);
    char *path = path_in_dir("rss.ckpt");
    cr_assert_eq(pq_ckpt_save(c, path, 1), 0, "%s", pq_error());
    pq_ckpt_free(c);
    double saved = max_rss_mib();
    cr_expect_lt(saved - before, 16.0, "saving 64 MiB raised the peak by %.1f MiB", saved - before);
    free(w);
    pq_ckpt *back = pq_ckpt_load(path);
    cr_assert(back, "%s", pq_error());
    double loaded = max_rss_mib();
    cr_expect_lt(loaded - saved, 16.0, "loading 64 MiB (its buffer reusing w's) raised the peak by %.1f MiB", loaded - saved);
    pq_ckpt_free(back);
    free(path);
}
