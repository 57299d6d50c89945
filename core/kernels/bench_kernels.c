/* bench_kernels.c — `pq bench kernels`: packed low-bit GEMV/GEMM against
 * OpenBLAS and against this machine's memory bandwidth, measured in the same run.
 *
 * Single-token decode is memory-bound: each weight byte is read once per token,
 * so the speed limit is bandwidth / weight bytes. Every configuration is timed
 * twice: weights resident (the same matrix again and again, so it sits in
 * cache when it fits) and streamed (cycling through copies whose total is
 * several times the last-level cache, so every call reads DRAM: what a real
 * model larger than the cache sees). Times are medians of repeated calls. */
#include "kernels/bench_kernels.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/blas.h"
#include "base/fsio.h"
#include "base/manifest.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/util.h"
#include "kernels/gemv.h"
#include "kernels/infer.h"
#include "kernels/pack.h"

typedef struct {
    int rows, cols;
} shape;

/* MobileLLM-125M-like MLP matrices (down 576x1536, gate/up 1536x576), a square 1024 and 2048,
 * and a larger MLP pair (2048x8192, 8192x2048). rows x cols = out x in. */
static const shape all_shapes[] = {{576, 1536}, {1536, 576}, {1024, 1024}, {2048, 2048}, {2048, 8192}, {8192, 2048}};
static const shape quick_shapes[] = {{1024, 1024}, {8192, 2048}};

/* llama.cpp on one core of this machine, single-token GEMV 8192x2048 (issue #7). */
static const struct {
    const char *llama_type;
    const char *our_format; /* ours at the same or fewer bits per weight */
    double us;
} llama_reference[] = {{"TQ2_0", "t2", 290.0}, {"Q4_0", "b4", 600.0}, {"F32", "openblas_sgemv", 1400.0}};

/* Bandwidth passes: before the kernels, between OpenBLAS and the packed
 * kernels, and after. On a shared VM the 2-thread bandwidth moved between 47
 * and 80 GB/s from one pass to the next (the other vCPU landing on another
 * core); the median of three is what the kernels ran against, where the best
 * of two made every 2-thread fraction look 30% worse after one lucky pass. */
#define NPASSES 3

typedef struct {
    int quick;
    double budget;   /* seconds of timing per configuration */
    int min_reps, max_reps;
    size_t stream_bytes; /* size of the buffer set that defeats the cache */
    double triad_gbs[3], read_gbs[3]; /* by thread count 1, 2: the median of the passes */
    double triad_pass[NPASSES][3], read_pass[NPASSES][3]; /* [pass][threads] */
    json_t *results;
    pq_progress progress;
    int done;
} bench;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* --- memory bandwidth ------------------------------------------------------- */

/* STREAM triad a = b + s·c over arrays far larger than the cache; counts 24
 * bytes per element (STREAM's convention: no write-allocate traffic). Best of
 * several runs, as STREAM reports. Also a read-only pass (sum of an array),
 * which is what a GEMV does with its weights. */
static void measure_bandwidth(bench *B, int pass) {
    size_t n = B->stream_bytes / sizeof(double);
    double *a = pq_huge_alloc(n * sizeof(double)), *b = pq_huge_alloc(n * sizeof(double)),
           *c = pq_huge_alloc(n * sizeof(double));
    for (int threads = 1; threads <= 2; threads++) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) a[i] = 0.0, b[i] = 1.0, c[i] = 2.0;
        double best_triad = 1e30, best_read = 1e30, sink = 0.0;
        int reps = B->quick ? 3 : 8;
        for (int r = 0; r < reps; r++) {
            double t0 = pq_now();
#pragma omp parallel for num_threads(threads) schedule(static)
            for (size_t i = 0; i < n; i++) a[i] = b[i] + 3.0 * c[i];
            double t1 = pq_now();
            double s = 0.0;
#pragma omp parallel for simd num_threads(threads) schedule(static) reduction(+ : s)
            for (size_t i = 0; i < n; i++) s += b[i];
            double t2 = pq_now();
            sink += s + a[r];
            best_triad = PQ_MIN(best_triad, t1 - t0);
            best_read = PQ_MIN(best_read, t2 - t1);
        }
        if (sink == 42.0) fputc(' ', stderr); /* keeps the read loop alive */
        /* within a pass the best run, as STREAM reports */
        double triad = 3.0 * n * sizeof(double) / best_triad / 1e9, rd = n * sizeof(double) / best_read / 1e9;
        B->triad_pass[pass][threads] = triad;
        B->read_pass[pass][threads] = rd;
        /* the limit so far: the median of the passes made (provisional until the last) */
        double t[NPASSES], r[NPASSES];
        for (int p = 0; p <= pass; p++) t[p] = B->triad_pass[p][threads], r[p] = B->read_pass[p][threads];
        B->triad_gbs[threads] = median(t, pass + 1);
        B->read_gbs[threads] = median(r, pass + 1);
    }
    free(a), free(b), free(c);
}

