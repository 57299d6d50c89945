/* Quantized checkpoint tests: bit packing round trips at every width, codes and
 * scales survive save/load and reproduce the stored weights, effective size. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/rng.h"
#include "base/util.h"
#include "quant/qexport.h"

Test(qexport, pack_round_trip_every_width) {
    const int widths[] = {1, 2, 3, 4, 8};
    enum { R = 5, C = 37 };
    uint8_t codes[R * C], back[R * C], packed[R * C];
    for (size_t w = 0; w < PQ_COUNT(widths); w++) {
        int b = widths[w];
        for (int k = 0; k < R * C; k++) codes[k] = (uint8_t)pq_rng_below(1, (uint64_t)b, (uint64_t)k, 1u << b);
        pq_qpack(codes, R, C, b, packed);
        cr_expect_eq(pq_qpack_row_bytes(C, b), (size_t)(C * b + 7) / 8);
        pq_qunpack(packed, R, C, b, back);
        cr_expect_arr_eq(codes, back, sizeof codes, "width %d", b);
    }
    /* the layout is LSB-first: codes 1,2,3 at 2 bits -> 0b00111001 */
    uint8_t c3[3] = {1, 2, 3}, p3[1];
    pq_qpack(c3, 1, 3, 2, p3);
    cr_expect_eq(p3[0], 0x39);
    /* 3-bit codes straddle bytes: 7,7,7 -> 0xff, 0x01 */
    uint8_t s3[3] = {7, 7, 7}, q3[2];
    pq_qpack(s3, 1, 3, 3, q3);
    cr_expect_eq(q3[0], 0xff);
    cr_expect_eq(q3[1], 0x01);
}

Test(qexport, checkpoint_round_trip_and_verify) {
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "seq", PQ_BITS_TERNARY), 0);
    enum { R = 6, C = 10 };
    float W[R * C], alpha[R], emb[40];
    for (int k = 0; k < R * C; k++) W[k] = (float)pq_rng_normal(2, 0, (uint64_t)k);
    for (int k = 0; k < 40; k++) emb[k] = (float)k;
    pq_quant_init_scales(&q, W, R, C, alpha);
    pq_ckpt *c = pq_ckpt_new();
    pq_ckpt_add_f32(c, "tok_emb", emb, 40);
    int64_t dims[2] = {R, C};
    pq_ckpt_add(c, "layers.0.wq", PQ_F32, 2, dims, W); /* latent, overwritten by the export */
    size_t nb = pq_qexport_linear(c, "layers.0.wq", &q, W, alpha, R, C);
    cr_expect_eq(nb, (size_t)R * 3); /* 10 codes x 2 bits = 3 bytes per row */
    const char *names[] = {"layers.0.wq"};
    pq_qexport_finish(c, &q, names, 1);
    cr_assert_eq(pq_qexport_verify(c, "mem"), 0, "%s", pq_error());

    char dir[] = "/tmp/pq-qexport-XXXXXX";
    cr_assert(mkdtemp(dir));
    char *path = pq_path_join(dir, "q.ckpt");
    cr_assert_eq(pq_ckpt_save(c, path, 0), 0, "%s", pq_error());
    pq_ckpt *d = pq_ckpt_load(path);
    cr_assert(d, "%s", pq_error());
    cr_assert_eq(pq_qexport_verify(d, path), 0, "%s", pq_error());
    json_t *m = json_object_get(d->meta, "quant");
    cr_expect_eq(json_integer_value(json_object_get(m, "quantized_params")), R * C);
    cr_expect_eq(json_integer_value(json_object_get(m, "fp_params")), 40);
    cr_expect_float_eq(json_real_value(json_object_get(m, "effective_bytes")), R * C * 1.58 / 8 + 40 * 2, 1e-9);
    /* the stored weights are the forward's fake-quantized weights */
    float out[R * C];
    pq_quant_forward(&q, W, alpha, R, C, out);
    cr_expect_arr_eq(pq_ckpt_find(d, "layers.0.wq")->data, out, sizeof out);

    /* a tampered weight is caught */
    ((float *)pq_ckpt_find(d, "layers.0.wq")->data)[7] += 1.0f;
    cr_expect_eq(pq_qexport_verify(d, path), -1);
    cr_expect(strstr(pq_error(), "layers.0.wq") != NULL, "%s", pq_error());
    pq_ckpt *plain = pq_ckpt_new();
    cr_expect_eq(pq_qexport_verify(plain, "plain"), -1);
    pq_ckpt_free(c), pq_ckpt_free(d), pq_ckpt_free(plain);
    unlink(path), rmdir(dir), free(path);
}

Test(qexport, effective_size) {
    cr_expect_float_eq(pq_effective_bytes(1000, 10, PQ_BITS_2), 250.0 + 20.0, 1e-9);
    cr_expect_float_eq(pq_effective_bytes(1000, 0, PQ_BITS_TERNARY), 197.5, 1e-9);
    cr_expect_float_eq(pq_effective_bytes(800, 0, PQ_BITS_1), 100.0, 1e-9);
}
