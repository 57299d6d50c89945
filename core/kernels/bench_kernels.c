/* bench_kernels.c — `pq bench kernels`: packed low-bit GEMV/GEMM against
 * OpenBLAS and against this machine's memory bandwidth, measured in the same run.
 *
 * Single-token decode is memory-bound: each weight byte is read once per token,
 * so the speed limit is bandwidth / weight bytes. Every configuration is timed
 * twice: weights resident (the same matrix again and again, so it sits in
 * cache when it fits) and streamed (cycling through copies totalling at least
 * 512 MiB and 4x the largest cache any source reports, so every call reads
 * DRAM: what a real model larger than the cache sees). A check then asks
 * whether the two differ as a bandwidth-bound kernel's should. Times are
 * medians of repeated calls, taken in rounds that visit every configuration of
 * a shape in turn (see "timing, round by round"); the machine's load is
 * sampled before and after. */
#include "kernels/bench_kernels.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/bench.h"
#include "base/blas.h"
#include "base/fsio.h"
#include "base/manifest.h"
#include "base/progress.h"
#include "base/rng.h"
#include "base/util.h"
#include "base/bench_quiet.h"
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

/* Peer timings of a single-token 8192x2048 GEMV on one core of this machine.
 * None was measured in this run (llama.cpp is not built here): each names the
 * peer's variant and where the number comes from, so a comparison is read
 * against the right kernel. llama.cpp repacks Q4_0 at load time on AVX-512
 * CPUs (to q4_0_8x8, an interleaved layout of 8 rows), which is the path a
 * user gets; the plain Q4_0 dot product is the slower figure of issue 7. */
static const struct {
    const char *peer, *type, *variant, *source;
    const char *our_format; /* ours at the same or fewer bits per weight */
    double us_lo, us_hi;
} peer_reference[] = {
    {"llama.cpp", "TQ2_0", "TQ2_0 ggml-cpu vec_dot (no repacked layout exists for TQ2_0)",
     "issue 7: llama.cpp on one core of this machine; placement (resident or streamed) not recorded", "t2", 290.0,
     290.0},
    {"llama.cpp", "Q4_0", "Q4_0 repacked to q4_0_8x8 at load (the default on AVX-512 CPUs)",
     "issue 20: llama.cpp measured side by side with pq on this machine", "b4", 420.0, 450.0},
    {"llama.cpp", "Q4_0", "Q4_0 plain vec_dot_q4_0_q8_0 (repacking off): not what llama.cpp runs on this CPU",
     "issue 7: llama.cpp on one core of this machine", "b4", 600.0, 600.0},
    {"llama.cpp", "F32", "F32 ggml-cpu vec_dot_f32", "issue 7: llama.cpp on one core of this machine",
     "openblas_sgemv", 1400.0, 1400.0},
};

/* The streamed set: at least this much, and 4x the largest cache reported. */
#define STREAM_MIN_BYTES (512L << 20)

/* Bandwidth passes: before the kernels, after the first half of the shapes,
 * and after. On a shared VM the 2-thread bandwidth moved between 47
 * and 80 GB/s from one pass to the next (the other vCPU landing on another
 * core); the median of three is what the kernels ran against, where the best
 * of two made every 2-thread fraction look 30% worse after one lucky pass. */
#define NPASSES 3

/* Rounds of the round-by-round timing (below); --quick: 3. */
#define MAX_ROUNDS 8

typedef struct {
    int quick;
    int rounds;
    double budget; /* seconds of timing per configuration, over all rounds */
    int min_reps_per_round, max_reps_per_round;
    size_t stream_bytes; /* size of the copy set that defeats the cache */
    uint8_t *arena;      /* the streamed copies of the matrix whose turn it is */
    uint8_t *slot;       /* its resident copy */
    double triad_gbs[3], read_gbs[3]; /* by thread count 1, 2: the median of the passes */
    double triad_pass[NPASSES][3], read_pass[NPASSES][3]; /* [pass][threads] */
    json_t *results;
    pq_progress progress;
    int turns_done;
} bench;

/* --- memory bandwidth ------------------------------------------------------- */

/* STREAM triad a = b + s·c over arrays far larger than the cache (each half
 * the streamed set, so 1.5x it in all); counts 24 bytes per element (STREAM's
 * convention: no write-allocate traffic). Best of several runs, as STREAM
 * reports. Also a read-only pass (sum of an array), which is what a GEMV does
 * with its weights. */
static void measure_bandwidth(bench *B, int pass) {
    size_t n = B->stream_bytes / 2 / sizeof(double);
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
        B->triad_gbs[threads] = pq_median(t, pass + 1);
        B->read_gbs[threads] = pq_median(r, pass + 1);
    }
    free(a), free(b), free(c);
}

/* --- timing, round by round ----------------------------------------------------- */