/* --- timing ------------------------------------------------------------------ */

/* What one timed call does; `copy` selects which of the buffer copies to read. */
typedef void (*call_fn)(void *ctx, int copy);

static double time_calls(const bench *B, call_fn fn, void *ctx, int ncopies, int *reps_out) {
    double *t = pq_malloc((size_t)B->max_reps * sizeof(double));
    fn(ctx, 0); /* warm-up: page faults, thread start, cache for the resident case */
    fn(ctx, ncopies > 1 ? 1 : 0);
    int n = 0;
    double start = pq_now();
    while (n < B->max_reps && (n < B->min_reps || pq_now() - start < B->budget)) {
        double t0 = pq_now();
        fn(ctx, ncopies > 1 ? (n + 2) % ncopies : 0);
        t[n++] = pq_now() - t0;
    }
    double m = median(t, n);
    free(t);
    *reps_out = n;
    return m;
}

/* --- packed kernels ------------------------------------------------------------ */

typedef struct {
    pq_packed *copies; /* structs sharing scale/offset, data in one big buffer */
    const pq_act_batch *acts;
    float *y;
    pq_isa isa;
    int threads;
} packed_ctx;

static void call_packed(void *vctx, int copy) {
    packed_ctx *c = vctx;
    pq_matmul(&c->copies[copy], c->acts, c->y, c->isa, c->threads);
}

typedef struct {
    const float *A; /* copies of rows×cols, back to back */
    size_t stride;  /* floats between copies */
    const float *x;
    float *y;
    int rows, cols, batch;
} blas_ctx;

static void call_sgemv(void *vctx, int copy) {
    blas_ctx *c = vctx;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, c->rows, c->cols, 1.0f, c->A + c->stride * copy, c->cols, c->x, 1, 0.0f,
                c->y, 1);
}

static void call_sgemm(void *vctx, int copy) {
    blas_ctx *c = vctx;
    /* Y (batch × rows) = X (batch × cols) · Aᵀ */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, c->batch, c->rows, c->cols, 1.0f, c->x, c->cols,
                c->A + c->stride * copy, c->cols, 0.0f, c->y, c->rows);
}

static void record(bench *B, const char *kernel, const char *format, double bits, const char *act, shape s, int batch,
                   int threads, const char *placement, double seconds, int reps, size_t weight_bytes, const char *isa) {
    double gbs = weight_bytes / seconds / 1e9;
    json_t *r = json_object();
    json_object_set_new(r, "kernel", json_string(kernel));
    json_object_set_new(r, "format", json_string(format));
    json_object_set_new(r, "bits", json_real(bits));
    json_object_set_new(r, "act", json_string(act));
    json_object_set_new(r, "isa", json_string(isa));
    json_object_set_new(r, "rows", json_integer(s.rows));
    json_object_set_new(r, "cols", json_integer(s.cols));
    json_object_set_new(r, "batch", json_integer(batch));
    json_object_set_new(r, "threads", json_integer(threads));
    json_object_set_new(r, "placement", json_string(placement));
    json_object_set_new(r, "median_us", json_real(seconds * 1e6));
    json_object_set_new(r, "gflops", json_real(2.0 * s.rows * s.cols * batch / seconds / 1e9));
    json_object_set_new(r, "weight_bytes", json_integer((json_int_t)weight_bytes));
    json_object_set_new(r, "weight_gbs", json_real(gbs));
    json_object_set_new(r, "reps", json_integer(reps));
    json_array_append_new(B->results, r);
    printf("%-15s %-5s %-3s n=%-2d %5dx%-5d %dT %-8s %9.1f us %7.1f GFLOP/s %6.1f GB/s %4.0f%% triad\n", kernel, format, act,
           batch, s.rows, s.cols, threads, placement, seconds * 1e6, 2.0 * s.rows * s.cols * batch / seconds / 1e9, gbs,
           100.0 * gbs / B->triad_gbs[threads]); /* provisional: the final fractions use every bandwidth pass */
    fflush(stdout);
    B->done++;
    pq_progress_update(&B->progress, B->done, B->done, "%s %s %dx%d", kernel, format, s.rows, s.cols);
}

