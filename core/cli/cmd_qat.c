/* pq qat — quantization-aware training of a pretrained (or random) model.
 *
 * Fine-tunes the latent weights and, for learned-range quantizers, the per-row
 * scales through the engine's training loop (train/trainer.h) with the QAT hook
 * (quant/qat.h) installed: same checkpoint/resume and determinism guarantees as
 * pretraining. --tokens 0 is post-training quantization with the scales at their
 * initial values. Writes OUT/state.ckpt (resumable), OUT/model.ckpt (the
 * quantized checkpoint: dequantized weights + packed codes + scales, loadable
 * by the evaluator) and OUT/results.json. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
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
#include "quant/qat.h"
#include "quant/qexport.h"
#include "train/data.h"
#include "train/trainer.h"

static void usage(void) {
    printf("usage: pq qat (--from CKPT | --from-scratch --config FILE) --bits B --quantizer NAME\n"
           "              --tokens N --data SHARDS --out DIR [options]\n\n"
           "Quantization-aware training: every linear layer inside the blocks computes with\n"
           "alpha*q(W/alpha) (one scale per output row); embedding, head and norms stay full precision.\n"
           "  --from CKPT       start from this full-precision model (pq pretrain's model.ckpt)\n"
           "  --from-scratch    start from random init instead (shape from --config, or from --from)\n"
           "  --config FILE     model + train config (as for pq pretrain) for --from-scratch\n"
           "  --bits B          1, 1.58, 2, 3, 4 or 8\n"
           "  --quantizer none  the full-precision control: the same fine-tune as QAT at --bits\n"
           "                    (tokens, LR, schedule, data order), the weights never quantized\n"
           "  --quantizer NAME  paretoq (sign@1, seq@1.58/2, lsq@3/4/8), sign, sign_max, seq, lsq, lsq_wide,\n"
           "                    minmax, clip, rtn, absmean, int8 (README: Quantization)\n"
           "  --tokens N        QAT token budget; 0 = post-training quantization (scales at init)\n"
           "  --scale-fp16      train with each row's scale unit rounded to fp16, so that pq export\n"
           "                    --format gguf stores the model exactly in llama.cpp's TQ2_0/Q2_K/Q4_0/Q8_0\n"
           "                    (README: Use your own model); not with minmax/clip/rtn at 2-8 bits\n"
           "  --data SHARDS     shard directory (train_*.bin + val.bin) or synthetic:N\n"
           "  --out DIR         run directory: state.ckpt, model.ckpt, results.json\n"
           "options (defaults from the checkpoint's pretraining config, see README):\n"
           "  --lr LR           peak LR (default: pretraining lr/10 at <=2 bits, /20 above; from scratch: lr)\n"
           "  --seed S          run seed (default: the checkpoint's); from scratch it seeds init and data\n"
           "                    order, a fine-tune reads data in the order of S+1000 so that it does not\n"
           "                    replay the pretraining batches\n"
           "  --batch N  --grad-accum N  --seq-len T  --warmup N  --min-lr-ratio R\n"
           "  --eval-interval N  --eval-tokens N  --ckpt-interval N\n"
           "  --device D        cpu (default; or PQ_DEVICE) or cuda: the steps and the quantizer kernels\n"
           "                    on an NVIDIA GPU (a build with make CUDA=1; README: GPU)\n"
           "  --precision P     fp32 (default); bf16: CPU linears on bf16 inputs with fp32 sums and\n"
           "                    fp32 master weights (README: Training); tf32: cuda tensor-core matmuls\n"
           "  --recompute       keep each layer's input only and recompute its activations in the\n"
           "                    backward: less memory, about a quarter more arithmetic in the layers, the\n"
           "                    same results bit for bit (CPU; on by itself when --max-memory needs it)\n"
           "  --max-memory SIZE plan the peak memory first and stop at once if it is over SIZE\n\n"
           "Rerunning the same command resumes from OUT/state.ckpt; a finished run is not recomputed.\n"
           "Under mpirun -np K the steps are split over K processes, as for pq pretrain.\n");
}

typedef struct {
    const char *from, *config, *bits, *quantizer, *data, *out, *device, *precision;
    int from_scratch, scale_fp16, recompute;
    pq_train_flags train; /* --tokens (required here), --lr, --batch, ... */
} qat_args;

