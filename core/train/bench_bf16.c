/* bench_bf16.c — `pq bench bf16`: training tokens/s with bf16 matmuls against FP32.
 *
 * One model and optimizer per config; rounds alternate FP32 and bf16 blocks of
 * full optimizer steps (which goes first alternates too), so both precisions see
 * the same machine load, and the medians over rounds are compared. Beside the
 * steps, the linears' own products (forward, input- and weight-gradient of every
 * block linear and the head) are timed the same way through cblas_sgemm and
 * pq_gemm_bf16: the matmul speed-up bounds what the step can gain. Rates are
 * given per wall second and per second of process CPU time (the second stays
 * meaningful when other processes share the cores), with the load average. */
#include "train/bench_bf16.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "base/bench.h"
#include "base/bench_quiet.h"
#include "base/bf16.h"
#include "base/blas.h"
#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "model/config.h"
#include "model/model.h"
#include "train/bench_step.h"

static json_t *load_average(void) {
    double l[3];
    pq_load_average(l);
    return json_pack("[f, f, f]", l[0], l[1], l[2]);
}

/* One step; the learning-rate schedule restarts every 1000 steps. */
static void stepper_step(pq_bench_stepper *s) { pq_bench_stepper_step(s, s->step % 1000); }

/* Steps of one precision until min_time has passed (at least min_steps): seconds
 * and CPU seconds per step. */
static void time_block(pq_bench_stepper *s, pq_matmul_precision p, int min_steps, double min_time, double *wall,
                       double *cpu) {
    pq_set_matmul_precision(p);
    double t0 = pq_now(), c0 = pq_cpu_now();
    int n = 0;
    while (n < min_steps || pq_now() - t0 < min_time) stepper_step(s), n++;
    *wall = (pq_now() - t0) / n, *cpu = (pq_cpu_now() - c0) / n;
    pq_set_matmul_precision(PQ_MATMUL_FP32);
}

/* Seconds of one step's linear products, per precision. */
static void time_products(const pq_gemm_shape *sh, int n, float *A, float *B, float *C, int reps, double *fp32_s,
                          double *bf16_s) {
    double t32 = 0, t16 = 0;
    for (int i = 0; i < n; i++) {
        const pq_gemm_shape *s = &sh[i];
        int lda = s->ta ? s->m : s->k, ldb = s->tb ? s->k : s->n;
        for (int r = 0; r < reps; r++) {
            double t = pq_now();
            cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, s->m, s->n, s->k,
                        1.0f, A, lda, B, ldb, 0.0f, C, s->n);
            t32 += (pq_now() - t) * s->count;
            t = pq_now();
            pq_gemm_bf16(s->ta, s->tb, s->m, s->n, s->k, 1.0f, A, lda, B, ldb, 0.0f, C, s->n);
            t16 += (pq_now() - t) * s->count;
        }
    }
    *fp32_s = t32 / reps, *bf16_s = t16 / reps;
}

static json_t *bench_config(const char *name, const pq_model_config *mc, int batch, int rounds, double min_time) {
    pq_bench_stepper s;
    pq_bench_stepper_init(&s, mc, batch);
    stepper_step(&s); /* warm-up: pages, caches, the bf16 scratch */
    pq_set_matmul_precision(PQ_MATMUL_BF16);
    stepper_step(&s);
    pq_set_matmul_precision(PQ_MATMUL_FP32);
    const double tokens = (double)batch * mc->ctx;
    double *w32 = pq_malloc(sizeof(double) * 4 * (size_t)rounds), *w16 = w32 + rounds, *c32 = w16 + rounds, *c16 = c32 + rounds;
    json_t *per_round = json_array();
    for (int r = 0; r < rounds; r++) {
        if (r % 2 == 0) {
            time_block(&s, PQ_MATMUL_FP32, 2, min_time, &w32[r], &c32[r]);
            time_block(&s, PQ_MATMUL_BF16, 2, min_time, &w16[r], &c16[r]);
        } else {
            time_block(&s, PQ_MATMUL_BF16, 2, min_time, &w16[r], &c16[r]);
            time_block(&s, PQ_MATMUL_FP32, 2, min_time, &w32[r], &c32[r]);
        }
        json_array_append_new(per_round, json_pack("{s:f, s:f, s:f, s:f}", "fp32_tokens_per_sec", tokens / w32[r],
                                                   "bf16_tokens_per_sec", tokens / w16[r], "fp32_tokens_per_cpu_sec",
                                                   tokens / c32[r], "bf16_tokens_per_cpu_sec", tokens / c16[r]));
        fprintf(stderr, "bench bf16: %-5s round %d: fp32 %.0f tok/s, bf16 %.0f tok/s (%.2fx; per CPU-second %.2fx)\n", name,
                r + 1, tokens / w32[r], tokens / w16[r], w32[r] / w16[r], c32[r] / c16[r]);
    }
    pq_bench_stepper_free(&s);

    pq_gemm_shape sh[PQ_STEP_SHAPES];
    int n = pq_bench_step_shapes(mc, batch * mc->ctx, sh);
    float *A, *B, *C;
    pq_bench_gemm_operands(sh, n, &A, &B, &C);
    double *g32 = pq_malloc(sizeof(double) * 2 * (size_t)rounds), *g16 = g32 + rounds;
    for (int r = 0; r < rounds; r++) time_products(sh, n, A, B, C, 2, &g32[r], &g16[r]);
    free(A), free(B), free(C);

    const double m32 = pq_median(w32, rounds), m16 = pq_median(w16, rounds), mc32 = pq_median(c32, rounds),
                 mc16 = pq_median(c16, rounds);
    const double mg32 = pq_median(g32, rounds), mg16 = pq_median(g16, rounds);
    json_t *e = json_pack("{s:s, s:o, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:o}", "name", name, "model",
                          pq_model_config_to_json(mc), "batch", batch, "rounds", rounds, "fp32_tokens_per_sec", tokens / m32,
                          "bf16_tokens_per_sec", tokens / m16, "speedup", m32 / m16, "fp32_tokens_per_cpu_sec", tokens / mc32,
                          "bf16_tokens_per_cpu_sec", tokens / mc16, "speedup_per_cpu_sec", mc32 / mc16,
                          "linear_products_fp32_seconds_per_step", mg32, "linear_products_bf16_seconds_per_step", mg16,
                          "linear_products_speedup", mg32 / mg16, "per_round", per_round);
    fprintf(stderr, "bench bf16: %-5s median: fp32 %.0f, bf16 %.0f tok/s: %.2fx (per CPU-second %.2fx); linear products alone %.2fx\n",
            name, tokens / m32, tokens / m16, m32 / m16, mc32 / mc16, mg32 / mg16);
    free(w32), free(g32);
    return e;
}

