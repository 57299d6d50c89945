/* bench_gpu.c — `pq bench gpu`: training tokens/s on the GPU against PyTorch.
 *
 * For the ladder configs (suites/models/{xs,s,m,l}.json, their own batch and context) and
 * the MobileLLM-125M shape (30 layers, width 576, 9 heads, 3 KV heads, FFN 1536, vocab
 * 32000, context 2048, batch 4), pq trains on the synthetic token stream with --device
 * cuda at fp32 and tf32 (pq_train, no validation, no checkpoints), and in the same process
 * tree tests/gpu/peer_pytorch.py trains the same model with the same precision and batch
 * in PyTorch, eager and torch.compile. Stored per shape: tokens/s of each, model FLOP
 * utilisation (train FLOPs per token, model/config.h, against the chip's dense peak from
 * its datasheet) and the ratios pq / PyTorch as *_vs_pytorch_{eager,compile}. The peer is
 * optional: without python3 + torch (PQ_PYTHON, PQ_PEER override where they are) the
 * ratios are null and "peer_error" says why. */
#include "train/bench_gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "gpu/gpu.h"
#include "model/config.h"
#include "model/model.h"
#include "train/data.h"
#include "train/trainer.h"

/* H200 SXM datasheet, dense (no sparsity): FP32 (CUDA cores) and TF32 tensor cores, TFLOP/s. */
#define PEAK_FP32 67.0
#define PEAK_TF32 494.7

typedef struct {
    const char *name, *path; /* path NULL: the MobileLLM shape below */
    int64_t tokens;          /* pq's timed tokens (a whole number of steps, at least 20) */
} bench_shape;

static void mobilellm_125m(pq_model_config *m, pq_train_config *t) {
    *m = (pq_model_config){.dim = 576, .n_layers = 30, .n_heads = 9, .n_kv_heads = 3, .ffn_dim = 1536, .vocab = 32000,
                           .ctx = 2048};
    *t = pq_train_config_default();
    t->batch = 4, t->grad_accum = 1, t->lr = 2e-3, t->warmup = 10;
}

/* tokens/s of pq_train on the GPU over `tokens` synthetic tokens; < 0 + pq_error() on failure. */
static double pq_rate(const pq_model_config *mc, pq_train_config tc, int64_t tokens, pq_gpu_precision prec, double *loss) {
    pq_token_stream tr;
    pq_tokens_synthetic(&tr, 1, 0, PQ_MAX(tokens + 1, (int64_t)4 << 20), mc->vocab);
    tc.tokens = tokens, tc.eval_interval = 0, tc.ckpt_interval = 0, tc.grad_accum = 1;
    pq_model *m = pq_model_new(mc);
    pq_model_init(m, tc.seed);
    pq_trainer_spec sp = {.kind = "bench", .model = m, .train = tc, .train_data = &tr, .device = PQ_DEVICE_CUDA,
                          .precision = prec};
    pq_train_log log;
    double rate = -1.0;
    if (pq_train(&sp, &log) == 0) {
        rate = log.tokens_per_sec;
        *loss = log.steps_done ? log.train_loss[log.steps_done - 1] : 0.0;
        pq_train_log_free(&log);
    }
    pq_model_free(m);
    pq_tokens_free(&tr);
    return rate;
}

