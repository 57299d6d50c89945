/* Packed weight formats: exact round trips, layouts, bad codes. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "kernels/pack.h"

static uint8_t *random_codes(int rows, int cols, int levels, uint64_t sub) {
    uint8_t *c = pq_malloc((size_t)rows * cols);
    pq_rng r = pq_rng_make(7, pq_rng_stream_id("test-pack", sub));
    for (size_t i = 0; i < (size_t)rows * cols; i++) c[i] = (uint8_t)pq_rng_next_below(&r, (uint64_t)levels);
    return c;
}

static void check_roundtrip(pq_format f, int rows, int cols, const uint8_t *codes) {
    float *scale = pq_malloc(rows * sizeof(float)), *offset = pq_malloc(rows * sizeof(float));
    for (int r = 0; r < rows; r++) scale[r] = 0.25f + r, offset[r] = -0.5f * r;
    pq_packed *p = pq_pack(f, rows, cols, codes, scale, offset);
    cr_assert_not_null(p, "%s", pq_error());
    uint8_t *back = pq_malloc(cols);
    float *w = pq_malloc(cols * sizeof(float));
    for (int r = 0; r < rows; r++) {
        pq_unpack_row(p, r, back);
        cr_assert(memcmp(back, codes + (size_t)r * cols, cols) == 0, "format %s %dx%d row %d differs",
                  pq_format_name(f), rows, cols, r);
        pq_dequant_row(p, r, w);
        for (int c = 0; c < cols; c++) cr_assert_eq(w[c], scale[r] * codes[(size_t)r * cols + c] + offset[r]);
    }
    /* Storage is exactly the format's bits per weight, for cols rounded up to 64 (320 for t1.6). */
    int padded = f == PQ_FMT_T1_6 ? (cols + 319) / 320 * 320 : (cols + 63) / 64 * 64;
    cr_assert_eq(p->row_bytes * 8, (size_t)(pq_format_bits(f) * padded + 0.5), "%s cols %d: %zu bytes", pq_format_name(f),
                 cols, p->row_bytes);
    pq_packed_free(p);
    free(back), free(w), free(scale), free(offset);
}

Test(kernels_pack, random_roundtrip_every_format_and_odd_shape) {
    const int shapes[][2] = {{1, 1}, {3, 5}, {7, 255}, {2, 256}, {5, 257}, {1, 319}, {4, 320}, {3, 321}, {2, 1000}, {1, 2049}};
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        for (size_t s = 0; s < PQ_COUNT(shapes); s++) {
            int rows = shapes[s][0], cols = shapes[s][1];
            uint8_t *codes = random_codes(rows, cols, pq_format_levels((pq_format)f), (uint64_t)(f * 100 + s));
            check_roundtrip((pq_format)f, rows, cols, codes);
            free(codes);
        }
}

Test(kernels_pack, extreme_codes) {
    int rows = 3, cols = 333;
    uint8_t *codes = pq_malloc((size_t)rows * cols);
    for (int f = 0; f < PQ_FMT_COUNT; f++) {
        int top = pq_format_levels((pq_format)f) - 1;
        for (int i = 0; i < rows * cols; i++) codes[i] = (uint8_t)(i / cols == 0 ? top : i / cols == 1 ? 0 : (i % 2) * top);
        check_roundtrip((pq_format)f, rows, cols, codes);
    }
    free(codes);
}

/* Every 5-trit value survives the base-3 packing with the 256/243 rescale. */
Test(kernels_pack, every_trit_quintuple) {
    uint8_t codes[PQ_BLOCK_T1_6 * 4];
    memset(codes, 0, sizeof codes);
    int rows = 4; /* 243 values spread over 4 rows x 64 bytes */
    for (int v = 0; v < 243; v++) {
        int r = v / 64, j = v % 64, x = v;
        for (int k = 4; k >= 0; k--) codes[r * PQ_BLOCK_T1_6 + 64 * k + j] = (uint8_t)(x % 3), x /= 3;
    }
    float s[4] = {1, 1, 1, 1};
    check_roundtrip(PQ_FMT_T1_6, rows, PQ_BLOCK_T1_6, codes);
    pq_packed *p = pq_pack(PQ_FMT_T1_6, rows, PQ_BLOCK_T1_6, codes, s, NULL);
    cr_assert_eq(p->row_bytes, 64u);
    pq_packed_free(p);
}

