/* pq pretrain — full-precision pretraining of a model from a config file.
 *
 * Writes OUT/state.ckpt while it runs (resumable: rerun the same command after a
 * crash or kill), then OUT/model.ckpt (the final weights) and OUT/results.json
 * (loss curve, validation losses, parameter counts, tokens/s, manifest). */
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
#include "gpu/gpu.h"
#include "model/config.h"
#include "model/model.h"
#include "train/data.h"
#include "train/trainer.h"

static void usage(void) {
    printf("usage: pq pretrain --config FILE --data SHARDS --out DIR [--tokens N] [--device cpu|cuda]\n"
           "                   [--precision fp32|bf16|tf32] [--recompute] [--max-memory SIZE]\n\n"
           "Trains the model of FILE (JSON: \"model\" and \"train\" objects, see README) from\n"
           "scratch in full precision, evaluating the validation loss every eval_interval steps.\n"
           "  --config FILE  model + training config (e.g. suites/models/s.json)\n"
           "  --data SHARDS  a shard directory holding train_*.bin (or train.bin) and val.bin\n"
           "                 as written by 'pq data build' (e.g. work/data/shards), or\n"
           "                 'synthetic:N' for an N-token synthetic Markov stream (tests, benchmarks)\n"
           "  --out DIR      run directory: state.ckpt (resumable), model.ckpt, results.json\n"
           "  --keep-steps S,S...  also keep the state at these steps, as DIR/state-<S>.ckpt (branch points)\n"
           "  --branch-from FILE   start from another run's kept state (a WSD run branched in its stable\n"
           "                 phase: same model, data and settings up to tokens/decay_fraction/min_lr_ratio;\n"
           "                 the result equals training this config from scratch, bit for bit)\n"
           "  --tokens N     override the config's token budget (train.tokens, required without\n"
           "                 --tokens; 0 trains no step: the setup alone)\n"
           "  --device D     cpu (default) or cuda (a build with make CUDA=1 and an NVIDIA GPU);\n"
           "                 PQ_DEVICE sets the default\n"
           "  --precision P  fp32 (default); bf16: CPU linears on bf16 inputs with fp32 sums and\n"
           "                 fp32 master weights (AVX-512 BF16); tf32: cuda tensor-core matmuls\n"
           "  --recompute    keep each layer's input only and recompute its activations in the\n"
           "                 backward: less memory, about a quarter more arithmetic in the layers, the\n"
           "                 same results bit for bit (CPU; on by itself when --max-memory needs it)\n"
           "  --max-memory SIZE  plan the peak memory first and stop at once if it is over SIZE\n\n"
           "Killing the process and rerunning the same command resumes from the last checkpoint;\n"
           "the final weights and loss curve are bitwise identical to an uninterrupted run with the\n"
           "same PQ_THREADS. A finished run is not recomputed.\n\n"
           "mpirun -np K pq pretrain ... splits every step's batch x grad_accum sequences over K\n"
           "processes (contiguous shares in rank order, so K may exceed grad_accum) and sums their\n"
           "gradients in a fixed order: bitwise reproducible for a given K (README: Running on a\n"
           "cluster).\n");
}

/* SHA-256 of the token array: identifies the data for resume checks. */
static void tokens_hash(const pq_token_stream *ts, char hex[PQ_SHA256_HEX]) {
    pq_sha256_hex(ts->tokens, sizeof(uint16_t) * (size_t)ts->n, hex);
}