/* The peer's JSON for this shape, or NULL with *err set. */
static json_t *run_peer(const pq_model_config *mc, int batch, int quick, char *err, size_t n) {
    const char *py = getenv("PQ_PYTHON") ? getenv("PQ_PYTHON") : "python3";
    const char *peer = getenv("PQ_PEER") ? getenv("PQ_PEER") : "tests/gpu/peer_pytorch.py";
    if (!pq_file_exists(peer)) {
        snprintf(err, n, "%s not found (run from the repository root, or set PQ_PEER)", peer);
        return NULL;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s %s --dim %d --layers %d --heads %d --kv-heads %d --ffn %d --vocab %d --batch %d --ctx %d --steps %d "
             "--warmup 3 --compile-scope %s",
             py, peer, mc->dim, mc->n_layers, mc->n_heads, mc->n_kv_heads, mc->ffn_dim, mc->vocab, batch, mc->ctx,
             quick ? 5 : 20, mc->n_layers > 12 ? "blocks" : "model");
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(err, n, "cannot run %.400s", cmd);
        return NULL;
    }
    json_error_t je;
    json_t *doc = json_loadf(p, JSON_DISABLE_EOF_CHECK, &je);
    int status = pclose(p);
    if (!doc || status != 0) {
        snprintf(err, n, "%s failed (exit status %d%s%s)", peer, status, doc ? "" : "; no JSON: ", doc ? "" : je.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static double peer_rate(const json_t *doc, const char *prec, const char *mode) {
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "runs"), i, r) {
        if (!strcmp(json_string_value(json_object_get(r, "precision")), prec) &&
            !strcmp(json_string_value(json_object_get(r, "mode")), mode) && json_is_number(json_object_get(r, "tokens_per_sec")))
            return json_number_value(json_object_get(r, "tokens_per_sec"));
    }
    return 0.0;
}

static json_t *ratio(double a, double b) { return a > 0 && b > 0 ? json_real(a / b) : json_null(); }

/* One shape: pq at fp32 and tf32, the peer, the ratios. */
static json_t *bench_shape_json(const char *name, const pq_model_config *mc, const pq_train_config *tc, int64_t target,
                                int quick, json_t **torch_info) {
    int64_t per_step = (int64_t)tc->batch * mc->ctx;
    int64_t tokens = per_step * (quick ? 8 : PQ_MAX((int64_t)20, target / per_step));
    double flops = pq_model_train_flops_per_token(mc, mc->ctx);
    json_t *o = json_pack("{s:s, s:o, s:i, s:i, s:I, s:f}", "model", name, "config", pq_model_config_to_json(mc), "batch",
                          tc->batch, "ctx", mc->ctx, "pq_tokens", (json_int_t)tokens, "train_flops_per_token", flops);
    double pq[2] = {0, 0};
    const char *precs[2] = {"fp32", "tf32"};
    const double peak[2] = {PEAK_FP32, PEAK_TF32};
    for (int k = 0; k < 2; k++) {
        double loss = 0;
        /* a few steps first: CUDA loads its kernels (and cuBLAS its heuristics) on first use */
        if (pq_rate(mc, *tc, per_step * 3, k ? PQ_GPU_TF32 : PQ_GPU_FP32, &loss) < 0) {
            json_decref(o);
            return NULL;
        }
        pq[k] = pq_rate(mc, *tc, tokens, k ? PQ_GPU_TF32 : PQ_GPU_FP32, &loss);
        if (pq[k] < 0) {
            json_decref(o);
            return NULL;
        }
        char key[64];
        snprintf(key, sizeof key, "pq_%s_tok_s", precs[k]);
        json_object_set_new(o, key, json_real(pq[k]));
        snprintf(key, sizeof key, "pq_%s_mfu", precs[k]);
        json_object_set_new(o, key, json_real(pq[k] * flops / (peak[k] * 1e12)));
        fprintf(stderr, "pq bench gpu: %s %s %.0f tok/s (last loss %.3f)\n", name, precs[k], pq[k], loss);
    }
    char err[600] = "";
    json_t *peer = run_peer(mc, tc->batch, quick, err, sizeof err);
    if (!peer) json_object_set_new(o, "peer_error", json_string(err));
    static const char *const modes[2] = {"eager", "compile"};
    for (int k = 0; k < 2; k++)
        for (int md = 0; md < 2; md++) {
            double r = peer ? peer_rate(peer, precs[k], modes[md]) : 0.0;
            char key[64];
            snprintf(key, sizeof key, "pytorch_%s_%s_tok_s", modes[md], precs[k]);
            json_object_set_new(o, key, r > 0 ? json_real(r) : json_null());
            snprintf(key, sizeof key, "pq_%s_vs_pytorch_%s", precs[k], modes[md]);
            json_object_set_new(o, key, ratio(pq[k], r));
        }
    if (peer) {
        if (!*torch_info)
            *torch_info = json_pack("{s:O, s:O, s:O}", "torch", json_object_get(peer, "torch"), "cuda",
                                    json_object_get(peer, "cuda"), "device", json_object_get(peer, "device"));
        json_object_set(o, "pytorch_runs", json_object_get(peer, "runs"));
        json_decref(peer);
    }
    return o;
}