int pq_bench_bf16(const char *out_dir, int quick) {
    if (!pq_bf16_native())
        return pq_fail("pq bench bf16: this CPU lacks AVX-512 BF16; the portable bf16 path is no faster than fp32");
    const char *names_full[] = {"xs4k", "s4k", "wide"}, *names_quick[] = {"tiny"};
    const char **names = quick ? names_quick : names_full;
    const int n_names = quick ? 1 : 3, rounds = quick ? 3 : 7;
    const double min_time = quick ? 0.2 : 2.0;
    json_t *manifest = pq_manifest_new("bench-bf16", NULL);
    json_t *load_before = load_average();
    pq_machine_sample before, after; /* a step timing on a busy machine times the other job too */
    pq_machine_sample_take(&before);
    json_t *results = json_array();
    for (int i = 0; i < n_names; i++) {
        pq_model_config mc;
        pq_train_config tc;
        int batch;
        if (!strcmp(names[i], "wide")) { /* matmul-dominated: width 768, FFN 2048, two layers */
            char path[] = "suites/models/xs4k.json";
            if (pq_config_load(path, &mc, &tc, NULL)) goto fail;
            mc.dim = 768, mc.ffn_dim = 2048, mc.n_layers = 2, mc.n_heads = 12, mc.n_kv_heads = 4, mc.ctx = 128;
            batch = 4;
        } else {
            char path[256];
            snprintf(path, sizeof path, "suites/models/%s.json", names[i]);
            if (pq_config_load(path, &mc, &tc, NULL)) goto fail;
            pq_manifest_add_input(manifest, names[i], path);
            batch = tc.batch;
        }
        json_array_append_new(results, bench_config(names[i], &mc, batch, rounds, min_time));
    }
    pq_machine_sample_take(&after);
    pq_quiet_verdict quiet = pq_quiet_judge(&before, &after, (int)sysconf(_SC_NPROCESSORS_ONLN));
    if (!quiet.quiet)
        fprintf(stderr, "WARNING: MACHINE BUSY during the benchmark (%s): its times and ratios are not to be quoted\n",
                quiet.why);
    json_t *doc = json_pack("{s:s, s:s, s:i, s:b, s:o, s:o, s:b, s:o, s:o, s:s}", "benchmark", "bf16", "openblas_core",
                            pq_blas_core(), "threads", pq_threads(), "quick", quick, "load_average_before", load_before,
                            "load_average_after", load_average(), "machine_quiet", quiet.quiet, "machine",
                            pq_quiet_json(&before, &after, &quiet), "configs", results, "note",
                            "full optimizer steps on the synthetic stream, FP32 and --precision bf16 blocks alternating "
                            "within each round (order swapped every round), medians over rounds; speedup = fp32 step "
                            "time / bf16 step time. linear_products_*: the step's block-linear and head products "
                            "alone (cblas_sgemm vs pq_gemm_bf16, conversions included), same rounds. The load "
                            "average is the machine's (other processes included): on a shared machine the wall "
                            "rates are noisy and the per-CPU-second rates are the steadier comparison");
    char *path = pq_write_result(doc, manifest, out_dir, "bf16.json");
    if (path) fprintf(stderr, "bench bf16: wrote %s\n", path);
    int rc = path ? 0 : -1;
    free(path);
    json_decref(doc);
    return rc;
fail:
    json_decref(manifest), json_decref(results), json_decref(load_before);
    return -1;
}