/* Random codes for a format (uniform over its levels) and plausible scales. */
static pq_packed *random_packed(pq_format f, shape s, uint64_t sub) {
    size_t n = (size_t)s.rows * s.cols;
    uint8_t *codes = pq_malloc(n);
    uint64_t stream = pq_rng_stream_id("bench-kernels", sub);
    int levels = pq_format_levels(f);
    for (size_t i = 0; i < n; i += 8) { /* one Philox draw per 8 codes */
        uint64_t r = pq_rng_u64(1, stream, i / 8);
        for (size_t j = i; j < i + 8 && j < n; j++, r >>= 8) codes[j] = (uint8_t)((r & 0xFF) * (uint64_t)levels >> 8);
    }
    float *scale = pq_malloc(s.rows * sizeof(float)), *offset = pq_malloc(s.rows * sizeof(float));
    for (int r = 0; r < s.rows; r++) scale[r] = 0.01f, offset[r] = -0.005f * (levels - 1);
    pq_packed *p = pq_pack(f, s.rows, s.cols, codes, scale, offset);
    free(codes), free(scale), free(offset);
    return p;
}

/* Copies of W's data filling at least `bytes` (one copy if resident). */
static uint8_t *make_copies(const pq_packed *W, size_t bytes, int *ncopies, pq_packed **copies) {
    size_t one = (size_t)W->rows * W->row_bytes;
    int n = (int)PQ_MAX(2, (bytes + one - 1) / one);
    uint8_t *buf = pq_huge_alloc(one * n);
    *copies = pq_malloc((size_t)n * sizeof(pq_packed));
    for (int i = 0; i < n; i++) {
        memcpy(buf + one * i, W->data, one);
        (*copies)[i] = *W;
        (*copies)[i].data = buf + one * i;
    }
    *ncopies = n;
    return buf;
}

static void bench_packed(bench *B, const shape *shapes, int nshapes, const int *batches, int nbatches) {
    pq_isa isa = pq_isa_best();
    int max_batch = 0;
    for (int i = 0; i < nbatches; i++) max_batch = PQ_MAX(max_batch, batches[i]);
    for (int si = 0; si < nshapes; si++) {
        shape s = shapes[si];
        float *x = pq_malloc((size_t)max_batch * s.cols * sizeof(float));
        for (size_t i = 0; i < (size_t)max_batch * s.cols; i++) x[i] = (float)pq_rng_normal(2, 0, i);
        float *y = pq_aligned_alloc((size_t)max_batch * s.rows * sizeof(float));
        for (int f = 0; f < PQ_FMT_COUNT; f++) {
            pq_packed *W = random_packed((pq_format)f, s, (uint64_t)(si * PQ_FMT_COUNT + f));
            pq_packed *copies;
            int ncopies;
            uint8_t *buf = make_copies(W, B->stream_bytes, &ncopies, &copies);
            for (int bi = 0; bi < nbatches; bi++)
                for (int kind = PQ_ACT_Q8; kind >= PQ_ACT_F32; kind--) {
                    pq_act_batch acts;
                    pq_act_batch_init(&acts);
                    pq_act_batch_set(&acts, (pq_act_kind)kind, x, batches[bi], s.cols);
                    for (int threads = 1; threads <= 2; threads++)
                        for (int streamed = 0; streamed <= (batches[bi] == 1); streamed++) {
                            packed_ctx ctx = {copies, &acts, y, isa, threads};
                            int reps;
                            double t = time_calls(B, call_packed, &ctx, streamed ? ncopies : 1, &reps);
                            record(B, batches[bi] == 1 ? "packed_gemv" : "packed_gemm", pq_format_name(W->format),
                                   pq_format_bits(W->format), kind == PQ_ACT_Q8 ? "q8" : "f32", s, batches[bi], threads,
                                   streamed ? "streamed" : "resident", t, reps, pq_packed_bytes(W), pq_isa_name(isa));
                        }
                    pq_act_batch_free(&acts);
                }
            free(buf), free(copies);
            pq_packed_free(W);
        }
        free(x), free(y);
    }
}