/* On this VM a configuration timed in one block moved 1.4-1.6x from one run to
 * the next with nothing else running, and t2 and b2 (one kernel, one storage)
 * came out up to 1.60x apart: the machine drifts over seconds to minutes, and
 * a buffer's own placement counts too (swapping which of two buffers was
 * allocated first swapped which one streamed slower). So every configuration
 * of a shape is timed in short turns over several rounds, each round visiting
 * every matrix of the shape in turn (rotated, so no matrix always follows the
 * same one), and every matrix is read from the same two buffers: the arena
 * (the streamed copies) and the slot (the resident copy), into which its turn
 * first copies it. A drift then reaches every format alike, and no format
 * keeps luckier or unluckier pages than another. A time is the median of all
 * of a configuration's calls; each round's median is kept beside it. */

/* What one timed call does; `copy` selects which copy of the matrix to read. */
typedef void (*call_fn)(void *ctx, int copy);

typedef struct {
    const char *kernel, *format, *act, *isa;
    double bits;
    int batch, threads, streamed;
    int blas_threads;    /* OpenBLAS: its thread count, set before each turn; 0 otherwise */
    size_t weight_bytes; /* one matrix as the kernel reads it */
    call_fn fn;
    void *ctx;                     /* owned */
    double *t;                     /* every timed call of every round */
    int n, cap;
    double round_us[MAX_ROUNDS];   /* each round's median */
} timed;

/* One matrix and the configurations that read it. */
typedef struct {
    const void *src;   /* the matrix, copied into the slot and the arena at each turn */
    size_t one;        /* its bytes */
    size_t stride;     /* bytes between copies in the arena (one, rounded up to 64) */
    int ncopies;       /* in the arena; 0: resident configurations only */
    int cursor;        /* the next copy a streamed call reads, across configurations and rounds */
    timed *cfg;
    int ncfg, capcfg;
} matrix_turn;

static timed *add_config(matrix_turn *m) {
    if (m->ncfg == m->capcfg) {
        m->capcfg = m->capcfg ? 2 * m->capcfg : 16;
        m->cfg = pq_realloc(m->cfg, (size_t)m->capcfg * sizeof(timed));
    }
    timed *c = &m->cfg[m->ncfg++];
    memset(c, 0, sizeof *c);
    return c;
}

/* Copies the matrix into the slot and, for streamed configurations, into every
 * copy of the arena (both threads: 2 GiB a turn). */
static void fill_turn(const bench *B, const matrix_turn *m) {
    if (m->ncopies > 0) {
#pragma omp parallel for num_threads(2) schedule(static)
        for (int i = 0; i < m->ncopies; i++) memcpy(B->arena + m->stride * (size_t)i, m->src, m->one);
    }
    memcpy(B->slot, m->src, m->one);
}

/* The copy a call reads: streamed calls walk the arena, so each reads the copy
 * after the last one read by any configuration of this matrix (the longest
 * ago, so out of every cache); resident calls read the slot. */
static int next_copy(matrix_turn *m, const timed *c) {
    if (!c->streamed) return 0;
    int copy = m->cursor;
    m->cursor = (m->cursor + 1) % m->ncopies;
    return copy;
}

static void time_turn(const bench *B, matrix_turn *m, timed *c, int round) {
    if (c->blas_threads) pq_blas_set_threads(c->blas_threads);
    c->fn(c->ctx, next_copy(m, c)); /* warm-up: thread start, the slot into cache when it fits */
    c->fn(c->ctx, next_copy(m, c));
    int first = c->n;
    double start = pq_now(), budget = B->budget / B->rounds;
    while (c->n - first < B->max_reps_per_round && (c->n - first < B->min_reps_per_round || pq_now() - start < budget)) {
        int copy = next_copy(m, c);
        double t0 = pq_now();
        c->fn(c->ctx, copy);
        double dt = pq_now() - t0;
        if (c->n == c->cap) {
            c->cap = c->cap ? 2 * c->cap : 64;
            c->t = pq_realloc(c->t, (size_t)c->cap * sizeof(double));
        }
        c->t[c->n++] = dt;
    }
    c->round_us[round] = pq_median(c->t + first, c->n - first) * 1e6;
}

static void record(bench *B, const timed *c, shape s) {
    double seconds = pq_median(c->t, c->n);
    double gbs = c->weight_bytes / seconds / 1e9, gflops = 2.0 * s.rows * s.cols * c->batch / seconds / 1e9;
    json_t *rounds = json_array();
    for (int r = 0; r < B->rounds; r++) json_array_append_new(rounds, json_real(c->round_us[r]));
    json_t *row = json_object();
    json_object_set_new(row, "kernel", json_string(c->kernel));
    json_object_set_new(row, "format", json_string(c->format));
    json_object_set_new(row, "bits", json_real(c->bits));
    json_object_set_new(row, "act", json_string(c->act));
    json_object_set_new(row, "isa", json_string(c->isa));
    json_object_set_new(row, "rows", json_integer(s.rows));
    json_object_set_new(row, "cols", json_integer(s.cols));
    json_object_set_new(row, "batch", json_integer(c->batch));
    json_object_set_new(row, "threads", json_integer(c->threads));
    json_object_set_new(row, "placement", json_string(c->streamed ? "streamed" : "resident"));
    json_object_set_new(row, "median_us", json_real(seconds * 1e6));
    json_object_set_new(row, "gflops", json_real(gflops));
    json_object_set_new(row, "weight_bytes", json_integer((json_int_t)c->weight_bytes));
    json_object_set_new(row, "weight_gbs", json_real(gbs));
    json_object_set_new(row, "reps", json_integer(c->n));
    json_object_set_new(row, "round_median_us", rounds);
    json_array_append_new(B->results, row);
    printf("%-15s %-5s %-3s n=%-2d %5dx%-5d %dT %-8s %9.1f us %7.1f GFLOP/s %6.1f GB/s %4.0f%% triad\n", c->kernel,
           c->format, c->act, c->batch, s.rows, s.cols, c->threads, c->streamed ? "streamed" : "resident",
           seconds * 1e6, gflops, gbs,
           100.0 * gbs / B->triad_gbs[c->threads]); /* provisional: the final fractions use every bandwidth pass */
    fflush(stdout);
}

