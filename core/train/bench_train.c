/* bench_train.c — `pq bench train`: training throughput against the sgemm ceiling.
 *
 * For several model configs (suites/models/<name>.json) and 1 and 2 threads it
 * times full optimizer steps (refresh, forward, backward, clip, AdamW: what
 * pq_train runs, minus checkpoints and validation) on the synthetic token
 * stream, and reports tokens/s and model GFLOP/s (FLOPs per token: 6 x matmul
 * params + causal attention). Next to it, in the same run and with the same
 * threads, it times cblas_sgemm alone on exactly the matrix shapes a step
 * multiplies (forward, input-gradient and weight-gradient products of every
 * linear and the head): that rate is the ceiling the engine could reach if
 * everything but those sgemms were free. */
#include "train/bench_train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "base/bench.h"
#include "base/bench_quiet.h"
#include "base/blas.h"
#include "base/fsio.h"
#include "base/manifest.h"
#include "base/progress.h"
#include "base/util.h"
#include "model/config.h"
#include "model/model.h"
#include "train/bench_step.h"
#include "train/data.h"
#include "train/optim.h"
#include "train/trainer.h"

int pq_bench_step_shapes(const pq_model_config *c, int rows, pq_gemm_shape out[PQ_STEP_SHAPES]) {
    int D = c->dim, F = c->ffn_dim, C = D + 2 * c->n_kv_heads * (c->dim / c->n_heads), V = c->vocab, L = c->n_layers;
    int outs[5] = {C, D, 2 * F, D, V}, ins[5] = {D, D, D, F, D}, cnt[5] = {L, L, L, L, 1};
    int n = 0;
    for (int i = 0; i < 5; i++) {
        out[n++] = (pq_gemm_shape){rows, outs[i], ins[i], 0, 1, cnt[i]}; /* y = x W^T */
        out[n++] = (pq_gemm_shape){rows, ins[i], outs[i], 0, 0, cnt[i]}; /* dx = dy W */
        out[n++] = (pq_gemm_shape){outs[i], ins[i], rows, 1, 0, cnt[i]}; /* dW = dy^T x */
    }
    return n;
}

void pq_bench_gemm_operands(const pq_gemm_shape *sh, int n, float **A, float **B, float **C) {
    size_t maxa = 0, maxb = 0, maxc = 0;
    for (int i = 0; i < n; i++) {
        maxa = PQ_MAX(maxa, (size_t)sh[i].m * sh[i].k);
        maxb = PQ_MAX(maxb, (size_t)sh[i].k * sh[i].n);
        maxc = PQ_MAX(maxc, (size_t)sh[i].m * sh[i].n);
    }
    *A = pq_aligned_alloc(sizeof(float) * maxa), *B = pq_aligned_alloc(sizeof(float) * maxb),
    *C = pq_aligned_alloc(sizeof(float) * maxc);
    for (size_t i = 0; i < maxa; i++) (*A)[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < maxb; i++) (*B)[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
}

void pq_bench_stepper_init(pq_bench_stepper *s, const pq_model_config *mc, int batch) {
    memset(s, 0, sizeof *s);
    s->m = pq_model_new(mc);
    pq_model_init(s->m, 1);
    s->batch = batch, s->T = mc->ctx;
    pq_tokens_synthetic(&s->ts, 1, 0, (int64_t)batch * s->T * 16 + 1, mc->vocab);
    pq_data_order_init(&s->order, &s->ts, s->T, 1);
    pq_model_param_groups(s->m, &s->groups, &s->n_groups);
    s->oc = (pq_optim_config){.lr = 1e-4, .min_lr_ratio = 0.1, .warmup = 0, .total_steps = 1000, .weight_decay = 0.1,
                              .beta1 = 0.9, .beta2 = 0.95, .eps = 1e-8, .clip = 1.0};
    s->opt = pq_adamw_new(&s->oc, s->groups, s->n_groups);
    s->a = pq_acts_new(mc, batch, s->T);
    s->x = pq_malloc(sizeof(uint16_t) * (size_t)batch * s->T);
    s->y = pq_malloc(sizeof(uint16_t) * (size_t)batch * s->T);
}

void pq_bench_stepper_step(pq_bench_stepper *s, int64_t lr_step) {
    pq_model_refresh_weights(s->m);
    pq_model_zero_grads(s->m);
    pq_data_train_batch(&s->order, s->step * s->batch, s->batch, s->x, s->y);
    pq_model_forward(s->m, s->a, s->x, s->y, s->batch, s->T, 1, 1.0f / (float)(s->batch * s->T));
    pq_model_backward(s->m, s->a, s->x);
    pq_model_finish_grads(s->m);
    double norm = pq_groups_grad_norm(s->groups, s->n_groups);
    pq_adamw_step(s->opt, pq_lr_at(&s->oc, lr_step), pq_clip_factor(norm, s->oc.clip));
    s->step++;
}

void pq_bench_stepper_free(pq_bench_stepper *s) {
    free(s->x), free(s->y);
    pq_acts_free(s->a);
    pq_adamw_free(s->opt);
    free(s->groups);
    pq_data_order_free(&s->order);
    pq_tokens_free(&s->ts);
    pq_model_free(s->m);
}

/* Seconds of the fastest call of one shape (repeated until min_time has passed):
 * the best case is the ceiling, and the minimum is robust to a shared machine.
 * *cpu_per_call: process CPU seconds per call (after the warm-up call). */
static double time_gemm(const pq_gemm_shape *s, float *A, float *B, float *Cm, double min_time, double *cpu_per_call) {
    int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
    double best = 1e30, t0 = pq_now(), c0 = 0;
    int reps;
    for (reps = 0; reps < 4 || pq_now() - t0 < min_time; reps++) {
        if (reps == 1) c0 = pq_cpu_now();
        double t = pq_now();
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->m, s->n, s->k,
                    1.0f, A, lda, B, ldb, 0.0f, Cm, s->n);
        t = pq_now() - t;
        if (reps > 0 && t < best) best = t; /* call 0 warms up */
    }
    *cpu_per_call = (pq_cpu_now() - c0) / (reps - 1);
    return best;
}