static void bench_openblas(bench *B, const shape *shapes, int nshapes, const int *batches, int nbatches) {
    for (int si = 0; si < nshapes; si++) {
        shape s = shapes[si];
        size_t one = (size_t)s.rows * s.cols;
        int ncopies = (int)PQ_MAX(2, (B->stream_bytes + one * 4 - 1) / (one * 4));
        float *A = pq_huge_alloc(one * ncopies * sizeof(float));
        for (size_t i = 0; i < one; i++) A[i] = (float)((int)(pq_rng_u32(3, (uint64_t)si, i) >> 16) - 32768) * 1e-6f;
        for (int c = 1; c < ncopies; c++) memcpy(A + one * c, A, one * sizeof(float));
        float *x = pq_malloc((size_t)16 * s.cols * sizeof(float)), *y = pq_aligned_alloc((size_t)16 * s.rows * sizeof(float));
        for (size_t i = 0; i < (size_t)16 * s.cols; i++) x[i] = (float)pq_rng_normal(2, 0, i);
        for (int bi = 0; bi < nbatches; bi++)
            for (int threads = 1; threads <= 2; threads++) {
                pq_blas_set_threads(threads);
                for (int streamed = 0; streamed <= (batches[bi] == 1); streamed++) {
                    blas_ctx ctx = {A, one, x, y, s.rows, s.cols, batches[bi]};
                    int reps;
                    double t = time_calls(B, batches[bi] == 1 ? call_sgemv : call_sgemm, &ctx, streamed ? ncopies : 1, &reps);
                    record(B, batches[bi] == 1 ? "openblas_sgemv" : "openblas_sgemm", "f32", 32.0, "f32", s, batches[bi],
                           threads, streamed ? "streamed" : "resident", t, reps, one * sizeof(float), "openblas");
                }
            }
        pq_blas_set_threads(pq_threads());
        free(A), free(x), free(y);
    }
}

/* The ref / AVX2 / AVX-512 versions side by side on one shape: what the SIMD buys. */
static void bench_isas(bench *B, shape s) {
    float *x = pq_malloc(s.cols * sizeof(float)), *y = pq_malloc(s.rows * sizeof(float));
    for (int i = 0; i < s.cols; i++) x[i] = (float)pq_rng_normal(2, 1, (uint64_t)i);
    const pq_format fmts[] = {PQ_FMT_T2, PQ_FMT_B4};
    for (size_t fi = 0; fi < PQ_COUNT(fmts); fi++) {
        pq_packed *W = random_packed(fmts[fi], s, 999 + fi);
        pq_act_batch acts;
        pq_act_batch_init(&acts);
        pq_act_batch_set(&acts, PQ_ACT_Q8, x, 1, s.cols);
        for (int isa = 0; isa < PQ_ISA_COUNT; isa++) {
            if (!pq_isa_supported((pq_isa)isa)) continue;
            packed_ctx ctx = {W, &acts, y, (pq_isa)isa, 1};
            int reps;
            double t = time_calls(B, call_packed, &ctx, 1, &reps);
            record(B, "packed_gemv_isa", pq_format_name(W->format), pq_format_bits(W->format), "q8", s, 1, 1, "resident",
                   t, reps, pq_packed_bytes(W), pq_isa_name((pq_isa)isa));
        }
        pq_act_batch_free(&acts);
        pq_packed_free(W);
    }
    free(x), free(y);
}

/* --- the verdicts the issue asks for --------------------------------------------- */