/* Every configuration of one shape, round by round; then their rows. */
static void run_rounds(bench *B, matrix_turn *m, int nm, shape s) {
    for (int r = 0; r < B->rounds; r++)
        for (int k = 0; k < nm; k++) {
            matrix_turn *M = &m[(k + r) % nm];
            fill_turn(B, M);
            for (int i = 0; i < M->ncfg; i++) time_turn(B, M, &M->cfg[(i + r) % M->ncfg], r);
            B->turns_done += M->ncfg;
            pq_progress_update(&B->progress, B->turns_done, B->turns_done, "%dx%d round %d/%d", s.rows, s.cols, r + 1,
                               B->rounds);
        }
    for (int k = 0; k < nm; k++) {
        for (int i = 0; i < m[k].ncfg; i++) {
            record(B, &m[k].cfg[i], s);
            free(m[k].cfg[i].ctx), free(m[k].cfg[i].t);
        }
        free(m[k].cfg);
    }
}

/* A matrix's turn: its bytes, and (streamed_too) enough copies in the arena to
 * fill at least stream_bytes, and two. */
static void turn_init(const bench *B, matrix_turn *m, const void *src, size_t one, int streamed_too) {
    memset(m, 0, sizeof *m);
    m->src = src;
    m->one = one;
    m->stride = pq_round64(one);
    m->ncopies = streamed_too ? (int)PQ_MAX(2, (B->stream_bytes + m->stride - 1) / m->stride) : 0;
}

/* --- packed kernels ------------------------------------------------------------ */

