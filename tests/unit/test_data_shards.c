/* Token shards: write/read round trip, shard sets, and every kind of bad file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/shards.h"

static const char *HASH_A = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const char *HASH_B = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

static char tmpdir[256];

static void setup(void) {
    strcpy(tmpdir, "/tmp/pq-test-shards-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}
static void teardown(void) { pq_remove_tree(tmpdir); }

static char *tmp(const char *name) { return pq_path_join(tmpdir, name); }

/* Writes a shard with docs of lengths lens[], tokens = (start + j) % vocab, BOS (=1) first. */
static void write_shard(const char *path, uint32_t vocab, const char *hash, const int *lens, int ndocs, int start) {
    pq_shard_writer *w = pq_shard_writer_open(path, vocab, hash);
    cr_assert_not_null(w, "%s", pq_error());
    int t = start;
    for (int d = 0; d < ndocs; d++) {
        int32_t *doc = malloc(sizeof(int32_t) * lens[d]);
        doc[0] = 1;
        for (int j = 1; j < lens[d]; j++) doc[j] = (int32_t)(t++ % vocab);
        cr_assert_eq(pq_shard_writer_add_doc(w, doc, lens[d]), 0);
        free(doc);
    }
    cr_assert_eq(pq_shard_writer_commit(w), 0, "%s", pq_error());
}

TestSuite(data_shards, .init = setup, .fini = teardown);

Test(data_shards, round_trip_u16) {
    char *p = tmp("a.bin");
    int lens[] = {5, 1, 300};
    write_shard(p, 8192, HASH_A, lens, 3, 100);
    pq_shard *s = pq_shard_open(p);
    cr_assert_not_null(s, "%s", pq_error());
    cr_assert_eq(s->token_bytes, 2);
    cr_assert_eq(s->vocab_size, 8192);
    cr_assert_eq(s->n_tokens, 306);
    cr_assert_eq(s->n_docs, 3);
    cr_assert_str_eq(s->vocab_hash, HASH_A);
    cr_assert_eq(pq_shard_token(s, 0), 1);
    cr_assert_eq(pq_shard_token(s, 1), 100);
    cr_assert_eq(pq_shard_token(s, 5), 1);
    cr_assert_eq(pq_shard_token(s, 6), 1);
    cr_assert_eq(pq_shard_token(s, 7), 104);
    int32_t buf[4];
    cr_assert_eq(pq_shard_read(s, 302, 4, buf), 0);
    cr_assert_eq(buf[3], (int32_t)(100 + 4 + 298));
    cr_assert_eq(pq_shard_read(s, 303, 4, buf), -1);
    cr_assert(strstr(pq_error(), "a.bin"));
    cr_assert_eq(pq_shard_check_vocab(s, HASH_A, 8192), 0);
    cr_assert_eq(pq_shard_check_vocab(s, HASH_B, 8192), -1);
    cr_assert(strstr(pq_error(), "expected tokenizer"));
    cr_assert_eq(pq_shard_check_vocab(s, HASH_A, 4096), -1);
    pq_shard_close(s);
    free(p);
}

Test(data_shards, wide_vocab_uses_u32) {
    char *p = tmp("w.bin");
    pq_shard_writer *w = pq_shard_writer_open(p, 100000, HASH_A);
    int32_t doc[] = {1, 99999, 65536, 7};
    cr_assert_eq(pq_shard_writer_add_doc(w, doc, 4), 0);
    cr_assert_eq(pq_shard_writer_commit(w), 0);
    pq_shard *s = pq_shard_open(p);
    cr_assert_not_null(s, "%s", pq_error());
    cr_assert_eq(s->token_bytes, 4);
    cr_assert_eq(pq_shard_token(s, 1), 99999);
    cr_assert_eq(pq_shard_token(s, 2), 65536);
    pq_shard_close(s);
    free(p);
}

Test(data_shards, abort_leaves_nothing) {
    char *p = tmp("x.bin");
    pq_shard_writer *w = pq_shard_writer_open(p, 300, HASH_A);
    int32_t doc[] = {1, 2};
    pq_shard_writer_add_doc(w, doc, 2);
    pq_shard_writer_abort(w);
    cr_assert_not(pq_file_exists(p));
    free(p);
}

/* Writes a valid shard, lets mutate() damage its bytes, expects open to fail with msg. */
static void expect_bad(const char *name, void (*mutate)(char *buf, size_t *n), const char *msg) {
    char *p = tmp(name);
    int lens[] = {10, 20};
    write_shard(p, 1000, HASH_A, lens, 2, 3);
    size_t n;
    char *buf = pq_read_file(p, &n);
    mutate(buf, &n);
    cr_assert_eq(pq_write_file_atomic(p, buf, n), 0);
    pq_shard *s = pq_shard_open(p);
    cr_assert_null(s, "%s should fail", name);
    cr_assert(strstr(pq_error(), name), "error names the file: %s", pq_error());
    cr_assert(strstr(pq_error(), msg), "expected '%s' in: %s", msg, pq_error());
    free(buf);
    free(p);
}