static const json_t *find(const bench *B, const char *kernel, const char *format, const char *act, shape s, int threads,
                          const char *placement) {
    size_t i;
    json_t *r;
    json_array_foreach(B->results, i, r) {
        if (!strcmp(json_string_value(json_object_get(r, "kernel")), kernel) &&
            !strcmp(json_string_value(json_object_get(r, "format")), format) &&
            !strcmp(json_string_value(json_object_get(r, "act")), act) &&
            json_integer_value(json_object_get(r, "rows")) == s.rows &&
            json_integer_value(json_object_get(r, "cols")) == s.cols &&
            json_integer_value(json_object_get(r, "threads")) == threads &&
            !strcmp(json_string_value(json_object_get(r, "placement")), placement))
            return r;
    }
    return NULL;
}

static double field(const json_t *r, const char *key) { return r ? json_real_value(json_object_get(r, key)) : NAN; }

/* Fractions of the bandwidth limits, once both bandwidth passes are in. */
static void add_fractions(const bench *B) {
    size_t i;
    json_t *r;
    json_array_foreach(B->results, i, r) {
        int threads = (int)json_integer_value(json_object_get(r, "threads"));
        double gbs = json_real_value(json_object_get(r, "weight_gbs"));
        json_object_set_new(r, "fraction_of_triad", json_real(gbs / B->triad_gbs[threads]));
        json_object_set_new(r, "fraction_of_read", json_real(gbs / B->read_gbs[threads]));
    }
}

/* tokens/s of one decode configuration, NAN if absent. */
static double decode_tps(const json_t *decode, const char *model, const char *format, const char *head, int threads) {
    size_t i;
    json_t *r;
    json_array_foreach(decode, i, r) {
        if (!strcmp(json_string_value(json_object_get(r, "model")), model) &&
            !strcmp(json_string_value(json_object_get(r, "format")), format) &&
            !strcmp(json_string_value(json_object_get(r, "head")), head) &&
            json_integer_value(json_object_get(r, "threads")) == threads)
            return json_real_value(json_object_get(r, "tokens_per_s"));
    }
    return NAN;
}