/* GFLOP/s of sgemm over a step's shapes, weighted as a step weights them. */
static json_t *sgemm_ceiling(const pq_model_config *c, int rows, double min_time, double *gflops_out, double *gflops_cpu_out) {
    pq_gemm_shape sh[PQ_STEP_SHAPES];
    int n = pq_bench_step_shapes(c, rows, sh);
    float *A, *B, *Cm;
    pq_bench_gemm_operands(sh, n, &A, &B, &Cm);
    double flops = 0, secs = 0, cpu_secs = 0;
    json_t *shapes = json_array();
    for (int i = 0; i < n; i++) {
        double cpu;
        double t = time_gemm(&sh[i], A, B, Cm, min_time, &cpu);
        double f = 2.0 * sh[i].m * sh[i].n * sh[i].k;
        flops += f * sh[i].count, secs += t * sh[i].count, cpu_secs += cpu * sh[i].count;
        json_array_append_new(shapes, json_pack("{s:i, s:i, s:i, s:s, s:i, s:f}", "m", sh[i].m, "n", sh[i].n, "k", sh[i].k,
                                                "op", sh[i].ta ? "TN" : sh[i].tb ? "NT" : "NN", "per_step", sh[i].count,
                                                "gflops", f / t * 1e-9));
    }
    free(A), free(B), free(Cm);
    *gflops_out = flops / secs * 1e-9;
    *gflops_cpu_out = flops / cpu_secs * 1e-9;
    return shapes;
}

/* Full training steps after one warm-up step: mean and fastest step time, and
 * the process CPU time per step (on a shared machine the wall time includes
 * waiting for the core; the CPU time does not). */
static void time_steps(const pq_model_config *mc, int batch, int min_steps, double min_time, int *steps_done,
                       double *mean_s, double *best_s, double *cpu_s) {
    pq_bench_stepper st;
    pq_bench_stepper_init(&st, mc, batch);
    double t_start = 0, best = 1e30, c_start = 0;
    int s;
    for (s = 0;; s++) {
        if (s == 1) t_start = pq_now(), c_start = pq_cpu_now(); /* step 0 warms caches and pages */
        if (s > min_steps && pq_now() - t_start >= min_time) break;
        double t = pq_now();
        pq_bench_stepper_step(&st, s);
        t = pq_now() - t;
        if (s > 0 && t < best) best = t;
    }
    *steps_done = s - 1;
    *mean_s = (pq_now() - t_start) / (s - 1);
    *cpu_s = (pq_cpu_now() - c_start) / (s - 1);
    *best_s = best;
    pq_bench_stepper_free(&st);
}

