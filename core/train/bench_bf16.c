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
#include <time.h>

#include <cblas.h>

#include "base/bf16.h"
#include "base/blas.h"
#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "model/config.h"
#include "model/model.h"
#include "train/data.h"
#include "train/optim.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static json_t *load_average(void) {
    double l[3] = {0, 0, 0};
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) l[0] = l[1] = l[2] = -1;
        fclose(f);
    }
    return json_pack("[f, f, f]", l[0], l[1], l[2]);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double *s = pq_malloc(sizeof(double) * (size_t)n);
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

/* What one training step needs, built once per config. */
typedef struct {
    pq_model *m;
    pq_acts *a;
    pq_adamw *opt;
    pq_param_group *groups;
    int n_groups, batch, T;
    pq_token_stream ts;
    pq_data_order order;
    pq_optim_config oc;
    uint16_t *x, *y;
    int64_t step;
} stepper;

static void stepper_init(stepper *s, const pq_model_config *mc, int batch) {
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

static void stepper_step(stepper *s) {
    pq_model_refresh_weights(s->m);
    pq_model_zero_grads(s->m);
    pq_data_train_batch(&s->order, s->step * s->batch, s->batch, s->x, s->y);
    pq_model_forward(s->m, s->a, s->x, s->y, s->batch, s->T, 1, 1.0f / (float)(s->batch * s->T));
    pq_model_backward(s->m, s->a, s->x);
    pq_model_finish_grads(s->m);
    double norm = pq_groups_grad_norm(s->groups, s->n_groups);
    pq_adamw_step(s->opt, pq_lr_at(&s->oc, (int)(s->step % 1000)), pq_clip_factor(norm, s->oc.clip));
    s->step++;
}

static void stepper_free(stepper *s) {
    free(s->x), free(s->y);
    pq_acts_free(s->a);
    pq_adamw_free(s->opt);
    free(s->groups);
    pq_data_order_free(&s->order);
    pq_tokens_free(&s->ts);
    pq_model_free(s->m);
}

/* Steps of one precision until min_time has passed (at least min_steps): seconds
 * and CPU seconds per step. */
static void time_block(stepper *s, pq_matmul_precision p, int min_steps, double min_time, double *wall, double *cpu) {
    pq_set_matmul_precision(p);
    double t0 = pq_now(), c0 = cpu_now();
    int n = 0;
    while (n < min_steps || pq_now() - t0 < min_time) stepper_step(s), n++;
    *wall = (pq_now() - t0) / n, *cpu = (cpu_now() - c0) / n;
    pq_set_matmul_precision(PQ_MATMUL_FP32);
}

/* The linears' products of one step, as (M, N, K, transA, transB). */
typedef struct {
    int m, n, k, ta, tb, count;
} shape;

static int step_shapes(const pq_model_config *mc, int rows, shape *out) {
    const int hd = mc->dim / mc->n_heads, qkv = mc->dim + 2 * mc->n_kv_heads * hd;
    const int io[5][3] = {{mc->dim, qkv, mc->n_layers}, {mc->dim, mc->dim, mc->n_layers},
                          {mc->dim, 2 * mc->ffn_dim, mc->n_layers}, {mc->ffn_dim, mc->dim, mc->n_layers},
                          {mc->dim, mc->vocab, 1}};
    int n = 0;
    for (int i = 0; i < 5; i++) {
        int in = io[i][0], o = io[i][1], c = io[i][2];
        out[n++] = (shape){rows, o, in, 0, 1, c}; /* forward: x W^T */
        out[n++] = (shape){rows, in, o, 0, 0, c}; /* din = dout W */
        out[n++] = (shape){o, in, rows, 1, 0, c}; /* dW += dout^T x */
    }
    return n;
}

/* Seconds of one step's linear products, per precision. */
static void time_products(const shape *sh, int n, float *A, float *B, float *C, int reps, double *fp32_s, double *bf16_s) {
    double t32 = 0, t16 = 0;
    for (int i = 0; i < n; i++) {
        const shape *s = &sh[i];
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
    stepper s;
    stepper_init(&s, mc, batch);
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
    stepper_free(&s);

    shape sh[15];
    int n = step_shapes(mc, batch * mc->ctx, sh);
    size_t maxa = 0, maxb = 0, maxc = 0;
    for (int i = 0; i < n; i++) {
        maxa = PQ_MAX(maxa, (size_t)sh[i].m * sh[i].k);
        maxb = PQ_MAX(maxb, (size_t)sh[i].k * sh[i].n);
        maxc = PQ_MAX(maxc, (size_t)sh[i].m * sh[i].n);
    }
    float *A = pq_aligned_alloc(sizeof(float) * maxa), *B = pq_aligned_alloc(sizeof(float) * maxb),
          *C = pq_aligned_alloc(sizeof(float) * maxc);
    for (size_t i = 0; i < maxa; i++) A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < maxb; i++) B[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    double *g32 = pq_malloc(sizeof(double) * 2 * (size_t)rounds), *g16 = g32 + rounds;
    for (int r = 0; r < rounds; r++) time_products(sh, n, A, B, C, 2, &g32[r], &g16[r]);
    free(A), free(B), free(C);

    const double m32 = median(w32, rounds), m16 = median(w16, rounds), mc32 = median(c32, rounds), mc16 = median(c16, rounds);
    const double mg32 = median(g32, rounds), mg16 = median(g16, rounds);
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
    json_t *doc = json_pack("{s:s, s:s, s:i, s:b, s:o, s:o, s:o, s:s}", "benchmark", "bf16", "openblas_core", pq_blas_core(),
                            "threads", pq_threads(), "quick", quick, "load_average_before", load_before,
                            "load_average_after", load_average(), "configs", results, "note",
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