static void parse(int argc, char **argv, qat_args *a) {
    memset(a, 0, sizeof *a);
    pq_train_flags *t = &a->train;
    pq_train_flags_init(t);
    const pq_flag flags[] = {
        {"--from-scratch", .on = &a->from_scratch},
        {"--scale-fp16", .on = &a->scale_fp16},
        {"--recompute", .on = &a->recompute},
        {"--from", .text = &a->from},
        {"--config", .text = &a->config},
        {"--bits", .text = &a->bits},
        {"--quantizer", .text = &a->quantizer},
        {"--data", .text = &a->data},
        {"--out", .text = &a->out},
        {"--tokens", .integer = &t->tokens, .range = PQ_NONNEG},
        {"--lr", .number = &t->lr, .range = PQ_POSITIVE},
        {"--min-lr-ratio", .number = &t->min_lr_ratio, .range = PQ_FRACTION},
        {"--batch", .integer = &t->batch, .range = PQ_POSITIVE, .max = INT_MAX},
        {"--grad-accum", .integer = &t->grad_accum, .range = PQ_POSITIVE, .max = INT_MAX},
        {"--seq-len", .integer = &t->seq_len, .range = PQ_POSITIVE, .max = INT_MAX},
        {"--seed", .integer = &t->seed, .range = PQ_NONNEG},
        {"--warmup", .integer = &t->warmup, .range = PQ_NONNEG},
        {"--eval-interval", .integer = &t->eval_interval, .range = PQ_NONNEG},
        {"--eval-tokens", .integer = &t->eval_tokens, .range = PQ_NONNEG},
        {"--ckpt-interval", .integer = &t->ckpt_interval, .range = PQ_NONNEG},
        {"--device", .text = &a->device},
        {"--precision", .text = &a->precision},
    };
    pq_parse_flags("qat", argc, argv, flags, PQ_COUNT(flags));
    if (!a->from && !(a->from_scratch && a->config)) pq_usage_error("qat", "--from CKPT (or --from-scratch --config FILE) is required");
    if (!a->bits) pq_usage_error("qat", "--bits is required");
    if (!a->quantizer) pq_usage_error("qat", "--quantizer is required");
    if (t->tokens < 0) pq_usage_error("qat", "--tokens is required (0 = post-training quantization)");
    if (!a->data) pq_usage_error("qat", "--data is required");
    if (!a->out) pq_usage_error("qat", "--out is required");
    pq_qbits b;
    if (pq_qbits_parse(a->bits, &b)) pq_usage_error("qat", "--bits: %s", pq_error());
    pq_quantizer q;
    if (strcmp(a->quantizer, "none") && pq_quantizer_init(&q, a->quantizer, b))
        pq_usage_error("qat", "--quantizer: %s", pq_error());
    if (a->scale_fp16 && !strcmp(a->quantizer, "none")) pq_usage_error("qat", "--scale-fp16 needs a quantizer, not none");
    if (a->scale_fp16 && pq_quantizer_set_scale_fp16(&q)) pq_usage_error("qat", "--scale-fp16: %s", pq_error());
}

/* --quantizer none: the full-precision control of a QAT run. Per linear, the relative L1
 * change of its weights from the starting point, as pq_qat_report gives it for QAT (the
 * weights are their own quantized value here). */
