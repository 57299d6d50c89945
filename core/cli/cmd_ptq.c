/* pq ptq — post-training quantization baselines: RTN and GPTQ.
 *
 * Quantizes the block linears of a full-precision checkpoint (quant/ptq.h) and
 * writes OUT/model.ckpt (a quantized checkpoint the evaluator loads like any
 * model) and OUT/results.json (size, per-layer reconstruction errors, validation
 * loss before and after when --data is given, manifest). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/manifest.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cli/mem_plan.h"
#include "cli/train_flags.h"
#include "model/config.h"
#include "model/model.h"
#include "quant/gptq.h"
#include "quant/ptq.h"
#include "train/data.h"
#include "train/trainer.h"

static void usage(void) {
    printf("usage: pq ptq --from CKPT --method rtn|gptq --bits B --out DIR [options]\n\n"
           "Post-training quantization of every linear layer inside the blocks, one scale per\n"
           "output row at its initial value (no training).\n"
           "  --from CKPT        full-precision model (pq pretrain's model.ckpt)\n"
           "  --method M         rtn (round to nearest) or gptq (error feedback from calibration data)\n"
           "  --bits B           1, 1.58, 2, 3, 4 or 8\n"
           "  --out DIR          writes DIR/model.ckpt and DIR/results.json\n"
           "  --quantizer NAME   the grid (default rtn: 2^b levels, or 3 at 1.58, spread over [-max|W|, max|W|]\n"
           "                     per row); any pq qat quantizer name works, with its initial scales\n"
           "  --scale-fp16       scales rounded as pq qat --scale-fp16 does (exact GGUF block types)\n"
           "  --data SHARDS      shard directory or synthetic:N: calibration (gptq, required) and the\n"
           "                     validation loss before/after (both methods, optional for rtn)\n"
           "  --calib-tokens N   calibration tokens for gptq (default 16384), in --seq-len windows\n"
           "  --seq-len T        calibration window (default: the model context)\n"
           "  --damp X           gptq dampening, fraction of mean diag(H) (default 0.01)\n"
           "  --block N          gptq lazy-batch block size in columns (default 128)\n"
           "  --seed S           calibration window order (default: the checkpoint's seed + 2000)\n"
           "  --eval-tokens N    validation tokens (default 16384)\n"
           "  --device D         cpu (default; or PQ_DEVICE) or cuda: the validation losses on an NVIDIA\n"
           "                     GPU (make CUDA=1). The rounding itself stays on the host: rtn's is\n"
           "                     bitwise the GPU quantizer kernels' (make test-gpu), gptq's is CPU code\n");
}

/* On the GPU: a fresh upload of m's current weights (before, then after quantization). */
static double val_loss(pq_model *m, const pq_token_stream *val, int T, int64_t eval_tokens, pq_device device) {
    pq_data_order order;
    if (pq_data_order_init(&order, val, T, 0)) return -1.0;
    double l = -1.0;
    if (device == PQ_DEVICE_CUDA) {
        pq_gpu_model *g = pq_gpu_model_new(m, 8, T, PQ_GPU_FP32, NULL);
        if (g) l = pq_eval_loss_gpu(g, &order, eval_tokens, 8, T);
        pq_gpu_model_free(g);
    } else {
        pq_acts *a = pq_acts_new_mode(&m->cfg, 8, T, PQ_ACTS_FORWARD); /* forward only: one layer's activations */
        l = pq_eval_loss(m, a, &order, eval_tokens, 8, T);
        pq_acts_free(a);
    }
    pq_data_order_free(&order);
    return l;
}