static void bad_magic(char *b, size_t *n) { b[0] = 'X'; }
static void bad_version(char *b, size_t *n) { b[8] = 9; }
static void truncate_tail(char *b, size_t *n) { *n -= 3; }
static void truncate_header(char *b, size_t *n) { *n = 40; }
static void extra_bytes(char *b, size_t *n) { *n += 2; }
static void flip_payload(char *b, size_t *n) { b[PQ_SHARD_HEADER_BYTES + 5] ^= 1; }
static void count_up(char *b, size_t *n) { b[24] += 1; }

Test(data_shards, rejects_bad_files) {
    expect_bad("magic.bin", bad_magic, "bad magic");
    expect_bad("version.bin", bad_version, "version 9");
    expect_bad("trunc.bin", truncate_tail, "truncated");
    expect_bad("hdr.bin", truncate_header, "truncated");
    expect_bad("extra.bin", extra_bytes, "count mismatch");
    expect_bad("flip.bin", flip_payload, "checksum mismatch");
    expect_bad("count.bin", count_up, "truncated");
    cr_assert_null(pq_shard_open("/nonexistent/shard.bin"));
    cr_assert(strstr(pq_error(), "/nonexistent/shard.bin"));
}

/* Found by tests/fuzz/fuzz_shard.c: a vocab above INT32_MAX let ids through that read back negative. */
Test(data_shards, rejects_vocab_beyond_int32) {
    char *p = tmp("wide.bin");
    int lens[] = {5};
    write_shard(p, 70000, HASH_A, lens, 1, 3);
    size_t n;
    char *buf = pq_read_file(p, &n);
    buf[16] = 1, buf[17] = 0, buf[18] = 0, buf[19] = (char)0x80; /* vocab 2^31 + 1, little-endian */
    cr_assert_eq(pq_write_file_atomic(p, buf, n), 0);
    cr_expect_null(pq_shard_open(p));
    cr_expect(strstr(pq_error(), "vocab size 2147483649"), "%s", pq_error());
    free(buf);
    free(p);
}

Test(data_shards, set_concatenates_in_name_order) {
    char *p0 = tmp("train_000.bin"), *p1 = tmp("train_001.bin"), *pv = tmp("val.bin");
    int l0[] = {4, 4}, l1[] = {3}, lv[] = {2};
    write_shard(p1, 500, HASH_A, l1, 1, 200);
    write_shard(p0, 500, HASH_A, l0, 2, 100);
    write_shard(pv, 500, HASH_A, lv, 1, 7);
    pq_shard_set *set = pq_shard_set_open(tmpdir, "train");
    cr_assert_not_null(set, "%s", pq_error());
    cr_assert_eq(set->n_shards, 2);
    cr_assert_eq(set->n_tokens, 11);
    cr_assert_eq(set->n_docs, 3);
    int32_t all[11];
    cr_assert_eq(pq_shard_set_read(set, 0, 11, all), 0);
    int32_t want[11] = {1, 100, 101, 102, 1, 103, 104, 105, 1, 200, 201};
    for (int i = 0; i < 11; i++) {
        cr_assert_eq(all[i], want[i], "token %d", i);
        cr_assert_eq(pq_shard_set_token(set, i), (uint32_t)want[i]);
    }
    int32_t mid[4];
    cr_assert_eq(pq_shard_set_read(set, 6, 4, mid), 0);
    cr_assert_eq(mid[0], 104);
    cr_assert_eq(mid[3], 200);
    cr_assert_eq(pq_shard_set_read(set, 8, 4, mid), -1);
    pq_shard_set_close(set);

    pq_shard_set *val = pq_shard_set_open(tmpdir, "val");
    cr_assert_not_null(val, "%s", pq_error());
    cr_assert_eq(val->n_tokens, 2);
    pq_shard_set_close(val);
    cr_assert_null(pq_shard_set_open(tmpdir, "test"));
    cr_assert(strstr(pq_error(), "pq data build"));

    /* a shard from another tokenizer in the set is an error naming it */
    char *p2 = tmp("train_002.bin");
    write_shard(p2, 500, HASH_B, l1, 1, 0);
    cr_assert_null(pq_shard_set_open(tmpdir, "train"));
    cr_assert(strstr(pq_error(), "train_002.bin"), "%s", pq_error());
    free(p0), free(p1), free(p2), free(pv);
}