static json_t *summarize(const bench *B, const json_t *decode) {
    json_t *sum = json_object();
    shape big[] = {{2048, 8192}, {8192, 2048}};
    /* Fraction of the measured DRAM bandwidth (triad), streamed, per format and threads. */
    json_t *frac = json_object();
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        for (int threads = 1; threads <= 2; threads++) {
            double worst = INFINITY;
            for (size_t i = 0; i < PQ_COUNT(big); i++)
                worst = fmin(worst, field(find(B, "packed_gemv", pq_format_name((pq_format)f), "q8", big[i], threads,
                                               "streamed"),
                                          "fraction_of_triad"));
            char key[32];
            snprintf(key, sizeof key, "%s_%dT", pq_format_name((pq_format)f), threads);
            json_object_set_new(frac, key, json_real(worst));
        }
    json_object_set_new(sum, "large_gemv_min_fraction_of_triad_streamed_q8", frac);
    json_object_set_new(sum, "target_fraction_of_bandwidth", json_real(0.8));
    /* 2-bit vs 4-bit speed on the big shape. */
    shape s = {8192, 2048};
    json_t *ratio = json_object();
    for (int threads = 1; threads <= 2; threads++)
        for (int streamed = 0; streamed <= 1; streamed++) {
            const char *pl = streamed ? "streamed" : "resident";
            double t2 = field(find(B, "packed_gemv", "b2", "q8", s, threads, pl), "median_us");
            double t4 = field(find(B, "packed_gemv", "b4", "q8", s, threads, pl), "median_us");
            char key[48];
            snprintf(key, sizeof key, "b4_over_b2_time_8192x2048_%dT_%s", threads, pl);
            json_object_set_new(ratio, key, json_real(t4 / t2));
        }
    json_object_set_new(sum, "speedup_2bit_over_4bit", ratio);
    json_object_set_new(sum, "target_speedup_2bit_over_4bit", json_real(1.6));
    /* Against llama.cpp's single-core numbers on 8192x2048. */
    json_t *llama = json_array();
    for (size_t i = 0; i < PQ_COUNT(llama_reference); i++) {
        int blas = !strcmp(llama_reference[i].our_format, "openblas_sgemv");
        json_t *e = json_object();
        json_object_set_new(e, "llama_cpp_type", json_string(llama_reference[i].llama_type));
        json_object_set_new(e, "llama_cpp_us", json_real(llama_reference[i].us));
        json_object_set_new(e, "ours", json_string(llama_reference[i].our_format));
        for (int streamed = 0; streamed <= 1; streamed++) {
            const char *pl = streamed ? "streamed" : "resident";
            const json_t *r = blas ? find(B, "openblas_sgemv", "f32", "f32", s, 1, pl)
                                   : find(B, "packed_gemv", llama_reference[i].our_format, "q8", s, 1, pl);
            char key[32];
            snprintf(key, sizeof key, "ours_us_%s", pl);
            json_object_set_new(e, key, json_real(field(r, "median_us")));
        }
        json_array_append_new(llama, e);
    }
    json_object_set_new(sum, "vs_llama_cpp_8192x2048_1T", llama);
    /* Speed over OpenBLAS sgemv relative to the ratio of bytes read (target: >= 0.75),
     * streamed, one thread, on the large shapes (the worst of the two). */
    json_t *vs_blas = json_object();
    for (int f = 0; f < PQ_FMT_COUNT; f++) {
        double worst = INFINITY;
        for (size_t i = 0; i < PQ_COUNT(big); i++) {
            const json_t *p = find(B, "packed_gemv", pq_format_name((pq_format)f), "q8", big[i], 1, "streamed");
            const json_t *b = find(B, "openblas_sgemv", "f32", "f32", big[i], 1, "streamed");
            double speedup = field(b, "median_us") / field(p, "median_us");
            double bytes_ratio = (double)json_integer_value(json_object_get(b, "weight_bytes")) /
                                 (double)json_integer_value(json_object_get(p, "weight_bytes"));
            worst = fmin(worst, speedup / bytes_ratio);
        }
        json_object_set_new(vs_blas, pq_format_name((pq_format)f), json_real(worst));
    }
    json_object_set_new(sum, "speedup_over_sgemv_per_bytes_ratio_streamed_1T", vs_blas);
    json_object_set_new(sum, "target_speedup_over_sgemv_per_bytes_ratio", json_real(0.75));
    /* Decode: 2-bit vs 4-bit tokens/s on the same model. */
    json_t *dec = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(decode, i, r) {
        const char *model = json_string_value(json_object_get(r, "model"));
        const char *head = json_string_value(json_object_get(r, "head"));
        int threads = (int)json_integer_value(json_object_get(r, "threads"));
        if (strcmp(json_string_value(json_object_get(r, "format")), "b2") != 0) continue;
        char key[96];
        snprintf(key, sizeof key, "%s_head_%s_%dT", model, head, threads);
        json_object_set_new(dec, key, json_real(decode_tps(decode, model, "b2", head, threads) /
                                                decode_tps(decode, model, "b4", head, threads)));
    }
    json_object_set_new(sum, "decode_speedup_2bit_over_4bit", dec);
    return sum;
}

/* The L3 this CPU sees. sysfs first: under a hypervisor glibc's sysconf can
 * report the whole host socket (384 MiB on this machine for a 32 MiB L3). */
static long last_level_cache_bytes(void) {
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
    long kb = 0;
    if (f) {
        if (fscanf(f, "%ldK", &kb) != 1) kb = 0;
        fclose(f);
    }
    if (kb > 0) return kb * 1024;
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    return llc > 0 ? llc : 32L << 20;
}