/* "100,250,400" -> steps (at most 64, each > 0). */
static int parse_steps(const char *text, int64_t *steps, int *n) {
    *n = 0;
    for (const char *p = text; *p;) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v <= 0 || (*end && *end != ',')) return pq_fail("expected positive step numbers separated by commas, got '%s'", text);
        if (*n == 64) return pq_fail("at most 64 steps");
        steps[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static json_t *param_counts_json(const pq_model_config *c) {
    pq_param_counts p = pq_model_param_counts(c);
    return json_pack("{s:I, s:I, s:I, s:I}", "embedding", (json_int_t)p.embedding, "non_embedding",
                     (json_int_t)p.non_embedding, "block_linear", (json_int_t)p.block_linear, "total", (json_int_t)p.total);
}

int cmd_pretrain(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *config_path = NULL, *data = NULL, *out = NULL, *device_text = NULL, *precision_text = "fp32";
    const char *branch_from = NULL, *keep_text = NULL;
    int recompute = 0;
    pq_train_flags tf;
    pq_train_flags_init(&tf);
    const pq_flag flags[] = {
        {"--config", .text = &config_path},
        {"--data", .text = &data},
        {"--out", .text = &out},
        {"--branch-from", .text = &branch_from},
        {"--keep-steps", .text = &keep_text},
        {"--tokens", .integer = &tf.tokens, .range = PQ_NONNEG},
        {"--device", .text = &device_text},
        {"--precision", .text = &precision_text},
        {"--recompute", .on = &recompute},
    };
    pq_parse_flags("pretrain", argc, argv, flags, PQ_COUNT(flags));
    if (!config_path) pq_usage_error("pretrain", "--config is required");
    if (!data) pq_usage_error("pretrain", "--data is required");
    if (!out) pq_usage_error("pretrain", "--out is required");
    pq_device device;
    pq_gpu_precision precision;
    const int bf16 = pq_parse_precision("pretrain", precision_text, &precision);
    int device_status = pq_device_flag("pretrain", device_text, &device);
    if (device_status) return device_status;
    pq_apply_precision("pretrain", bf16, device);
    if (recompute && device == PQ_DEVICE_CUDA)
        pq_usage_error("pretrain", "--recompute is the CPU trainer's (the GPU keeps its activations on the device)");

    /* Branching (README: Training): the branch point's file enters the identity by hash. */
    int64_t keep[64];
    int n_keep = 0;
    if (keep_text && parse_steps(keep_text, keep, &n_keep)) pq_usage_error("pretrain", "--keep-steps: %s", pq_error());
    char branch_hash[PQ_SHA256_HEX] = "";
    json_int_t branch_step = 0;
    if (branch_from) {
        pq_ckpt *bc = pq_ckpt_load(branch_from);
        int loaded = bc != NULL;
        branch_step = loaded ? json_integer_value(json_object_get(bc->meta, "step")) : 0;
        pq_ckpt_free(bc);
        if (!loaded || pq_sha256_file(branch_from, branch_hash)) {
            fprintf(stderr, "pq pretrain: --branch-from: %s\n", pq_error());
            return 1;
        }
    }

    pq_model_config mc;
    pq_train_config tc;
    json_t *raw = NULL;
    if (pq_config_load(config_path, &mc, &tc, &raw)) {
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
        return 1;
    }
    /* The budget has no useful default: without one the run would train 0 steps and
     * report success. --tokens (0 too: tests/bench/memory.sh times setup) stands in. */
    if (tf.tokens < 0 && !json_object_get(json_object_get(raw, "train"), "tokens")) {
        json_decref(raw);
        pq_usage_error("pretrain", "%s: \"train\" has no \"tokens\" (the token budget): set it there or give --tokens N",
                       config_path);
    }
    pq_train_flags_apply(&tf, &tc);
    const int asked_recompute = recompute;
    if (pq_mem_guard_train("pretrain", &mc, &tc, mc.ctx, 0, data, out, device == PQ_DEVICE_CUDA ? NULL : &recompute)) {
        json_decref(raw);
        return 1;
    }

    /* One process per run directory: a second one would write the same files. Over MPI
     * rank 0 holds the lock and writes; the other ranks only read (base/dist.h). */
    if (pq_dist_rank() == 0 && pq_lock_dir_until_exit(out)) {
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
        json_decref(raw);
        return 1;
    }
    char *results_path = pq_path_join(out, "results.json"), *model_path = pq_path_join(out, "model.ckpt");

    pq_token_stream train, val;
    if (pq_tokens_load_data(data, mc.vocab, &train, &val)) {
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
        free(results_path), free(model_path), json_decref(raw);
        return 1;
    }
    if (pq_mkdirs(out)) {
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
        return 1;
    }

    /* What a resumed run must agree on: the parsed configs and the data contents. */
    char train_hash[PQ_SHA256_HEX], val_hash[PQ_SHA256_HEX];
    tokens_hash(&train, train_hash), tokens_hash(&val, val_hash);
    json_t *identity = json_pack("{s:o, s:o, s:s, s:s}", "model", pq_model_config_to_json(&mc), "train",
                                 pq_train_config_to_json(&tc), "train_tokens", train_hash, "val_tokens", val_hash);
    if (branch_from) json_object_set_new(identity, "branch", json_pack("{s:s}", "from_sha256", branch_hash));
    /* A GPU run is another computation (other rounding): it never resumes a CPU state, nor
     * the reverse. CPU identities are unchanged. */
    if (device == PQ_DEVICE_CUDA) pq_identity_add_cuda(identity, precision);
    if (bf16) json_object_set_new(identity, "precision", json_string("bf16")); /* other rounding, likewise */

    /* A finished directory is trusted only if it was made from this config and data,
     * checked as a state to resume is (train/trainer.h). */
    int finished = pq_run_finished(out, identity);
    if (finished) {
        if (finished > 0 && pq_dist_rank() == 0) fprintf(stderr, "pq pretrain: %s is finished; nothing to do\n", out);
        else fprintf(stderr, "pq pretrain: %s\n", pq_error());
        json_decref(identity), json_decref(raw);
        pq_tokens_free(&train), pq_tokens_free(&val);
        free(results_path), free(model_path);
        return finished > 0 ? 0 : 1;
    }

    json_t *manifest = pq_manifest_new("pretrain", identity);
    pq_manifest_add_input(manifest, "config", config_path);
    pq_tokens_add_inputs(manifest, &train), pq_tokens_add_inputs(manifest, &val);
    pq_manifest_add_input_hash(manifest, "train_tokens", train_hash);
    pq_manifest_add_input_hash(manifest, "val_tokens", val_hash);
    if (device == PQ_DEVICE_CUDA && pq_manifest_add_gpu(manifest, precision)) {
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
        json_decref(manifest), json_decref(identity), json_decref(raw);
        pq_tokens_free(&train), pq_tokens_free(&val);
        free(results_path), free(model_path);
        return 1;
    }
    if (bf16) json_object_set_new(manifest, "matmul", pq_matmul_info());
    pq_manifest_recompute(manifest, recompute, asked_recompute);

    pq_model *m = pq_model_new(&mc);
    pq_model_init(m, tc.seed);
    pq_trainer_spec sp = {.kind = "pretrain", .out_dir = out, .model = m, .train = tc, .train_data = &train,
                          .val_data = &val, .identity = identity, .device = device, .precision = precision,
                          .recompute = recompute};
    sp.keep_steps = keep, sp.n_keep_steps = n_keep, sp.branch_from = branch_from;
    pq_train_log log;
    int rc = 1;
    if (pq_train(&sp, &log)) {
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
        goto out;
    }
    if (pq_dist_rank() != 0) { /* rank 0 writes the results */
        rc = 0;
        goto out_log;
    }
    json_t *meta = json_pack("{s:O, s:s, s:I}", "train", json_object_get(identity, "train"), "data", train.desc,
                             "tokens_seen", (json_int_t)(log.steps_done * log.tokens_per_step));
    pq_ckpt_set_tokenizer_hash(meta, pq_tokens_tokenizer_hash(&train));
    if (pq_model_save(m, model_path, meta)) {
        json_decref(meta);
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
        goto out_log;
    }
    json_decref(meta);

    pq_manifest_finish(manifest);
    json_t *res = json_object();
    json_object_set_new(res, "kind", json_string("pretrain"));
    if (device == PQ_DEVICE_CUDA) json_object_set_new(res, "device", json_string("cuda"));
    json_object_set(res, "config", raw);
    json_object_set_new(res, "params", param_counts_json(&mc));
    if (branch_from)
        json_object_set_new(res, "branch", json_pack("{s:s, s:s, s:I}", "from", branch_from, "from_sha256", branch_hash,
                                                     "at_step", branch_step));
    json_object_set_new(res, "data", json_pack("{s:s, s:I, s:s, s:I}", "train", train.desc, "train_tokens",
                                               (json_int_t)train.n, "val", val.desc, "val_tokens", (json_int_t)val.n));
    json_object_set_new(res, "curve", pq_train_log_to_json(&log));
    /* speed of the steps this process ran (null if a previous process finished them all) */
    json_object_set_new(res, "tokens_per_sec", log.tokens_per_sec > 0 ? json_real(log.tokens_per_sec) : json_null());
    json_object_set_new(res, "train_seconds_this_process", json_real(log.train_seconds));
    json_object_set_new(res, "train_flops_per_token", json_real(pq_model_train_flops_per_token(&mc, mc.ctx)));
    json_object_set_new(res, "seconds_this_process", json_real(log.seconds));
    if (log.n_val) json_object_set_new(res, "final_val_loss", json_real(log.val_loss[log.n_val - 1]));
    json_object_set_new(res, "model_ckpt", json_string(model_path));
    json_object_set(res, "manifest", manifest);
    if (pq_json_write(res, results_path)) {
        fprintf(stderr, "pq pretrain: %s\n", pq_error());
    } else {
        fprintf(stderr, "pq pretrain: %lld steps, final val loss %.4f, %.0f tok/s -> %s\n", (long long)log.steps_done,
                log.n_val ? log.val_loss[log.n_val - 1] : 0.0, log.tokens_per_sec, out);
        rc = 0;
    }
    json_decref(res);
out_log:
    pq_train_log_free(&log);
out:
    pq_model_free(m);
    json_decref(manifest), json_decref(identity), json_decref(raw);
    pq_tokens_free(&train), pq_tokens_free(&val);
    free(results_path), free(model_path);
    return rc;
}
