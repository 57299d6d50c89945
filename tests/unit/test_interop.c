/* core/interop: half-precision conversions, safetensors write/read, header checks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/util.h"
#include "interop/hf.h"
#include "interop/safetensors.h"

Test(interop, f16_and_bf16_exact) {
    cr_expect_eq(pq_f16_to_f32(0x3c00), 1.0f);
    cr_expect_eq(pq_f16_to_f32(0xc000), -2.0f);
    cr_expect_eq(pq_f16_to_f32(0x0001), ldexpf(1.0f, -24)); /* smallest subnormal */
    cr_expect_eq(pq_f16_to_f32(0x03ff), ldexpf(1023.0f, -24));
    cr_expect_eq(pq_f16_to_f32(0x7bff), 65504.0f);
    cr_expect(isinf(pq_f16_to_f32(0x7c00)) && isnan(pq_f16_to_f32(0x7e00)));
    cr_expect(signbit(pq_f16_to_f32(0x8000)));
    cr_expect_eq(pq_bf16_to_f32(0x3f80), 1.0f);
    cr_expect_eq(pq_bf16_to_f32(0xc0a0), -5.0f);
}

Test(interop, hf_names) {
    char n[128];
    cr_expect_eq(pq_hf_name("layers.3.wq", n, sizeof n), 0);
    cr_expect_str_eq(n, "model.layers.3.self_attn.q_proj.weight");
    cr_expect_eq(pq_hf_name("layers.0.mlp_norm", n, sizeof n), 0);
    cr_expect_str_eq(n, "model.layers.0.post_attention_layernorm.weight");
    cr_expect_eq(pq_hf_name("head", n, sizeof n), 0);
    cr_expect_str_eq(n, "lm_head.weight");
    cr_expect_neq(pq_hf_name("layers.0.bogus", n, sizeof n), 0);
}

static char dir[64];
static void mk(void) {
    strcpy(dir, "/tmp/pq_interop_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void rm(void) { pq_remove_tree(dir); }

Test(interop, safetensors_round_trip_and_truncation, .init = mk, .fini = rm) {
    float a[6] = {1, -2, 3.5f, 0, 1e-30f, 7};
    uint8_t b[3] = {1, 2, 255};
    pq_st_out t[2] = {{"a", "F32", 2, {2, 3}, a}, {"b", "U8", 1, {3, 0}, b}};
    char *p = pq_path_join(dir, "x.safetensors");
    cr_assert_eq(pq_st_write(p, t, 2, NULL), 0, "%s", pq_error());
    pq_st_set s = {0};
    cr_assert_eq(pq_st_read_header(&s, p), 0, "%s", pq_error());
    const pq_st_tensor *ta = pq_st_find(&s, "a"), *tb = pq_st_find(&s, "b");
    cr_assert(ta && tb);
    cr_expect(ta->ndim == 2 && ta->shape[0] == 2 && ta->shape[1] == 3 && tb->dtype == PQ_ST_U8);
    float back[6];
    uint8_t bb[3];
    cr_assert_eq(pq_st_read_f32(ta, back), 0);
    cr_expect_eq(memcmp(back, a, sizeof a), 0);
    cr_assert_eq(pq_st_read_raw(tb, bb), 0);
    cr_expect_eq(memcmp(bb, b, 3), 0);
    cr_expect_neq(pq_st_read_f32(tb, back), 0); /* U8 is not a float type */
    pq_st_free(&s);
    /* cut into the data: the header names an end past the file */
    size_t n;
    char *bytes = pq_read_file(p, &n);
    cr_assert_eq(pq_write_file_atomic(p, bytes, n - 2), 0);
    cr_expect_neq(pq_st_read_header(&s, p), 0);
    cr_expect(strstr(pq_error(), "truncated") && strstr(pq_error(), "tensor b"), "%s", pq_error());
    pq_st_free(&s);
    /* cut into the header */
    cr_assert_eq(pq_write_file_atomic(p, bytes, 20), 0);
    cr_expect_neq(pq_st_read_header(&s, p), 0);
    cr_expect(strstr(pq_error(), p), "%s", pq_error());
    pq_st_free(&s);
    free(bytes), free(p);
}

/* Writes an 8-byte length, the header text and `data` zero bytes; returns the path. */
static char *with_header(const char *header, size_t data) {
    char *p = pq_path_join(dir, "h.safetensors");
    size_t n = strlen(header);
    uint8_t *b = pq_calloc(8 + n + data + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
    memcpy(b + 8, header, n);
    cr_assert_eq(pq_write_file_atomic(p, b, 8 + n + data), 0);
    free(b);
    return p;
}

/* Malformed headers: one error naming the file (and the tensor where there is one). */
Test(interop, malformed_headers, .init = mk, .fini = rm) {
    const struct {
        const char *header, *expect;
    } cases[] = {
        {"[1, 2]", "not a JSON object"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", "tensor a: 4 bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", "tensor a: bad data_offsets"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", "tensor a: bad shape"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1099511627776, 1099511627776], \"data_offsets\": [0, 4]}}",
         "tensor a: bad shape"},
        {"{\"a\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", "tensor a: unsupported dtype Q4"},
        {"{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", "tensor a: header entry needs"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [64], \"data_offsets\": [0, 256]}}", "past the end of the file"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
         "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
         "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = with_header(cases[i].header, 16);
        pq_st_set s = {0};
        cr_expect_neq(pq_st_read_header(&s, p), 0, "case %zu accepted", i);
        cr_expect(strstr(pq_error(), cases[i].expect) && strstr(pq_error(), p), "case %zu: %s", i, pq_error());
        cr_expect_eq(s.n, 0);
        pq_st_free(&s);
        free(p);
    }
    /* a header length larger than the file */
    char *p = pq_path_join(dir, "h.safetensors");
    uint8_t big[12] = {0xff, 0xff, 0xff, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    cr_assert_eq(pq_write_file_atomic(p, big, sizeof big), 0);
    pq_st_set s = {0};
    cr_expect_neq(pq_st_read_header(&s, p), 0);
    cr_expect(strstr(pq_error(), "does not fit"), "%s", pq_error());
    pq_st_free(&s);
    free(p);
}