int pq_bench_kernels(const char *out_dir, int quick) {
    bench B = {0};
    B.quick = quick;
    /* Medians of many short calls over a fixed stretch of time, so that one
     * preemption on a shared machine moves no median (--quick once took 3 to 30
     * calls, and a single 8 ms stall showed up in a 26 us result). */
    B.budget = quick ? 0.03 : 0.15;
    B.min_reps = quick ? 9 : 15;
    B.max_reps = quick ? 400 : 2000;
    long llc = last_level_cache_bytes();
    B.stream_bytes = (size_t)PQ_MAX(quick ? 2 * llc : 4 * llc, 64L << 20);
    B.results = json_array();

    const shape *shapes = quick ? quick_shapes : all_shapes;
    int nshapes = quick ? (int)PQ_COUNT(quick_shapes) : (int)PQ_COUNT(all_shapes);
    const int batches[] = {1, 8};
    int nbatches = quick ? 1 : 2;
    int gemv_per_fmt = 2 * 2 * 2 + (nbatches > 1 ? 2 * 2 : 0);
    int total = nshapes * (PQ_FMT_COUNT * gemv_per_fmt + 4 + (nbatches > 1 ? 2 : 0)) + 2 * PQ_ISA_COUNT;

    json_t *config = json_object();
    json_object_set_new(config, "quick", json_boolean(quick));
    json_object_set_new(config, "budget_seconds", json_real(B.budget));
    json_object_set_new(config, "stream_buffer_bytes", json_integer((json_int_t)B.stream_bytes));
    json_object_set_new(config, "llc_bytes", json_integer(llc));
    json_object_set_new(config, "isa", json_string(pq_isa_name(pq_isa_best())));
    json_t *manifest = pq_manifest_new("bench_kernels", config);
    fprintf(stderr, "bench kernels: measuring memory bandwidth (%zu MiB arrays)\n", B.stream_bytes >> 20);
    measure_bandwidth(&B, 0);
    printf("memory bandwidth: triad %.1f GB/s (1 thread), %.1f GB/s (2 threads); read %.1f / %.1f GB/s\n",
           B.triad_gbs[1], B.triad_gbs[2], B.read_gbs[1], B.read_gbs[2]);
    pq_progress_begin(&B.progress, "bench kernels", total, "cfg");
    bench_openblas(&B, shapes, nshapes, batches, nbatches);
    measure_bandwidth(&B, 1);
    bench_packed(&B, shapes, nshapes, batches, nbatches);
    bench_isas(&B, (shape){2048, 2048});
    pq_progress_end(&B.progress);
    measure_bandwidth(&B, 2);
    printf("memory bandwidth, median of %d passes: triad %.1f / %.1f GB/s, read %.1f / %.1f GB/s\n", NPASSES,
           B.triad_gbs[1], B.triad_gbs[2], B.read_gbs[1], B.read_gbs[2]);
    add_fractions(&B);

    json_t *out = json_object();
    json_t *bw = json_object();
    json_object_set_new(bw, "triad_gbs_1T", json_real(B.triad_gbs[1]));
    json_object_set_new(bw, "triad_gbs_2T", json_real(B.triad_gbs[2]));
    json_object_set_new(bw, "read_gbs_1T", json_real(B.read_gbs[1]));
    json_object_set_new(bw, "read_gbs_2T", json_real(B.read_gbs[2]));
    json_t *passes = json_array();
    for (int p = 0; p < NPASSES; p++)
        json_array_append_new(passes, json_pack("{s:f, s:f, s:f, s:f}", "triad_gbs_1T", B.triad_pass[p][1], "triad_gbs_2T",
                                                B.triad_pass[p][2], "read_gbs_1T", B.read_pass[p][1], "read_gbs_2T",
                                                B.read_pass[p][2]));
    json_object_set_new(bw, "passes", passes);
    json_object_set_new(bw, "note", json_string("passes before the kernels, between OpenBLAS and the packed kernels, and "
                                                "after; the limits are their median (STREAM's best-of convention assumes "
                                                "a dedicated machine); STREAM counts 24 bytes per triad element (no "
                                                "write-allocate), the read pass 8 bytes per element"));
    json_object_set_new(out, "bandwidth", bw);
    json_object_set_new(out, "kernels", B.results);
    json_t *decode = NULL;
    fprintf(stderr, "bench kernels: decode speed of MobileLLM-shaped models with random packed weights\n");
    if (pq_bench_decode(quick, &decode) != 0) {
        json_decref(out), json_decref(manifest), json_decref(config);
        return -1;
    }
    json_object_set_new(out, "decode", decode);
    json_t *summary = summarize(&B, decode);
    json_object_set_new(out, "summary", summary);
    json_decref(config);
    char *path = pq_write_result(out, manifest, out_dir, "kernels.json");
    if (path) {
        char *dump = json_dumps(summary, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("summary: %s\nwrote %s\n", dump, path);
        free(dump);
    }
    int rc = path ? 0 : -1;
    free(path);
    json_decref(out);
    return rc;
}