int pq_bench_train(const char *out_dir, int quick, const pq_bench_train_extra *extra) {
    const char *names_full[] = {"xs", "s", "m", "ref"}, *names_quick[] = {"tiny", "xs"};
    const char **names = quick ? names_quick : names_full;
    int n_names = quick ? 2 : 4;
    int thread_counts[2] = {1, 2};
    double min_time = quick ? 0.5 : 4.0, gemm_time = quick ? 0.05 : 0.3;
    int saved_threads = pq_threads();
    json_t *manifest = pq_manifest_new("bench-train", NULL);
    pq_machine_sample before, after; /* a step timing on a busy machine times the other job too */
    pq_machine_sample_take(&before);
    json_t *results = json_array();
    for (int i = 0; i < n_names; i++) {
        char path[256];
        snprintf(path, sizeof path, "suites/models/%s.json", names[i]);
        pq_model_config mc;
        pq_train_config tc;
        if (pq_config_load(path, &mc, &tc, NULL)) {
            json_decref(manifest), json_decref(results);
            pq_set_threads(saved_threads);
            return -1;
        }
        pq_manifest_add_input(manifest, names[i], path);
        pq_param_counts pc = pq_model_param_counts(&mc);
        double fpt = pq_model_train_flops_per_token(&mc, mc.ctx);
        json_t *entry = json_pack("{s:s, s:o, s:i, s:i, s:{s:I, s:I, s:I}, s:f}", "name", names[i], "model",
                                  pq_model_config_to_json(&mc), "batch", tc.batch, "seq_len", mc.ctx, "params",
                                  "embedding", (json_int_t)pc.embedding, "non_embedding", (json_int_t)pc.non_embedding,
                                  "block_linear", (json_int_t)pc.block_linear, "train_flops_per_token", fpt);
        json_t *per_threads = json_object();
        for (int ti = 0; ti < 2; ti++) {
            int nt = thread_counts[ti];
            pq_set_threads(nt);
            int steps;
            double mean_s, best_s, cpu_s;
            fprintf(stderr, "bench train: %s, %d thread%s ...\n", names[i], nt, nt > 1 ? "s" : "");
            time_steps(&mc, tc.batch, quick ? 1 : 3, min_time, &steps, &mean_s, &best_s, &cpu_s);
            double tokens = (double)tc.batch * mc.ctx, tps = tokens / mean_s;
            double ceiling, ceiling_cpu;
            json_t *shapes = sgemm_ceiling(&mc, tc.batch * mc.ctx, gemm_time, &ceiling, &ceiling_cpu);
            double gf = tps * fpt * 1e-9, gf_cpu = tokens / cpu_s * fpt * 1e-9;
            char key[8];
            snprintf(key, sizeof key, "%d", nt);
            json_object_set_new(per_threads, key,
                                json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:o}", "tokens_per_sec", tps,
                                          "tokens_per_sec_best_step", tokens / best_s, "step_seconds", mean_s,
                                          "step_cpu_seconds", cpu_s, "gflops", gf, "sgemm_ceiling_gflops", ceiling,
                                          "fraction_of_ceiling", gf / ceiling, "gflops_per_cpu_second", gf_cpu,
                                          "sgemm_ceiling_gflops_per_cpu_second", ceiling_cpu,
                                          "fraction_of_ceiling_cpu", gf_cpu / ceiling_cpu, "steps_timed", steps,
                                          "sgemm_shapes", shapes));
            fprintf(stderr,
                    "bench train: %-4s threads %d: %.0f tok/s, %.1f GFLOP/s, sgemm ceiling %.1f (%.0f%%); "
                    "per CPU-second: %.1f vs %.1f (%.0f%%)\n",
                    names[i], nt, tps, gf, ceiling, 100 * gf / ceiling, gf_cpu, ceiling_cpu, 100 * gf_cpu / ceiling_cpu);
        }
        json_object_set_new(entry, "threads", per_threads);
        if (extra) {
            pq_set_threads(1);
            fprintf(stderr, "bench train: %s, %s ...\n", names[i], extra->what);
            json_t *x = extra->measure(&mc, tc.batch, quick);
            if (!x) {
                json_decref(manifest), json_decref(results), json_decref(entry);
                pq_set_threads(saved_threads);
                return -1;
            }
            json_object_set_new(entry, extra->name, x);
        }
        json_array_append_new(results, entry);
    }
    pq_set_threads(saved_threads);
    pq_machine_sample_take(&after);
    pq_quiet_verdict quiet = pq_quiet_judge(&before, &after, (int)sysconf(_SC_NPROCESSORS_ONLN));
    if (!quiet.quiet)
        fprintf(stderr, "WARNING: MACHINE BUSY during the benchmark (%s): its times and ratios are not to be quoted\n",
                quiet.why);
    json_t *doc = json_pack("{s:s, s:s, s:b, s:b, s:o, s:o, s:s}", "benchmark", "train", "openblas_core", pq_blas_core(),
                            "quick", quick, "machine_quiet", quiet.quiet, "machine", pq_quiet_json(&before, &after, &quiet),
                            "configs", results, "note",
                            "tokens_per_sec: mean over timed full optimizer steps (forward, backward, clip, AdamW) on "
                            "the synthetic stream; gflops = tokens_per_sec x train_flops_per_token (6 x (block linears + head) + "
                            "causal attention); sgemm_ceiling_gflops: cblas_sgemm alone on the step's shapes (fastest "
                            "call of each, weighted as in a step), same run, same threads; *_per_cpu_second: the same "
                            "rates per second of process CPU time, robust when other work shares the cores");
    char *path = pq_write_result(doc, manifest, out_dir, "train.json");
    if (path) fprintf(stderr, "bench train: wrote %s\n", path);
    int rc = path ? 0 : -1;
    free(path);
    json_decref(doc);
    return rc;
}