typedef struct {
    pq_packed *copies; /* structs sharing scale/offset: one per arena copy, or the slot */
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
    const float *A; /* the slot, or the arena's copies back to back */
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

/* A packed matrix's turn: its copies in the arena (streamed) and in the slot (resident). */
static void packed_turn(const bench *B, matrix_turn *m, const pq_packed *W, int streamed_too, pq_packed **copies_out,
                        pq_packed **slot_out) {
    turn_init(B, m, W->data, (size_t)W->rows * W->row_bytes, streamed_too);
    pq_packed *copies = pq_malloc((size_t)PQ_MAX(1, m->ncopies) * sizeof(pq_packed));
    for (int i = 0; i < m->ncopies; i++) copies[i] = *W, copies[i].data = B->arena + m->stride * (size_t)i;
    pq_packed *slot = pq_malloc(sizeof(pq_packed));
    *slot = *W, slot->data = B->slot;
    *copies_out = copies, *slot_out = slot;
}

static void add_packed(matrix_turn *m, const char *kernel, const pq_packed *W, pq_packed *copies, pq_packed *slot,
                       const pq_act_batch *acts, const char *act, int batch, int threads, int streamed, pq_isa isa,
                       float *y) {
    timed *c = add_config(m);
    packed_ctx *ctx = pq_malloc(sizeof *ctx);
    *ctx = (packed_ctx){streamed ? copies : slot, acts, y, isa, threads};
    *c = (timed){.kernel = kernel, .format = pq_format_name(W->format), .act = act, .isa = pq_isa_name(isa),
                 .bits = pq_format_bits(W->format), .batch = batch, .threads = threads, .streamed = streamed,
                 .weight_bytes = pq_packed_bytes(W), .fn = call_packed, .ctx = ctx};
}

static void add_blas(matrix_turn *m, const bench *B, const float *slot, shape s, const float *x, float *y, int batch,
                     int threads, int streamed) {
    timed *c = add_config(m);
    blas_ctx *ctx = pq_malloc(sizeof *ctx);
    *ctx = (blas_ctx){streamed ? (const float *)B->arena : slot, m->stride / sizeof(float), x, y, s.rows, s.cols, batch};
    *c = (timed){.kernel = batch == 1 ? "openblas_sgemv" : "openblas_sgemm", .format = "f32", .act = "f32",
                 .isa = "openblas", .bits = 32.0, .batch = batch, .threads = threads, .streamed = streamed,
                 .blas_threads = threads, .weight_bytes = m->one, .fn = batch == 1 ? call_sgemv : call_sgemm,
                 .ctx = ctx};
}

/* One shape: OpenBLAS's FP32 matrix and every packed format, 1 and 2 threads,
 * int8 and fp32 activations, each batch, resident and (single token) streamed,
 * all timed in the same rounds. */
static void bench_shape(bench *B, shape s, int si, const int *batches, int nbatches) {
    pq_isa isa = pq_isa_best();
    int max_batch = 0;
    for (int i = 0; i < nbatches; i++) max_batch = PQ_MAX(max_batch, batches[i]);
    float *x = pq_malloc((size_t)max_batch * s.cols * sizeof(float));
    for (size_t i = 0; i < (size_t)max_batch * s.cols; i++) x[i] = (float)pq_rng_normal(2, 0, i);
    float *y = pq_aligned_alloc((size_t)max_batch * s.rows * sizeof(float));
    pq_act_batch acts[2][2]; /* [batch index][q8, f32] */
    for (int bi = 0; bi < nbatches; bi++)
        for (int k = 0; k < 2; k++) {
            pq_act_batch_init(&acts[bi][k]);
            pq_act_batch_set(&acts[bi][k], k == 0 ? PQ_ACT_Q8 : PQ_ACT_F32, x, batches[bi], s.cols);
        }

    matrix_turn m[PQ_FMT_COUNT + 1];
    /* OpenBLAS: FP32 weights, the matrix of the packed formats' size class */
    size_t one = (size_t)s.rows * s.cols;
    float *A = pq_huge_alloc(one * sizeof(float));
    for (size_t i = 0; i < one; i++) A[i] = (float)((int)(pq_rng_u32(3, (uint64_t)si, i) >> 16) - 32768) * 1e-6f;
    matrix_turn *blas = &m[PQ_FMT_COUNT];
    turn_init(B, blas, A, one * sizeof(float), 1);
    for (int bi = 0; bi < nbatches; bi++)
        for (int threads = 1; threads <= 2; threads++)
            for (int streamed = 0; streamed <= (batches[bi] == 1); streamed++)
                add_blas(blas, B, (const float *)B->slot, s, x, y, batches[bi], threads, streamed);

    pq_packed *W[PQ_FMT_COUNT], *copies[PQ_FMT_COUNT], *slot[PQ_FMT_COUNT];
    for (int f = 0; f < PQ_FMT_COUNT; f++) {
        W[f] = random_packed((pq_format)f, s, (uint64_t)(si * PQ_FMT_COUNT + f));
        packed_turn(B, &m[f], W[f], 1, &copies[f], &slot[f]);
        for (int bi = 0; bi < nbatches; bi++)
            for (int k = 0; k < 2; k++)
                for (int threads = 1; threads <= 2; threads++)
                    for (int streamed = 0; streamed <= (batches[bi] == 1); streamed++)
                        add_packed(&m[f], batches[bi] == 1 ? "packed_gemv" : "packed_gemm", W[f], copies[f], slot[f],
                                   &acts[bi][k], k == 0 ? "q8" : "f32", batches[bi], threads, streamed, isa, y);
    }
    run_rounds(B, m, PQ_FMT_COUNT + 1, s);
    pq_blas_set_threads(pq_threads());
    for (int f = 0; f < PQ_FMT_COUNT; f++) pq_packed_free(W[f]), free(copies[f]), free(slot[f]);
    for (int bi = 0; bi < nbatches; bi++)
        for (int k = 0; k < 2; k++) pq_act_batch_free(&acts[bi][k]);
    free(A), free(x), free(y);
}

/* The ref / AVX2 / AVX-512 versions side by side on one shape, resident: what the SIMD buys. */
static void bench_isas(bench *B, shape s) {
    float *x = pq_malloc(s.cols * sizeof(float)), *y = pq_aligned_alloc(s.rows * sizeof(float));
    for (int i = 0; i < s.cols; i++) x[i] = (float)pq_rng_normal(2, 1, (uint64_t)i);
    pq_act_batch acts;
    pq_act_batch_init(&acts);
    pq_act_batch_set(&acts, PQ_ACT_Q8, x, 1, s.cols);
    const pq_format fmts[] = {PQ_FMT_T2, PQ_FMT_B4};
    enum { NF = PQ_COUNT(fmts) };
    matrix_turn m[NF];
    pq_packed *W[NF], *copies[NF], *slot[NF];
    for (int fi = 0; fi < NF; fi++) {
        W[fi] = random_packed(fmts[fi], s, 999 + (uint64_t)fi);
        packed_turn(B, &m[fi], W[fi], 0, &copies[fi], &slot[fi]);
        for (int isa = 0; isa < PQ_ISA_COUNT; isa++)
            if (pq_isa_supported((pq_isa)isa))
                add_packed(&m[fi], "packed_gemv_isa", W[fi], copies[fi], slot[fi], &acts, "q8", 1, 1, 0, (pq_isa)isa, y);
    }
    run_rounds(B, m, NF, s);
    for (int fi = 0; fi < NF; fi++) pq_packed_free(W[fi]), free(copies[fi]), free(slot[fi]);
    pq_act_batch_free(&acts);
    free(x), free(y);
}

/* --- the verdicts the issue asks for --------------------------------------------- */

static const json_t *find_row(const json_t *rows, const char *kernel, const char *format, const char *act, shape s,
                              int batch, int threads, const char *placement) {
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        if (!strcmp(json_string_value(json_object_get(r, "kernel")), kernel) &&
            !strcmp(json_string_value(json_object_get(r, "format")), format) &&
            !strcmp(json_string_value(json_object_get(r, "act")), act) &&
            json_integer_value(json_object_get(r, "rows")) == s.rows &&
            json_integer_value(json_object_get(r, "cols")) == s.cols &&
            json_integer_value(json_object_get(r, "batch")) == batch &&
            json_integer_value(json_object_get(r, "threads")) == threads &&
            !strcmp(json_string_value(json_object_get(r, "placement")), placement))
            return r;
    }
    return NULL;
}