Test(kernels_pack, layouts_match_the_documentation) {
    uint8_t codes[PQ_BLOCK] = {0};
    float s = 1;
    codes[64 + 3] = 2; /* B2: byte 3, bits 2..3 */
    pq_packed *p = pq_pack(PQ_FMT_B2, 1, PQ_BLOCK, codes, &s, NULL);
    cr_assert_eq(p->data[3], 2 << 2);
    pq_packed_free(p);
    memset(codes, 0, sizeof codes);
    codes[64 + 5] = 9; /* B4: byte 5, high nibble */
    p = pq_pack(PQ_FMT_B4, 1, PQ_BLOCK, codes, &s, NULL);
    cr_assert_eq(p->data[5], 9 << 4);
    pq_packed_free(p);
    memset(codes, 0, sizeof codes);
    codes[70] = 5; /* B3: low bits 01 in byte 6 bits 2..3, high bit: byte 6 bit 2 of the high plane */
    p = pq_pack(PQ_FMT_B3, 1, PQ_BLOCK, codes, &s, NULL);
    cr_assert_eq(p->data[6], 1 << 2);
    cr_assert_eq(p->data[64 + 6], 1 << 2);
    pq_packed_free(p);
    memset(codes, 0, sizeof codes);
    codes[9 + 64] = 1; /* B1: byte 9, bit 2 */
    p = pq_pack(PQ_FMT_B1, 1, PQ_BLOCK, codes, &s, NULL);
    cr_assert_eq(p->data[9], 4);
    pq_packed_free(p);
}

Test(kernels_pack, tail_layouts_match_the_documentation) {
    enum { C = PQ_BLOCK + 64 }; /* one full block, one tail vector */
    uint8_t codes[C];
    float s = 1;
    const struct {
        pq_format f;
        int weight, code;
        size_t byte;
        uint8_t value;
    } cases[] = {
        {PQ_FMT_B1, PQ_BLOCK + 8 * 3 + 5, 1, 5, 1 << 3},         /* byte j=5, bit k=3 */
        {PQ_FMT_B2, PQ_BLOCK + 16 * 2 + 7, 3, 7, 3 << 4},        /* byte 7, bits 4..5 */
        {PQ_FMT_B4, PQ_BLOCK + 32 + 9, 11, 9, 11 << 4},          /* byte 9, high nibble */
        {PQ_FMT_B8, PQ_BLOCK + 40, 200, 40, 200},                /* byte 40 */
        {PQ_FMT_B3, PQ_BLOCK + 8 * 2 + 2, 6, 16 + 2, 1 << 2},    /* weight 18: high bit in byte 16+2, bit 2 */
    };
    for (size_t i = 0; i < PQ_COUNT(cases); i++) {
        memset(codes, 0, sizeof codes);
        codes[cases[i].weight] = (uint8_t)cases[i].code;
        pq_packed *p = pq_pack(cases[i].f, 1, C, codes, &s, NULL);
        cr_assert_eq(p->nblocks, 1);
        cr_assert_eq(p->tail_vecs, 1);
        const uint8_t *tail = p->data + p->block_bytes;
        cr_assert_eq(tail[cases[i].byte], cases[i].value, "%s: byte %zu is %#x", pq_format_name(cases[i].f),
                     cases[i].byte, tail[cases[i].byte]);
        pq_packed_free(p);
    }
}

Test(kernels_pack, rejects_codes_outside_the_format) {
    uint8_t codes[6] = {0, 1, 2, 0, 3, 1};
    float s[2] = {1, 1};
    cr_assert_null(pq_pack(PQ_FMT_T2, 2, 3, codes, s, NULL));
    cr_assert(strstr(pq_error(), "row 1, column 1") != NULL, "%s", pq_error());
    cr_assert_null(pq_pack(PQ_FMT_B1, 1, 3, codes, s, NULL));
    cr_assert_null(pq_pack(PQ_FMT_B4, 1, PQ_MAX_COLS + 1, codes, s, NULL));
    pq_format f;
    cr_assert_eq(pq_format_parse("t1.6", &f), 0);
    cr_assert_eq(f, PQ_FMT_T1_6);
    cr_assert_eq(pq_format_parse("q4", &f), -1);
    cr_assert_eq(pq_format_for_levels(3, 1, &f), 0);
    cr_assert_eq(f, PQ_FMT_T1_6);
    cr_assert_eq(pq_format_for_levels(255, 0, &f), 0);
    cr_assert_eq(f, PQ_FMT_B8);
    cr_assert_eq(pq_format_for_levels(257, 0, &f), -1);
}

