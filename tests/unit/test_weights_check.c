/* One weights check for every loader (issue 14): pq generate ran NaN weights and
 * tampered packed codes with exit 0 while pq eval refused both; now both (and
 * pq_infer_from_ckpt, which pq bench decode uses) call pq_check_ckpt_weights. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "cli/cli.h"
#include "eval/model_lm.h"
#include "kernels/infer.h"
#include "model/model.h"
#include "quant/qat.h"
#include "quant/qexport.h"

static char dir[64];
/* Idempotent: runs as the suite's init and again from a test's own (quiet) init. */
static void setup(void) {
    if (dir[0]) return;
    strcpy(dir, "/tmp/pq_weights_XXXXXX");
    cr_assert(mkdtemp(dir));
}
static void setup_quiet(void) {
    setup();
    cr_redirect_stdout(); /* the decoded ids */
    cr_redirect_stderr(); /* the expected refusals */
}
static void teardown(void) { pq_remove_tree(dir); }
TestSuite(weights_check, .init = setup, .fini = teardown);

static pq_model *tiny_model(void) {
    pq_model_config cfg = {.dim = 16, .n_layers = 1, .n_heads = 2, .n_kv_heads = 1, .ffn_dim = 32, .vocab = 64, .ctx = 16};
    pq_model *m = pq_model_new(&cfg);
    pq_model_init(m, 7);
    return m;
}

/* A full-precision checkpoint; poison = a weight to set to NaN, or NULL. */
static pq_ckpt *fp_ckpt(const char *poison) {
    pq_model *m = tiny_model();
    pq_ckpt *c = pq_ckpt_new();
    json_object_set_new(c->meta, "kind", json_string("model"));
    pq_model_to_ckpt(m, c);
    pq_model_free(m);
    if (poison) ((float *)pq_ckpt_find(c, poison)->data)[3] = NAN;
    return c;
}

/* A 2-bit quantized checkpoint (QAT export at init). */
static pq_ckpt *quant_ckpt(void) {
    pq_model *m = tiny_model();
    pq_quantizer q;
    cr_assert_eq(pq_quantizer_init(&q, "seq", PQ_BITS_2), 0);
    pq_qat *qa = pq_qat_new(m, &q);
    pq_ckpt *c = pq_qat_export(qa);
    json_object_set_new(c->meta, "kind", json_string("model"));
    pq_qat_free(qa);
    pq_model_free(m);
    return c;
}

static char *save(pq_ckpt *c, const char *name) {
    char *path = pq_path_join(dir, name);
    cr_assert_eq(pq_ckpt_save(c, path, 0), 0, "%s", pq_error());
    pq_ckpt_free(c);
    return path;
}

static int generate(const char *path) {
    const char *argv[] = {"generate", "--model", path, "--tokens", "1,2,3", "--max-tokens", "4", "--temperature", "0"};
    return cmd_generate((int)PQ_COUNT(argv), (char **)argv);
}

Test(weights_check, finite_and_verified_checkpoints_pass) {
    pq_ckpt *fp = fp_ckpt(NULL), *q = quant_ckpt();
    cr_expect_eq(pq_check_ckpt_weights(fp, "fp"), 0, "%s", pq_error());
    cr_expect_eq(pq_check_ckpt_weights(q, "q"), 0, "%s", pq_error());
    pq_ckpt_free(fp), pq_ckpt_free(q);
}

Test(weights_check, nan_weight_is_refused_by_every_loader, .init = setup_quiet) {
    char *path = save(fp_ckpt("layers.0.w_up"), "nan.ckpt");
    pq_ckpt *c = pq_ckpt_load(path);
    cr_assert(c, "%s", pq_error());
    cr_expect_eq(pq_check_ckpt_weights(c, path), -1);
    cr_expect(strstr(pq_error(), "layers.0.w_up") && strstr(pq_error(), path), "%s", pq_error());
    pq_infer_options opt = pq_infer_defaults();
    cr_expect_null(pq_infer_from_ckpt(c, path, &opt));
    cr_expect(strstr(pq_error(), "layers.0.w_up"), "%s", pq_error());
    pq_ckpt_free(c);
    cr_expect_null(pq_eval_load_model(path, NULL));
    cr_expect(strstr(pq_error(), "layers.0.w_up"), "%s", pq_error());
    cr_expect_eq(generate(path), 1);
    free(path);
}

Test(weights_check, tampered_codes_are_refused_by_every_loader, .init = setup_quiet) {
    pq_ckpt *c = quant_ckpt();
    /* flip one bit of one packed code: still a valid code, no longer the stored weight */
    const pq_tensor *codes = pq_ckpt_find(c, "layers.0.wv.qcodes");
    cr_assert(codes);
    ((uint8_t *)codes->data)[1] ^= 1;
    char *path = save(c, "tampered.ckpt");
    pq_ckpt *d = pq_ckpt_load(path);
    cr_assert(d, "%s", pq_error());
    cr_expect_eq(pq_check_ckpt_weights(d, path), -1);
    cr_expect(strstr(pq_error(), "layers.0.wv"), "%s", pq_error());
    pq_infer_options opt = pq_infer_defaults();
    cr_expect_null(pq_infer_from_ckpt(d, path, &opt));
    pq_ckpt_free(d);
    cr_expect_null(pq_eval_load_model(path, NULL));
    cr_expect(strstr(pq_error(), "layers.0.wv"), "%s", pq_error());
    cr_expect_eq(generate(path), 1);
    /* the untampered checkpoint decodes */
    char *good = save(quant_ckpt(), "good.ckpt");
    cr_expect_eq(generate(good), 0);
    free(path), free(good);
}