/* A single-token row of this run (every verdict below is about single-token GEMV). */
static const json_t *find(const bench *B, const char *kernel, const char *format, const char *act, shape s, int threads,
                          const char *placement) {
    return find_row(B->results, kernel, format, act, s, 1, threads, placement);
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

/* --- cold against hot ----------------------------------------------------------- */

static const char *str(const json_t *r, const char *key) {
    const char *v = json_string_value(json_object_get(r, key));
    return v ? v : "";
}

static void add_failure(json_t *failures, const json_t *cold, double cold_gbs, double hot_us, const char *why) {
    if (json_array_size(failures) >= 24) return; /* enough to see the pattern */
    json_array_append_new(failures,
                          json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:s}", "kernel", str(cold, "kernel"),
                                    "format", str(cold, "format"), "act", str(cold, "act"), "rows",
                                    json_integer_value(json_object_get(cold, "rows")), "cols",
                                    json_integer_value(json_object_get(cold, "cols")), "threads",
                                    json_integer_value(json_object_get(cold, "threads")), "streamed_us",
                                    field(cold, "median_us"), "resident_us", hot_us, "streamed_gbs", cold_gbs, "why", why));
}

json_t *pq_bench_cold_hot_check(const json_t *kernels, const double read_limit_gbs[3]) {
    json_t *failures = json_array();
    int checked = 0, failed = 0;
    double worst_over_read = 0.0, min_cold_over_hot = INFINITY;
    size_t i;
    json_t *cold;
    json_array_foreach(kernels, i, cold) {
        if (strcmp(str(cold, "placement"), "streamed") != 0) continue;
        int threads = (int)json_integer_value(json_object_get(cold, "threads"));
        if (threads < 1 || threads > 2) continue;
        shape s = {(int)json_integer_value(json_object_get(cold, "rows")),
                   (int)json_integer_value(json_object_get(cold, "cols"))};
        const json_t *hot = find_row(kernels, str(cold, "kernel"), str(cold, "format"), str(cold, "act"), s,
                                     (int)json_integer_value(json_object_get(cold, "batch")), threads, "resident");
        double cold_us = field(cold, "median_us"), hot_us = field(hot, "median_us");
        double bytes = (double)json_integer_value(json_object_get(cold, "weight_bytes"));
        double cold_gbs = bytes / (cold_us * 1e-6) / 1e9;
        checked++;
        int bad = 0;
        if (cold_gbs > PQ_COLD_MAX_OVER_READ * read_limit_gbs[threads]) {
            add_failure(failures, cold, cold_gbs, hot_us,
                        "streamed faster than the measured DRAM read bandwidth allows: the caches held part of the "
                        "set, or the bandwidth passes ran on a busy machine");
            bad = 1;
        }
        if (hot && cold_us < PQ_COLD_MIN_OVER_HOT * hot_us) {
            add_failure(failures, cold, cold_gbs, hot_us, "streamed faster than resident");
            bad = 1;
        }
        failed += bad;
        worst_over_read = fmax(worst_over_read, cold_gbs / read_limit_gbs[threads]);
        if (hot) min_cold_over_hot = fmin(min_cold_over_hot, cold_us / hot_us);
    }
    char rule[400];
    snprintf(rule, sizeof rule,
             "every streamed single-token row reads its weights at most %.2fx the best read-only bandwidth pass of "
             "its thread count (a streamed set the caches partly hold reads faster than DRAM), and takes at least "
             "%.2fx the time of the same configuration resident",
             PQ_COLD_MAX_OVER_READ, PQ_COLD_MIN_OVER_HOT);
    return json_pack("{s:b, s:i, s:i, s:s, s:f, s:f, s:f, s:f, s:o}", "passed", checked > 0 && failed == 0, "checked",
                     checked, "failed", failed, "rule", rule, "read_limit_gbs_1T", read_limit_gbs[1],
                     "read_limit_gbs_2T", read_limit_gbs[2], "max_streamed_over_read", worst_over_read,
                     "min_streamed_over_resident", isfinite(min_cold_over_hot) ? min_cold_over_hot : 0.0, "failures",
                     failures);
}