/* Codes from every core/quant quantizer survive packing exactly, and the packed
 * affine form gives the quantizer's dequantized weights (up to float rounding
 * of α·(level0 + code·step) vs (α·step)·code + α·level0). */
#include "quant/quantizer.h"

Test(kernels_pack, roundtrip_against_the_quantizers) {
    const char *names[] = {"paretoq", "lsq", "seq", "minmax", "absmean", "int8"};
    const char *bits_list[] = {"1", "1.58", "2", "3", "4", "8"};
    int rows = 5, cols = 333;
    float *W = pq_malloc((size_t)rows * cols * sizeof(float)), alpha[5], scale[5], offset[5], w[333];
    pq_rng r = pq_rng_make(5, pq_rng_stream_id("test-pack-quant", 0));
    for (int i = 0; i < rows * cols; i++) W[i] = (float)(0.05 * pq_rng_next_normal(&r));
    uint8_t *codes = pq_malloc((size_t)rows * cols), *back = pq_malloc(cols);
    int tried = 0;
    for (size_t n = 0; n < PQ_COUNT(names); n++)
        for (size_t b = 0; b < PQ_COUNT(bits_list); b++) {
            pq_qbits bits;
            pq_quantizer q;
            cr_assert_eq(pq_qbits_parse(bits_list[b], &bits), 0);
            if (pq_quantizer_init(&q, names[n], bits) != 0) continue; /* width not offered by this member */
            tried++;
            pq_quant_init_scales(&q, W, rows, cols, alpha);
            pq_quant_codes(&q, W, alpha, rows, cols, codes);
            pq_format f;
            cr_assert_eq(pq_format_for_levels(q.levels, 0, &f), 0);
            for (int i = 0; i < rows; i++) {
                float a = alpha[i] > PQ_ALPHA_MIN ? alpha[i] : PQ_ALPHA_MIN;
                scale[i] = a * q.level_step, offset[i] = a * q.level0;
            }
            pq_packed *p = pq_pack(f, rows, cols, codes, scale, offset);
            cr_assert_not_null(p, "%s@%s: %s", names[n], bits_list[b], pq_error());
            for (int i = 0; i < rows; i++) {
                pq_unpack_row(p, i, back);
                cr_assert(memcmp(back, codes + (size_t)i * cols, cols) == 0, "%s@%s row %d", names[n], bits_list[b], i);
                pq_dequant_row(p, i, w);
                for (int c = 0; c < cols; c++) {
                    float want = pq_quant_dequant(&q, alpha[i], codes[(size_t)i * cols + c]);
                    cr_assert(fabsf(w[c] - want) <= 1e-6f * fabsf(alpha[i]) * q.levels, "%s@%s: %g vs %g", names[n],
                              bits_list[b], w[c], want);
                }
            }
            pq_packed_free(p);
        }
    cr_assert(tried >= 20, "only %d quantizer/width pairs", tried);
    free(W), free(codes), free(back);
}

/* pq_huge_gather (under pq_packed_coalesce and the decoder's fp32 matrices): buffers land back
 * to back at 64-byte boundaries in the order given, with their bytes; kept ones stay alive. */
Test(kernels_pack, huge_gather_lays_out_in_order_and_keeps_what_it_is_told) {
    const size_t bytes[3] = {100, 64, 1};
    void *bufs[3];
    unsigned char keep[3] = {0, 1, 0};
    uint8_t *kept = pq_malloc(64);
    for (int i = 0; i < 3; i++) {
        bufs[i] = i == 1 ? kept : pq_malloc(bytes[i]);
        memset(bufs[i], 'a' + i, bytes[i]);
    }
    uint8_t *block = pq_huge_gather(bufs, bytes, keep, 3);
    cr_assert_eq((uint8_t *)bufs[0], block);
    cr_assert_eq((uint8_t *)bufs[1], block + 128);
    cr_assert_eq((uint8_t *)bufs[2], block + 192);
    for (int i = 0; i < 3; i++)
        for (size_t j = 0; j < bytes[i]; j++) cr_assert_eq(((uint8_t *)bufs[i])[j], 'a' + i);
    kept[0] = 'z'; /* still ours: the caller frees it */
    free(kept);
    free(block);
    cr_assert_eq(pq_round64(0), 0);
    cr_assert_eq(pq_round64(65), 128);
}