static json_t *fp_layers_report(pq_model *m, const float *fp_params) {
    json_t *arr = json_array();
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int w = 0; w < PQ_LIN_COUNT; w++) {
            int rows, cols;
            const float *W = pq_model_linear(m, l, (pq_linear_id)w, &rows, &cols, NULL);
            const float *W0 = fp_params + (W - m->params);
            double d = 0, norm = 0;
            for (size_t k = 0; k < (size_t)rows * cols; k++) d += fabs((double)W[k] - W0[k]), norm += fabs((double)W0[k]);
            double rel = norm > 0 ? d / norm : 0.0;
            json_array_append_new(arr, json_pack("{s:i, s:s, s:i, s:i, s:f, s:f}", "layer", l, "which",
                                                 pq_linear_name((pq_linear_id)w), "rows", rows, "cols", cols, "rel_l1", rel,
                                                 "rel_l1_quantized", rel));
        }
    return arr;
}

/* The weights QAT started from, for the report's weight change: --from's read again, or
 * the same init, after training rather than kept beside it (4 bytes a parameter at the
 * peak). NULL + pq_error() if --from cannot be read back. */
static pq_model *start_model(const qat_args *a, const pq_model_config *mc, uint64_t init_seed) {
    pq_model *s = pq_model_new(mc);
    if (a->from_scratch) {
        pq_model_init(s, init_seed);
        return s;
    }
    pq_ckpt *c = pq_ckpt_load(a->from);
    if (!c || pq_model_take_ckpt(s, c, a->from)) {
        pq_ckpt_free(c), pq_model_free(s);
        return NULL;
    }
    pq_ckpt_free(c);
    return s;
}

/* The QAT learning rate when --lr is not given. The paper fine-tunes at 2e-5 (<=2 bits)
 * and 1e-5 (3-4 bits) after pretraining at 2e-3 (MobileLLM), i.e. 1/100 and 1/200 of the
 * pretraining LR, over 120K/40K steps. Our QAT runs are 100-1000x shorter, so we keep the
 * 2:1 ratio between the bit ranges and raise the level 10x: pretraining lr/10 and lr/20. */
static double default_lr(double pretrain_lr, pq_qbits bits, int from_scratch) {
    if (from_scratch) return pretrain_lr;
    int low = bits == PQ_BITS_1 || bits == PQ_BITS_TERNARY || bits == PQ_BITS_2;
    return pretrain_lr / (low ? 10.0 : 20.0);
}