/* --- twins -------------------------------------------------------------------- */

static json_int_t int_of(const json_t *r, const char *key) { return json_integer_value(json_object_get(r, key)); }

json_t *pq_bench_twin_check(const json_t *kernels) {
    json_t *failures = json_array();
    int checked = 0, failed = 0;
    double worst = 1.0;
    size_t i;
    json_t *t2;
    json_array_foreach(kernels, i, t2) {
        if (strcmp(str(t2, "format"), "t2") != 0 || int_of(t2, "threads") != 1) continue;
        shape sh = {(int)int_of(t2, "rows"), (int)int_of(t2, "cols")};
        const json_t *b2 = find_row(kernels, str(t2, "kernel"), "b2", str(t2, "act"), sh, (int)int_of(t2, "batch"), 1,
                                    str(t2, "placement"));
        double a = field(t2, "median_us"), b = field(b2, "median_us");
        if (!b2 || !(a > 0.0) || !(b > 0.0)) continue;
        checked++;
        double ratio = fmax(a / b, b / a);
        worst = fmax(worst, ratio);
        if (ratio <= PQ_TWIN_MAX_RATIO) continue;
        failed++;
        if (json_array_size(failures) < 24) /* enough to see the pattern */
            json_array_append_new(failures, json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:f, s:f}", "kernel",
                                                      str(t2, "kernel"), "act", str(t2, "act"), "rows",
                                                      int_of(t2, "rows"), "cols", int_of(t2, "cols"), "batch",
                                                      int_of(t2, "batch"), "placement", str(t2, "placement"),
                                                      "t2_us", a, "b2_us", b));
    }
    char rule[300];
    snprintf(rule, sizeof rule,
             "t2 and b2 run one kernel on one storage: in every one-thread configuration their medians agree within "
             "%.2fx (a pair that does not timed a machine that changed speed)",
             PQ_TWIN_MAX_RATIO);
    return json_pack("{s:b, s:i, s:i, s:s, s:f, s:o}", "passed", checked > 0 && failed == 0, "checked", checked,
                     "failed", failed, "rule", rule, "max_ratio", worst, "failures", failures);
}

/* One decode configuration's row, NULL if absent. */
static const json_t *decode_row(const json_t *decode, const char *model, const char *format, const char *head,
                                int threads) {
    size_t i;
    json_t *r;
    json_array_foreach(decode, i, r) {
        if (!strcmp(str(r, "model"), model) && !strcmp(str(r, "format"), format) && !strcmp(str(r, "head"), head) &&
            json_integer_value(json_object_get(r, "threads")) == threads)
            return r;
    }
    return NULL;
}

/* 2-bit over 4-bit decode speed, round by round: each round measured both
 * formats within seconds of each other, so the ratio of one round cancels the
 * machine's drift that a ratio of two medians taken from different rounds keeps.
 * Fills ratios[] (round order) and returns their median; NAN if absent. */
static double paired_decode_ratio(const json_t *b2, const json_t *b4, double *ratios, int *n) {
    const json_t *r2 = json_object_get(b2, "rounds_ms_per_token"), *r4 = json_object_get(b4, "rounds_ms_per_token");
    *n = (int)PQ_MIN(json_array_size(r2), json_array_size(r4));
    if (*n == 0) return NAN;
    *n = PQ_MIN(*n, 64);
    for (int k = 0; k < *n; k++)
        ratios[k] = json_real_value(json_array_get(r4, (size_t)k)) / json_real_value(json_array_get(r2, (size_t)k));
    return pq_median(ratios, *n);
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
    /* Against peer kernels on 8192x2048, one thread: each peer number names its variant and source. */
    json_t *peers = json_array();
    for (size_t i = 0; i < PQ_COUNT(peer_reference); i++) {
        int blas = !strcmp(peer_reference[i].our_format, "openblas_sgemv");
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:b, s:f, s:f, s:s}", "peer", peer_reference[i].peer, "type",
                              peer_reference[i].type, "variant", peer_reference[i].variant, "source",
                              peer_reference[i].source, "measured_in_this_run", 0, "peer_us_low", peer_reference[i].us_lo,
                              "peer_us_high", peer_reference[i].us_hi, "ours", peer_reference[i].our_format);
        for (int streamed = 0; streamed <= 1; streamed++) {
            const char *pl = streamed ? "streamed" : "resident";
            const json_t *r = blas ? find(B, "openblas_sgemv", "f32", "f32", s, 1, pl)
                                   : find(B, "packed_gemv", peer_reference[i].our_format, "q8", s, 1, pl);
            char key[48];
            snprintf(key, sizeof key, "ours_us_%s", pl);
            json_object_set_new(e, key, json_real(field(r, "median_us")));
            snprintf(key, sizeof key, "peer_mid_over_ours_%s", pl);
            json_object_set_new(e, key, json_real(0.5 * (peer_reference[i].us_lo + peer_reference[i].us_hi) /
                                                  field(r, "median_us")));
        }
        json_array_append_new(peers, e);
    }
    json_object_set_new(sum, "vs_peers_8192x2048_1T", peers);
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
    /* Decode: 2-bit vs 4-bit tokens/s on the same model, the median of per-round ratios. */
    json_t *dec = json_object(), *dec_rounds = json_object();
    size_t i;
    json_t *r;
    json_array_foreach(decode, i, r) {
        const char *model = str(r, "model"), *head = str(r, "head");
        int threads = (int)json_integer_value(json_object_get(r, "threads"));
        if (strcmp(str(r, "format"), "b2") != 0) continue;
        const json_t *b4 = decode_row(decode, model, "b4", head, threads);
        if (!b4) continue;
        double ratios[64];
        int n;
        double med = paired_decode_ratio(r, b4, ratios, &n);
        char key[96];
        snprintf(key, sizeof key, "%s_head_%s_%dT", model, head, threads);
        json_object_set_new(dec, key, json_real(med));
        json_t *each = json_array();
        for (int k = 0; k < n; k++) json_array_append_new(each, json_real(ratios[k]));
        json_object_set_new(dec_rounds, key, each);
    }
    json_object_set_new(sum, "decode_speedup_2bit_over_4bit", dec);
    json_object_set_new(sum, "decode_speedup_2bit_over_4bit_each_round", dec_rounds);
    return sum;
}