static const bench_shape bench_shapes[] = {{"xs", "suites/models/xs.json", 1 << 20},
                                          {"s", "suites/models/s.json", 1 << 20},
                                          {"m", "suites/models/m.json", 1 << 20},
                                          {"l", "suites/models/l.json", 1 << 20},
                                          {"mobilellm-125m", NULL, 1 << 18}};

/* Whether `name` is one of the comma-separated `list` (NULL: every shape). */
static int shape_selected(const char *list, const char *name) {
    if (!list) return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

/* Every name of `list` is a benchmark shape (checked before any GPU time is spent). */
int pq_bench_gpu_shapes_ok(const char *list) {
    if (!list) return 1;
    char *copy = pq_strdup(list), *save = NULL;
    int ok = *list != '\0';
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        int known = 0;
        for (size_t i = 0; i < PQ_COUNT(bench_shapes); i++) known |= !strcmp(t, bench_shapes[i].name);
        if (!known) ok = 0, pq_fail("--shapes: '%s' is not a benchmark shape (xs, s, m, l, mobilellm-125m)", t);
    }
    if (!*list) pq_fail("--shapes: an empty list");
    free(copy);
    return ok;
}

int pq_bench_gpu(const char *out_dir, int quick, const char *only) {
    if (!pq_bench_gpu_shapes_ok(only)) return -1;
    json_t *gpu = pq_gpu_info(PQ_GPU_FP32);
    if (!gpu) return -1;
    json_object_del(gpu, "precision");
    json_t *manifest = pq_manifest_new("bench gpu", NULL); /* now: its wall time is the whole bench's */
    const bench_shape *shapes = bench_shapes;
    json_t *rows = json_array(), *torch_info = NULL;
    int rc = 0;
    for (size_t i = 0; i < PQ_COUNT(bench_shapes) && rc == 0; i++) {
        if (!shape_selected(only, shapes[i].name)) continue;
        pq_model_config mc;
        pq_train_config tc;
        if (shapes[i].path) {
            if (pq_config_load(shapes[i].path, &mc, &tc, NULL)) {
                rc = -1;
                break;
            }
        } else {
            mobilellm_125m(&mc, &tc);
        }
        json_t *row = bench_shape_json(shapes[i].name, &mc, &tc, shapes[i].tokens, quick, &torch_info);
        if (!row) rc = -1;
        else json_array_append_new(rows, row);
    }
    if (rc == 0) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:o, s:o, s:{s:f, s:f, s:s}, s:o, s:o}", "what",
                                "training tokens/s (full optimizer steps: forward, backward, clipping, AdamW; synthetic "
                                "tokens) of pq --device cuda and of the same model, precision and batch in PyTorch "
                                "(tests/gpu/peer_pytorch.py: eager, and torch.compile of the whole model, or of each block "
                                "and of the head for the 30-layer shape), on the same GPU in the same run",
                                "command", quick ? "pq bench gpu --quick" : "pq bench gpu", "shapes_selected", only ? only : "all", "gpu", gpu, "pytorch",
                                torch_info ? torch_info : json_null(), "peak_tflops", "fp32", PEAK_FP32, "tf32", PEAK_TF32,
                                "source", "NVIDIA H200 SXM datasheet, dense", "shapes", rows, "manifest", manifest);
        gpu = rows = manifest = NULL;
        pq_manifest_finish(json_object_get(doc, "manifest"));
        char *path = pq_path_join(out_dir, "gpu.json");
        rc = pq_mkdirs(out_dir) || pq_json_write(doc, path) ? -1 : 0;
        if (rc == 0) fprintf(stderr, "pq bench gpu: wrote %s\n", path);
        free(path);
        json_decref(doc);
    }
    json_decref(gpu), json_decref(rows), json_decref(manifest);
    return rc;
}