int cmd_ptq(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *from = NULL, *method = NULL, *bits_s = NULL, *out = NULL, *qname = "rtn", *data = NULL, *device_text = NULL;
    int scale_fp16 = 0;
    long long calib_tokens = 16384, seq_len = 0, block = PQ_GPTQ_BLOCK, seed = -1, eval_tokens = 16384;
    double damp = PQ_GPTQ_DAMP;
    const pq_flag flags[] = {
        {"--from", .text = &from},
        {"--method", .text = &method},
        {"--bits", .text = &bits_s},
        {"--out", .text = &out},
        {"--quantizer", .text = &qname},
        {"--data", .text = &data},
        {"--calib-tokens", .integer = &calib_tokens, .range = PQ_POSITIVE, .max = INT_MAX},
        {"--seq-len", .integer = &seq_len, .range = PQ_POSITIVE, .max = INT_MAX},
        {"--block", .integer = &block, .range = PQ_POSITIVE, .max = INT_MAX},
        {"--seed", .integer = &seed, .range = PQ_NONNEG},
        {"--eval-tokens", .integer = &eval_tokens, .range = PQ_POSITIVE},
        {"--damp", .number = &damp, .range = PQ_NONNEG},
        {"--device", .text = &device_text},
        {"--scale-fp16", .on = &scale_fp16},
    };
    pq_parse_flags("ptq", argc, argv, flags, PQ_COUNT(flags));
    if (!from) pq_usage_error("ptq", "--from is required");
    if (!method || (strcmp(method, "rtn") && strcmp(method, "gptq"))) pq_usage_error("ptq", "--method must be rtn or gptq");
    if (!bits_s) pq_usage_error("ptq", "--bits is required");
    if (!out) pq_usage_error("ptq", "--out is required");
    const int gptq = !strcmp(method, "gptq");
    if (gptq && !data) pq_usage_error("ptq", "--method gptq needs --data (calibration tokens)");
    pq_qbits bits;
    pq_quantizer q;
    if (pq_qbits_parse(bits_s, &bits)) pq_usage_error("ptq", "--bits: %s", pq_error());
    if (pq_quantizer_init(&q, qname, bits)) pq_usage_error("ptq", "--quantizer: %s", pq_error());
    if (scale_fp16 && pq_quantizer_set_scale_fp16(&q)) pq_usage_error("ptq", "--scale-fp16: %s", pq_error());
    pq_device device;
    int device_status = pq_device_flag("ptq", device_text, &device);
    if (device_status) return device_status;

    if (pq_mem_guard_ckpt("ptq", from, gptq ? calib_tokens : 0, data ? 8 : 0)) return 1; /* the val loss: batches of 8 */

    /* One process per run directory: a second one would write the same files. */
    if (pq_lock_dir_until_exit(out)) {
        fprintf(stderr, "pq ptq: %s\n", pq_error());
        return 1;
    }
    char *results_path = pq_path_join(out, "results.json"), *model_path = pq_path_join(out, "model.ckpt");
    int rc = 1, have_data = 0;
    pq_model *m = NULL;
    pq_ckpt *qc = NULL;
    json_t *config = NULL, *identity = NULL, *manifest = NULL, *report = json_array(), *train_meta = NULL;
    char *from_tokenizer = NULL; /* the tokenizer --from was trained with (NULL: not recorded) */
    pq_token_stream train = {0}, val = {0};
    uint16_t *calib = NULL, *y = NULL;

    pq_ckpt *c = pq_ckpt_load(from);
    if (!c) goto fail;
    if (json_object_get(c->meta, "quant")) {
        pq_fail("%s: is already a quantized checkpoint", from);
        pq_ckpt_free(c);
        goto fail;
    }
    pq_model_config mc;
    pq_train_config tc = pq_train_config_default();
    json_t *mo = json_object_get(c->meta, "model"), *to = json_object_get(c->meta, "train");
    if (!mo || pq_model_config_from_json(&mc, mo, from) || (to && pq_train_config_from_json(&tc, to, from))) {
        if (!mo) pq_fail("%s: no model config in the checkpoint metadata", from);
        pq_ckpt_free(c);
        goto fail;
    }
    if (to) train_meta = json_deep_copy(to);
    const char *th = pq_ckpt_tokenizer_hash(c->meta);
    if (th) from_tokenizer = pq_strdup(th);
    m = pq_model_new(&mc);
    if (pq_model_take_ckpt(m, c, from)) {
        pq_ckpt_free(c);
        goto fail;
    }
    pq_ckpt_free(c);
    const int T = seq_len > 0 ? (int)seq_len : mc.ctx;
    if (T > mc.ctx) {
        pq_fail("--seq-len %d exceeds the model context %d", T, mc.ctx);
        goto fail;
    }
    if (seed < 0) seed = (long long)tc.seed + 2000;

    config = json_pack("{s:s, s:s, s:s, s:s, s:I, s:i, s:f, s:I, s:I}", "method", method, "quantizer", q.name, "bits",
                       pq_qbits_name(bits), "data", data ? data : "", "calib_tokens", (json_int_t)calib_tokens, "seq_len", T,
                       "damp", damp, "block", (json_int_t)block, "seed", (json_int_t)seed);
    if (scale_fp16) json_object_set_new(config, "scale_fp16", json_true()); /* absent: run ids unchanged */
    manifest = pq_manifest_new("ptq", config);
    if (pq_manifest_add_input(manifest, "from", from)) goto fail;

    /* What a finished directory must agree on: the config, the checkpoint and the data contents. */
    identity = json_pack("{s:O, s:O}", "config", config, "from",
                         json_object_get(json_object_get(json_object_get(manifest, "inputs"), "from"), "sha256"));
    /* The validation losses of a GPU run are another computation's (as pq pretrain's). */
    if (device == PQ_DEVICE_CUDA) {
        pq_identity_add_cuda(identity, PQ_GPU_FP32);
        if (pq_manifest_add_gpu(manifest, PQ_GPU_FP32)) goto fail;
    }
    double fp_val = -1, q_val = -1;
    if (data) {
        if (pq_tokens_load_data(data, mc.vocab, &train, &val)) goto fail;
        have_data = 1;
        /* Calibrating or validating on tokens of another tokenizer measures nothing. */
        if (pq_tokens_check_tokenizer(&train, data, from_tokenizer, from)) goto fail;
        pq_tokens_add_inputs(manifest, &train), pq_tokens_add_inputs(manifest, &val);
        char hex[PQ_SHA256_HEX];
        pq_sha256_hex(train.tokens, sizeof(uint16_t) * (size_t)train.n, hex);
        json_object_set_new(identity, "train_tokens", json_string(hex));
        pq_sha256_hex(val.tokens, sizeof(uint16_t) * (size_t)val.n, hex);
        json_object_set_new(identity, "val_tokens", json_string(hex));
    }
    int finished = pq_run_finished(out, identity);
    if (finished < 0) goto fail;
    if (finished > 0) {
        fprintf(stderr, "pq ptq: %s is finished; nothing to do\n", out);
        rc = 0;
        goto done;
    }
    if (have_data && (fp_val = val_loss(m, &val, T, eval_tokens, device)) < 0) goto fail;
    if (pq_mkdirs(out)) goto fail;

    if (gptq) {
        /* Calibration windows: the first sequences of a shuffled order of the training stream. */
        pq_data_order order;
        if (pq_data_order_init(&order, &train, T, (uint64_t)seed)) goto fail;
        int n_seq = (int)((calib_tokens + T - 1) / T);
        calib = pq_malloc(sizeof(uint16_t) * (size_t)n_seq * T);
        y = pq_malloc(sizeof(uint16_t) * (size_t)n_seq * T);
        pq_data_train_batch(&order, 0, n_seq, calib, y);
        pq_data_order_free(&order);
        qc = pq_ptq_gptq(m, &q, calib, n_seq, T, 8, damp, (int)block, report);
    } else {
        qc = pq_ptq_rtn(m, &q, report);
    }
    if (!qc) goto fail;
    if (train_meta) json_object_set(qc->meta, "train", train_meta);
    json_object_set(qc->meta, "ptq", config);
    /* The checkpoint's own, else the data's (equal when both are known: checked above). */
    pq_ckpt_set_tokenizer_hash(qc->meta, from_tokenizer ? from_tokenizer : have_data ? pq_tokens_tokenizer_hash(&train) : NULL);
    if (pq_ckpt_save(qc, model_path, 0)) goto fail;
    if (have_data && (q_val = val_loss(m, &val, T, eval_tokens, device)) < 0) goto fail;

    pq_manifest_finish(manifest);
    json_t *res = json_object();
    json_object_set_new(res, "kind", json_string("ptq"));
    json_object_set(res, "config", config);
    json_object_set(res, "identity", identity);
    json_object_set_new(res, "method", json_string(method));
    json_object_set_new(res, "quantizer", json_string(q.name));
    json_object_set_new(res, "bits", json_string(pq_qbits_name(bits)));
    json_object_set_new(res, "bits_value", json_real(pq_qbits_value(bits)));
    json_object_set(res, "size", json_object_get(qc->meta, "quant"));
    if (have_data) {
        json_object_set_new(res, "fp_val_loss", json_real(fp_val));
        json_object_set_new(res, "final_val_loss", json_real(q_val));
    }
    json_object_set(res, "layers", report);
    json_object_set_new(res, "model_ckpt", json_string(model_path));
    json_object_set(res, "manifest", manifest);
    int wrc = pq_json_write(res, results_path);
    json_decref(res);
    if (wrc) goto fail;
    if (have_data) fprintf(stderr, "pq ptq: %s %s@%s, val loss %.4f -> %.4f -> %s\n", method, q.name, pq_qbits_name(bits), fp_val, q_val, out);
    else fprintf(stderr, "pq ptq: %s %s@%s -> %s\n", method, q.name, pq_qbits_name(bits), out);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "pq ptq: %s\n", pq_error());
done:
    pq_ckpt_free(qc);
    pq_model_free(m);
    free(calib), free(y), free(from_tokenizer);
    if (have_data) pq_tokens_free(&train), pq_tokens_free(&val);
    json_decref(config), json_decref(identity), json_decref(manifest), json_decref(report), json_decref(train_meta);
    free(results_path), free(model_path);
    return rc;
}
