/* KJV container and Unix-compress LZW: byte-exact decoding of fixtures cut from
 * bible-kjv-text 4.38 (checked against gzip -dc when they were made; see
 * tests/fixtures/sources/README.md) and the errors on corrupt input. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_sources_sink.h"

static char *fixture(const char *path, size_t *n) {
    char *d = pq_read_file(path, n);
    cr_assert_not_null(d, "%s", pq_error());
    return d;
}

Test(sources_lzw, real_window_head_matches_gzip) {
    size_t n, m;
    char *in = fixture(FIXTURE("kjv_window0_head.lzw"), &n), *want = fixture(FIXTURE("kjv_window0_head.txt"), &m);
    pq_buf out = {0};
    cr_assert_eq(pq_lzw_decode((const uint8_t *)in, n, 16, &out), 0, "%s", pq_error());
    cr_assert_eq(out.len, m, "decoded %zu bytes, want %zu", out.len, m);
    cr_assert(!memcmp(out.data, want, m));
    cr_assert(!strncmp(out.data, "Holy Bible, Authorized (King James) Version.", 44));
    pq_buf_free(&out), free(in), free(want);
}

/* 10-bit codes: the width grows 9 -> 10 and the table is cleared many times. */
Test(sources_lzw, width_changes_and_clears) {
    size_t n, m;
    char *in = fixture(FIXTURE("lzw_b10.lzw"), &n), *want = fixture(FIXTURE("lzw_b10.txt"), &m);
    pq_buf out = {0};
    cr_assert_eq(pq_lzw_decode((const uint8_t *)in, n, 10, &out), 0, "%s", pq_error());
    cr_assert_eq(out.len, m);
    cr_assert(!memcmp(out.data, want, m));
    /* decoded with the wrong width it is garbage or an error, never the text */
    pq_buf bad = {0};
    int rc = pq_lzw_decode((const uint8_t *)in, n, 12, &bad);
    cr_assert(rc != 0 || bad.len != m || memcmp(bad.data, want, m));
    pq_buf_free(&out), pq_buf_free(&bad), free(in), free(want);
}

Test(sources_lzw, corrupt_codes_fail) {
    /* 'A' (65) then code 300 while only 257 is defined: 9-bit codes, LSB first */
    uint32_t bits = 65u | (300u << 9);
    uint8_t in[3] = {(uint8_t)bits, (uint8_t)(bits >> 8), (uint8_t)(bits >> 16)};
    pq_buf out = {0};
    cr_assert_eq(pq_lzw_decode(in, sizeof in, 16, &out), -1);
    cr_assert(strstr(pq_error(), "beyond the table"), "%s", pq_error());
    uint8_t first[2] = {0x00, 0x01}; /* first code 256 is not a literal */
    pq_buf_clear(&out);
    cr_assert_eq(pq_lzw_decode(first, sizeof first, 16, &out), -1);
    cr_assert_eq(pq_lzw_decode(first, sizeof first, 17, &out), -1);
    cr_assert(strstr(pq_error(), "out of range"));
    pq_buf_free(&out);
}

Test(sources_lzw, kjv_container) {
    size_t n, m;
    char *in = fixture(FIXTURE("kjv_mini.data"), &n), *want = fixture(FIXTURE("kjv_mini.txt"), &m);
    pq_buf out = {0};
    cr_assert_eq(pq_kjv_unpack((const uint8_t *)in, n, "mini", &out), 0, "%s", pq_error());
    cr_assert_eq(out.len, m);
    cr_assert(!memcmp(out.data, want, m));
    /* truncated: the window table no longer matches the size */
    pq_buf_clear(&out);
    cr_assert_eq(pq_kjv_unpack((const uint8_t *)in, n - 7, "mini.data", &out), -1);
    cr_assert(strstr(pq_error(), "mini.data: truncated"), "%s", pq_error());
    /* a damaged magic */
    in[0] = 'X';
    cr_assert_eq(pq_kjv_unpack((const uint8_t *)in, n, "mini.data", &out), -1);
    cr_assert(strstr(pq_error(), "magic"), "%s", pq_error());
    pq_buf_free(&out), free(in), free(want);
}

Test(sources_lzw, kjv_chapters_and_heldout_books) {
    const char *t = "Holy Bible title line\n"
                    "Ge1:1 In the beginning God created the heaven and the earth.\n"
                    "Ge1:2 And the earth was without form.\n"
                    "Ge2:1 Thus the heavens and the earth were finished.\n"
                    "Ruth1:1 Now it came to pass.\n"
                    "Jas5:20 Let him know.\n"
                    "Phi4:23 The grace.\n"
                    "Jonah1:1 Now the word.\n"
                    "1Jn1:1 That which was from the beginning.\n";
    mem_sink m = {0};
    pq_sink s = mem_sink_of(&m);
    cr_assert_eq(pq_kjv_emit(t, strlen(t), &s), 0, "%s", pq_error());
    cr_assert_eq(m.n, 7);
    cr_assert_str_eq(m.id[0], "kjv/Gen.1");
    cr_assert_str_eq(m.text[0], "In the beginning God created the heaven and the earth.\nAnd the earth was without form.");
    cr_assert_eq(m.heldout[0], 0);
    cr_assert_str_eq(m.id[2], "kjv/Ruth.1");
    cr_assert(m.heldout[2] && m.heldout[3] && m.heldout[4] && m.heldout[5]);
    cr_assert_str_eq(m.id[3], "kjv/Jas.5");
    cr_assert_str_eq(m.id[4], "kjv/Phil.4");
    cr_assert_str_eq(m.id[6], "kjv/1John.1");
    cr_assert_eq(m.heldout[6], 0);
    mem_sink_free(&m);
    const char *bad = "title\nXyz1:1 what\n";
    cr_assert_eq(pq_kjv_emit(bad, strlen(bad), &s), -1);
    cr_assert(strstr(pq_error(), "unknown book 'Xyz'"), "%s", pq_error());
    mem_sink_free(&m);
}