int cmd_qat(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    qat_args a;
    parse(argc, argv, &a);
    pq_device device;
    pq_gpu_precision precision;
    const int bf16 = pq_parse_precision("qat", a.precision, &precision);
    int device_status = pq_device_flag("qat", a.device, &device);
    if (device_status) return device_status;
    pq_apply_precision("qat", bf16, device);
    if (a.recompute && device == PQ_DEVICE_CUDA)
        pq_usage_error("qat", "--recompute is the CPU trainer's (the GPU keeps its activations on the device)");
    pq_qbits bits;
    pq_quantizer q;
    pq_qbits_parse(a.bits, &bits);
    /* none: no quantizer at all; --bits only picks the LR rule of the QAT run it controls */
    const int fp_control = !strcmp(a.quantizer, "none");
    if (fp_control) memset(&q, 0, sizeof q), snprintf(q.name, sizeof q.name, "none");
    else pq_quantizer_init(&q, a.quantizer, bits);
    if (a.scale_fp16) pq_quantizer_set_scale_fp16(&q); /* checked in parse(); the GPU kernels round α alike */
    const int asked_recompute = a.recompute;
    if (pq_mem_guard_qat(a.from, a.config, &a.train, a.data, a.out, device == PQ_DEVICE_CUDA ? NULL : &a.recompute))
        return 1;

    /* One process per run directory: a second one would write the same files. Over MPI
     * rank 0 holds the lock and writes; the other ranks only read (base/dist.h). */
    if (pq_dist_rank() == 0 && pq_lock_dir_until_exit(a.out)) {
        fprintf(stderr, "pq qat: %s\n", pq_error());
        return 1;
    }
    char *results_path = pq_path_join(a.out, "results.json"), *model_path = pq_path_join(a.out, "model.ckpt");

    /* The starting model and the pretraining config it came with. */
    int rc = 1;
    pq_model *m = NULL;
    pq_model_config mc;
    pq_train_config tc = pq_train_config_default();
    json_t *raw = NULL, *identity = NULL, *manifest = NULL;
    pq_token_stream train = {0}, val = {0};
    int have_data = 0;
    pq_qat *qa = NULL;
    char from_hash[PQ_SHA256_HEX] = "";
    char *from_tokenizer = NULL; /* the tokenizer --from was trained with (NULL: not recorded) */
    json_t *from_source = NULL;  /* an imported model's source (its own tokenizer: eval/tokenizer.h) */
    if (a.from) {
        pq_ckpt *c = pq_ckpt_load(a.from);
        if (!c) goto fail;
        json_t *mo = json_object_get(c->meta, "model"), *to = json_object_get(c->meta, "train");
        if (!mo || pq_model_config_from_json(&mc, mo, a.from) ||
            (to && pq_train_config_from_json(&tc, to, a.from))) {
            if (!mo) pq_fail("%s: no model config in the checkpoint metadata", a.from);
            pq_ckpt_free(c);
            goto fail;
        }
        if (json_object_get(c->meta, "quant")) {
            pq_fail("%s: is already a quantized checkpoint; start QAT from a full-precision model", a.from);
            pq_ckpt_free(c);
            goto fail;
        }
        const char *th = pq_ckpt_tokenizer_hash(c->meta);
        if (th && !a.from_scratch) from_tokenizer = pq_strdup(th);
        if (!a.from_scratch) from_source = json_incref(json_object_get(c->meta, "source"));
        m = pq_model_new(&mc);
        if (!a.from_scratch && pq_model_from_ckpt(m, c, a.from)) {
            pq_ckpt_free(c);
            goto fail;
        }
        pq_ckpt_free(c);
        if (pq_sha256_file(a.from, from_hash)) goto fail;
    }
    if (a.config) {
        pq_model_config cmc;
        if (pq_config_load(a.config, &cmc, &tc, &raw)) goto fail;
        if (!m) mc = cmc, m = pq_model_new(&mc);
    }
    const double pretrain_lr = tc.lr;
    pq_train_flags_apply(&a.train, &tc); /* tokens, and what was given of batch, seed, ... */
    if (a.from_scratch) pq_model_init(m, tc.seed);
    /* QAT: no weight decay on anything (DESIGN.md §3); the data order gets its own seed so
     * fine-tuning does not replay the pretraining batches in the same order. */
    tc.weight_decay = 0.0;
    tc.schedule = PQ_SCHEDULE_COSINE; /* the QAT recipe, whatever schedule pretrained the model */
    if (!a.from_scratch) {
        if (a.train.warmup < 0) tc.warmup = 0;
        if (a.train.min_lr_ratio < 0) tc.min_lr_ratio = 0.0;
        tc.seed += 1000; /* data order only: a fine-tune never re-initializes */
    }
    if (a.train.lr <= 0) tc.lr = default_lr(pretrain_lr, bits, a.from_scratch);
    const int T = a.train.seq_len > 0 ? (int)a.train.seq_len : mc.ctx;
    if (T > mc.ctx) {
        pq_fail("--seq-len %d exceeds the model context %d", T, mc.ctx);
        goto fail;
    }

    if (pq_tokens_load_data(a.data, mc.vocab, &train, &val)) goto fail;
    have_data = 1;
    /* Fine-tuning on tokens of another tokenizer would train on ids that mean other words. */
    if (pq_tokens_check_tokenizer(&train, a.data, from_tokenizer, a.from)) goto fail;
    if (pq_mkdirs(a.out)) goto fail;

    char train_hash[PQ_SHA256_HEX], val_hash[PQ_SHA256_HEX];
    pq_sha256_hex(train.tokens, sizeof(uint16_t) * (size_t)train.n, train_hash);
    pq_sha256_hex(val.tokens, sizeof(uint16_t) * (size_t)val.n, val_hash);
    identity = json_pack("{s:s, s:s, s:b, s:s, s:o, s:o, s:i, s:s, s:s}", "quantizer", q.name, "bits", pq_qbits_name(bits),
                         "from_scratch", a.from_scratch, "from", from_hash, "model", pq_model_config_to_json(&mc), "train",
                         pq_train_config_to_json(&tc), "seq_len", T, "train_tokens", train_hash, "val_tokens", val_hash);
    /* A GPU run is another computation (other rounding): it never resumes a CPU state, nor
     * the reverse (as pq pretrain). CPU identities are unchanged. */
    if (device == PQ_DEVICE_CUDA) pq_identity_add_cuda(identity, precision);
    if (bf16) json_object_set_new(identity, "precision", json_string("bf16")); /* other rounding: never reuses fp32 */
    if (a.scale_fp16) json_object_set_new(identity, "scale_fp16", json_true()); /* another model; absent: ids unchanged */
    /* A finished directory is trusted only if it was made from this model, config and
     * data, checked as a state to resume is (train/trainer.h). */
    int finished = pq_run_finished(a.out, identity);
    if (finished < 0) goto fail;
    if (finished > 0) {
        if (pq_dist_rank() == 0) fprintf(stderr, "pq qat: %s is finished; nothing to do\n", a.out);
        rc = 0;
        goto done;
    }
    manifest = pq_manifest_new("qat", identity);
    if (a.from) pq_manifest_add_input(manifest, "from", a.from);
    if (a.config) pq_manifest_add_input(manifest, "config", a.config);
    pq_tokens_add_inputs(manifest, &train), pq_tokens_add_inputs(manifest, &val);
    pq_manifest_add_input_hash(manifest, "train_tokens", train_hash);
    pq_manifest_add_input_hash(manifest, "val_tokens", val_hash);
    if (bf16) json_object_set_new(manifest, "matmul", pq_matmul_info());
    pq_manifest_recompute(manifest, a.recompute, asked_recompute);
    if (device == PQ_DEVICE_CUDA && pq_manifest_add_gpu(manifest, precision)) goto fail;

    qa = fp_control ? NULL : pq_qat_new(m, &q);
    pq_param_group *extra = NULL;
    int n_extra = 0;
    if (qa) pq_qat_param_groups(qa, &extra, &n_extra);
    pq_trainer_spec sp = {.kind = "qat", .out_dir = a.out, .model = m, .train = tc, .seq_len = T, .train_data = &train,
                          .val_data = &val, .hook = qa ? &qa->hook : NULL, .extra = extra, .n_extra = n_extra,
                          .identity = identity, .device = device, .precision = precision, .recompute = a.recompute};
    pq_gpu_weight_hook gpu_hook;
    if (qa && device == PQ_DEVICE_CUDA) pq_qat_gpu_hook(qa, &gpu_hook), sp.gpu_hook = &gpu_hook;
    pq_train_log log;
    if (pq_train(&sp, &log)) {
        free(extra);
        goto fail;
    }
    free(extra);
    if (pq_dist_rank() != 0) { /* rank 0 writes the results */
        pq_train_log_free(&log);
        rc = 0;
        goto done;
    }

    pq_ckpt *qc = qa ? pq_qat_export(qa) : pq_ckpt_new();
    if (!qa) {
        /* the control writes an ordinary full-precision model.ckpt (pq_model_save's layout) */
        pq_model_to_ckpt(m, qc);
        json_object_set_new(qc->meta, "kind", json_string("model"));
    }
    json_object_set(qc->meta, "train", json_object_get(identity, "train"));
    json_object_set_new(qc->meta, "qat", json_pack("{s:s, s:s, s:b, s:I}", "quantizer", q.name, "bits", pq_qbits_name(bits),
                                                   "from_scratch", a.from_scratch, "tokens_seen",
                                                   (json_int_t)(log.steps_done * log.tokens_per_step)));
    /* Equal to the data's when both are known (checked above). */
    pq_ckpt_set_tokenizer_hash(qc->meta, from_tokenizer ? from_tokenizer : pq_tokens_tokenizer_hash(&train));
    if (from_source) json_object_set(qc->meta, "source", from_source); /* pq eval/generate find the tokenizer */
    json_t *quant_meta = json_deep_copy(json_object_get(qc->meta, "quant"));
    if (pq_ckpt_save(qc, model_path, 0)) {
        pq_ckpt_free(qc), json_decref(quant_meta), pq_train_log_free(&log);
        goto fail;
    }
    pq_ckpt_free(qc);

    pq_manifest_finish(manifest);
    json_t *res = json_object();
    json_object_set_new(res, "kind", json_string("qat"));
    if (device == PQ_DEVICE_CUDA) json_object_set_new(res, "device", json_string("cuda"));
    json_object_set_new(res, "quantizer", json_string(q.name));
    json_object_set_new(res, "quantizer_requested", json_string(a.quantizer));
    json_object_set_new(res, "bits", json_string(pq_qbits_name(bits)));
    if (a.scale_fp16) json_object_set_new(res, "scale_fp16", json_true());
    json_object_set_new(res, "bits_value", json_real(pq_qbits_value(bits)));
    json_object_set_new(res, "from_scratch", json_boolean(a.from_scratch));
    json_object_set_new(res, "ptq", json_boolean(a.train.tokens == 0));
    json_object_set_new(res, "lr", json_real(tc.lr));
    json_object_set_new(res, "lr_rule", json_string(a.train.lr > 0 ? "--lr" : a.from_scratch ? "pretraining lr (from scratch)"
                                                               : "pretraining lr / 10 at <=2 bits, / 20 at 3-8 bits"));
    json_object_set_new(res, "pretrain_lr", json_real(pretrain_lr));
    json_object_set(res, "train", json_object_get(identity, "train"));
    json_object_set_new(res, "seq_len", json_integer(T));
    json_object_set_new(res, "data", json_pack("{s:s, s:I, s:s, s:I}", "train", train.desc, "train_tokens", (json_int_t)train.n,
                                               "val", val.desc, "val_tokens", (json_int_t)val.n));
    json_object_set_new(res, "curve", pq_train_log_to_json(&log));
    json_object_set_new(res, "tokens_per_sec", json_real(log.tokens_per_sec));
    json_object_set_new(res, "seconds_this_process", json_real(log.seconds));
    if (log.n_val) {
        json_object_set_new(res, "initial_val_loss", json_real(log.val_loss[0]));
        json_object_set_new(res, "final_val_loss", json_real(log.val_loss[log.n_val - 1]));
    }
    json_object_set_new(res, "size", quant_meta ? quant_meta : json_null());
    pq_model *start = start_model(&a, &m->cfg, tc.seed);
    if (!start) {
        json_decref(res), pq_train_log_free(&log);
        goto fail;
    }
    json_object_set_new(res, "layers", qa ? pq_qat_report(qa, start->params, 1) : fp_layers_report(m, start->params));
    pq_model_free(start);
    json_object_set_new(res, "model_ckpt", json_string(model_path));
    json_object_set(res, "manifest", manifest);
    if (pq_json_write(res, results_path)) {
        json_decref(res), pq_train_log_free(&log);
        goto fail;
    }
    fprintf(stderr, "pq qat: %s@%s, %lld steps, val loss %.4f -> %.4f -> %s\n", q.name, pq_qbits_name(bits),
            (long long)log.steps_done, log.n_val ? log.val_loss[0] : NAN, log.n_val ? log.val_loss[log.n_val - 1] : NAN, a.out);
    json_decref(res);
    pq_train_log_free(&log);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "pq qat: %s\n", pq_error());
done:
    pq_qat_free(qa);
    pq_model_free(m);
    free(from_tokenizer);
    json_decref(from_source);
    if (have_data) pq_tokens_free(&train), pq_tokens_free(&val);
    json_decref(raw), json_decref(identity), json_decref(manifest);
    free(results_path), free(model_path);
    return rc;
}