/* The largest cache any source reports: every level sysfs lists for cpu0, and
 * glibc's sysconf for L2 to L4. Under a hypervisor they disagree (sysfs gave
 * this VM's L3 as 32 MiB on one host and is absent on another, where sysconf
 * reports the host socket's 508 MiB), and a streamed set sized from the
 * smaller one stayed partly in cache: t2 8192x2048 read 102 us from a 128 MiB
 * set, 113-169 us from 512 MiB. */
static long largest_cache_bytes(void) {
    long best = 0;
    for (int idx = 0; idx < 8; idx++) {
        char path[80];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        long v = 0;
        char unit = 'K';
        if (fscanf(f, "%ld%c", &v, &unit) >= 1) best = PQ_MAX(best, unit == 'M' ? v << 20 : unit == 'K' ? v << 10 : v);
        fclose(f);
    }
    const int levels[] = {_SC_LEVEL2_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL4_CACHE_SIZE};
    for (size_t i = 0; i < PQ_COUNT(levels); i++) best = PQ_MAX(best, sysconf(levels[i]));
    return best;
}

/* Bytes of the streamed set: at least 512 MiB and 4x the largest cache (--quick:
 * the 512 MiB floor), but at most an eighth of memory. */
static size_t stream_set_bytes(long largest_cache, int quick) {
    long want = quick ? STREAM_MIN_BYTES : PQ_MAX(STREAM_MIN_BYTES, 4 * largest_cache);
    long mem = sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
    if (mem > 0) want = PQ_MIN(want, PQ_MAX(STREAM_MIN_BYTES, mem / 8));
    return (size_t)want;
}

/* What the summary warns about, loudly: a busy machine, a failed cold/hot or twin check. */
static json_t *warnings(const pq_quiet_verdict *q, const json_t *cold_hot, const json_t *twins) {
    json_t *w = json_array();
    char line[512];
    if (!q->quiet) {
        snprintf(line, sizeof line, "MACHINE BUSY during the benchmark (%s): its times and ratios are not to be quoted",
                 q->why);
        json_array_append_new(w, json_string(line));
    }
    if (!json_is_true(json_object_get(cold_hot, "passed"))) {
        snprintf(line, sizeof line,
                 "COLD/HOT CHECK FAILED: %d of %d streamed rows did not behave as a DRAM-bound kernel should (see "
                 "checks.cold_hot.failures): streamed figures are not DRAM figures",
                 (int)json_integer_value(json_object_get(cold_hot, "failed")),
                 (int)json_integer_value(json_object_get(cold_hot, "checked")));
        json_array_append_new(w, json_string(line));
    }
    if (!json_is_true(json_object_get(twins, "passed"))) {
        snprintf(line, sizeof line,
                 "TWIN CHECK FAILED: t2 and b2, one kernel, differ by more than %.2fx in %d of %d one-thread "
                 "configurations (up to %.2fx, see checks.twins.failures): the machine changed speed during the run, "
                 "and its times are not to be quoted",
                 PQ_TWIN_MAX_RATIO, (int)json_integer_value(json_object_get(twins, "failed")),
                 (int)json_integer_value(json_object_get(twins, "checked")),
                 json_real_value(json_object_get(twins, "max_ratio")));
        json_array_append_new(w, json_string(line));
    }
    return w;
}

