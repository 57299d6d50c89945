/* gemv.h — y = W·x for packed low-bit W (pack.h): one token (GEMV) or a few (GEMM).
 *
 * Activations come in two kinds, prepared once per token and shared by every
 * matrix that reads the same input (q, k and v; gate and up):
 *   PQ_ACT_F32  fp32, as given;
 *   PQ_ACT_Q8   dynamically quantized per token to int8: q = round(x/d),
 *               d = max|x|/127 (llama.cpp's Q8 activations). Integer dot
 *               products Σ u·q are exact, so every kernel gives bitwise the same y.
 * For a row with w = scale·u + offset:
 *   F32: y = scale·Σ u·x + offset·Σ x
 *   Q8:  y = scale·(d·Σ u·q) + offset·(d·Σ q)
 *
 * Every format has a plain C reference and AVX2 and AVX-512 versions (the
 * AVX-512 one uses VNNI, vpdpbusd: unsigned code × signed int8 is exactly its
 * operand type). The SIMD functions are compiled with target attributes, so the
 * binary runs anywhere and picks the best version from CPUID at run time.
 *
 * Guarantees, tested in tests/unit/test_kernels_gemv.c:
 *   Q8 — every ISA equals the reference bit for bit.
 *   F32 — the reference accumulates in double; SIMD kernels in float lanes agree
 *         within PQ_GEMV_F32_RTOL · (|scale|·Σ|u·x| + |offset·Σx|) per output.
 * Results never depend on the thread count: each output is computed by one
 * thread in a fixed order. */
#ifndef PQ_GEMV_H
#define PQ_GEMV_H

#include <stdint.h>

#include "kernels/pack.h"

typedef enum { PQ_ISA_REF = 0, PQ_ISA_AVX2, PQ_ISA_AVX512, PQ_ISA_COUNT } pq_isa;
typedef enum { PQ_ACT_F32 = 0, PQ_ACT_Q8 } pq_act_kind;

#define PQ_GEMV_F32_RTOL 1e-5
#define PQ_PAR_MIN_BYTES (256 * 1024)

/* "ref", "avx2", "avx512". */
const char *pq_isa_name(pq_isa isa);
int pq_isa_parse(const char *name, pq_isa *out);
/* True if this CPU runs that version (ref always; avx2 needs AVX2+FMA; avx512
 * needs AVX-512 F/BW/VL/VNNI). */
int pq_isa_supported(pq_isa isa);
/* The fastest supported version, capped by env PQ_KERNEL_ISA=ref|avx2|avx512. */
pq_isa pq_isa_best(void);

/* A batch of activations in kernel layout: rows of `stride` elements (cols
 * rounded up to every format's block), zero beyond cols. */
typedef struct {
    pq_act_kind kind;
    int batch, cols, stride;
    float *x;      /* F32: batch × stride */
    int8_t *q;     /* Q8:  batch × stride */
    float *d;      /* Q8: per token scale */
    float *dqsum;  /* Q8: per token d·Σq */
    int32_t *qsum; /* Q8: per token Σq */
    float *xsum;   /* F32: per token Σx (accumulated in double) */
    int cap_batch, cap_stride;
} pq_act_batch;

void pq_act_batch_init(pq_act_batch *a);
void pq_act_batch_free(pq_act_batch *a);
/* Loads batch tokens of cols values each (x is batch × cols, row-major). */
void pq_act_batch_set(pq_act_batch *a, pq_act_kind kind, const float *x, int batch, int cols);

/* y[t·rows + r] = row r of W · token t, for every token of a (a->cols must equal
 * W->cols). threads > 0: that many threads (fewer for matrices under 128 rows);
 * threads <= 0: pq_threads(), but one thread for matrices under
 * PQ_PAR_MIN_BYTES, where waking a sleeping thread costs more than it saves.
 * -1 + pq_error() on a shape mismatch or an ISA this CPU lacks. */
int pq_matmul(const pq_packed *W, const pq_act_batch *a, float *y, pq_isa isa, int threads);

/* The same, restricted to rows [r0, r1) on the calling thread (what each
 * thread of pq_matmul runs; the benchmark and tests call it too). */
void pq_matmul_rows(const pq_packed *W, const pq_act_batch *a, float *y, pq_isa isa, int r0, int r1);

#endif
