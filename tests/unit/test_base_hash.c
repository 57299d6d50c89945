#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/util.h"

Test(hash, sha256_known_vectors) {
    char hex[PQ_SHA256_HEX];
    pq_sha256_hex("abc", 3, hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pq_sha256_hex("", 0, hex);
    cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(hash, sha256_incremental_equals_one_shot) {
    char whole[PQ_SHA256_HEX], parts[PQ_SHA256_HEX];
    const char *text = "the quick brown fox jumps over the lazy dog";
    pq_sha256_hex(text, strlen(text), whole);
    pq_sha256 *h = pq_sha256_begin();
    pq_sha256_update(h, text, 10);
    pq_sha256_update(h, text + 10, strlen(text) - 10);
    pq_sha256_end(h, NULL, parts);
    cr_expect_str_eq(whole, parts);
}

Test(hash, sha256_file_and_missing_file) {
    char path[] = "/tmp/pq_hash_XXXXXX", hex[PQ_SHA256_HEX];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, "abc", 3), 3);
    close(fd);
    cr_assert_eq(pq_sha256_file(path, hex), 0);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    cr_expect_eq(pq_sha256_file(path, hex), -1);
    cr_expect(strstr(pq_error(), path) != NULL, "error names the file: %s", pq_error());
}

Test(hash, json_hash_ignores_key_order_but_not_values) {
    json_t *a = json_pack("{s:i, s:f, s:[s,s]}", "dim", 384, "lr", 0.001, "tags", "x", "y");
    json_t *b = json_pack("{s:[s,s], s:f, s:i}", "tags", "x", "y", "lr", 0.001, "dim", 384);
    json_t *c = json_pack("{s:i, s:f, s:[s,s]}", "dim", 385, "lr", 0.001, "tags", "x", "y");
    char ha[PQ_SHA256_HEX], hb[PQ_SHA256_HEX], hc[PQ_SHA256_HEX];
    pq_sha256_json(a, ha), pq_sha256_json(b, hb), pq_sha256_json(c, hc);
    cr_expect_str_eq(ha, hb);
    cr_expect_str_neq(ha, hc);
    json_decref(a), json_decref(b), json_decref(c);
}

Test(hash, fnv1a64_reference_values) {
    cr_expect_eq(pq_fnv1a64("", 0), 0xcbf29ce484222325ull);
    cr_expect_eq(pq_fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
    cr_expect_eq(pq_fnv1a64("foobar", 6), 0x85944171f73967e8ull);
}

/* MurmurHash3's fmix64: fmix64(1) is the value its reference code gives. */
Test(hash, mix64_reference_values) {
    cr_expect_eq(pq_mix64(0), 0);
    cr_expect_eq(pq_mix64(1), 0xb456bcfc34c2cb2cull);
    cr_expect_eq(pq_mix64(0xcbf29ce484222325ull), 0xefd01f60ba992926ull);
}