int pq_bench_kernels(const char *out_dir, int quick) {
    bench B = {0};
    B.quick = quick;
    /* Medians of many short calls over a fixed stretch of time, so that one
     * preemption on a shared machine moves no median (--quick once took 3 to 30
     * calls, and a single 8 ms stall showed up in a 26 us result), spread over
     * rounds so that a drift of the machine reaches every configuration. */
    B.rounds = quick ? 3 : MAX_ROUNDS;
    B.budget = quick ? 0.03 : 0.24;
    B.min_reps_per_round = 3;
    B.max_reps_per_round = quick ? 150 : 400;
    long cache = largest_cache_bytes();
    B.stream_bytes = stream_set_bytes(cache, quick);
    B.results = json_array();

    const shape *shapes = quick ? quick_shapes : all_shapes;
    int nshapes = quick ? (int)PQ_COUNT(quick_shapes) : (int)PQ_COUNT(all_shapes);
    const int batches[] = {1, 8};
    int nbatches = quick ? 1 : 2;
    int gemv_per_fmt = 2 * 2 * 2 + (nbatches > 1 ? 2 * 2 : 0);
    int isas = 0;
    for (int isa = 0; isa < PQ_ISA_COUNT; isa++) isas += pq_isa_supported((pq_isa)isa);
    int total = B.rounds * (nshapes * (PQ_FMT_COUNT * gemv_per_fmt + 4 + (nbatches > 1 ? 2 : 0)) + 2 * isas);
    /* The arena holds any matrix's copies (at most one stride past the set); the
     * slot the largest matrix, OpenBLAS's FP32 one. */
    size_t largest = 0;
    for (int i = 0; i < nshapes; i++) largest = PQ_MAX(largest, (size_t)shapes[i].rows * shapes[i].cols * sizeof(float));
    largest = pq_round64(largest);

    json_t *config = json_object();
    json_object_set_new(config, "quick", json_boolean(quick));
    json_object_set_new(config, "budget_seconds", json_real(B.budget));
    json_object_set_new(config, "rounds", json_integer(B.rounds));
    json_object_set_new(config, "stream_buffer_bytes", json_integer((json_int_t)B.stream_bytes));
    json_object_set_new(config, "largest_cache_bytes", json_integer(cache));
    json_object_set_new(config, "isa", json_string(pq_isa_name(pq_isa_best())));
    json_t *manifest = pq_manifest_new("bench_kernels", config);
    pq_machine_sample before, after;
    pq_machine_sample_take(&before);
    fprintf(stderr,
            "bench kernels: streamed set %zu MiB (largest cache reported: %ld MiB); measuring memory bandwidth; load "
            "average %.2f\n",
            B.stream_bytes >> 20, cache >> 20, before.load1);
    measure_bandwidth(&B, 0);
    printf("memory bandwidth: triad %.1f GB/s (1 thread), %.1f GB/s (2 threads); read %.1f / %.1f GB/s\n",
           B.triad_gbs[1], B.triad_gbs[2], B.read_gbs[1], B.read_gbs[2]);
    B.arena = pq_huge_alloc(B.stream_bytes + largest);
    B.slot = pq_huge_alloc(largest);
    pq_progress_begin(&B.progress, "bench kernels", total, "turn");
    for (int si = 0; si < nshapes; si++) {
        bench_shape(&B, shapes[si], si, batches, nbatches);
        if (si == (nshapes - 1) / 2) measure_bandwidth(&B, 1); /* halfway */
    }
    bench_isas(&B, (shape){2048, 2048});
    pq_progress_end(&B.progress);
    free(B.arena), free(B.slot);
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
    json_object_set_new(bw, "note", json_string("passes before the kernels, after the first half of the shapes, and "
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
    pq_machine_sample_take(&after);
    pq_quiet_verdict quiet = pq_quiet_judge(&before, &after, (int)sysconf(_SC_NPROCESSORS_ONLN));
    double read_limit[3] = {0};
    for (int t = 1; t <= 2; t++)
        for (int p = 0; p < NPASSES; p++) read_limit[t] = fmax(read_limit[t], B.read_pass[p][t]);
    json_t *cold_hot = pq_bench_cold_hot_check(B.results, read_limit);
    json_t *twins = pq_bench_twin_check(B.results);
    json_t *summary = summarize(&B, decode);
    json_object_set_new(summary, "machine_quiet", json_boolean(quiet.quiet));
    json_object_set(summary, "cold_hot_check_passed", json_object_get(cold_hot, "passed"));
    json_object_set(summary, "twin_check_passed", json_object_get(twins, "passed"));
    json_t *warn = warnings(&quiet, cold_hot, twins);
    json_object_set_new(summary, "warnings", warn);
    json_object_set_new(out, "summary", summary);
    json_object_set_new(out, "checks", json_pack("{s:o, s:o, s:o}", "cold_hot", cold_hot, "twins", twins, "machine",
                                                 pq_quiet_json(&before, &after, &quiet)));
    json_decref(config);
    char *path = pq_write_result(out, manifest, out_dir, "kernels.json");
    if (path) {
        char *dump = json_dumps(summary, JSON_INDENT(2) | JSON_SORT_KEYS);
        printf("summary: %s\nwrote %s\n", dump, path);
        free(dump);
        size_t i;
        json_t *w;
        json_array_foreach(warn, i, w) fprintf(stderr, "\nWARNING: %s\n", json_string_value(w));
    }
    int rc = path ? 0 : -1;
    free(path);
    json_decref(out);
    return rc;
}
