/* kern.h — internal to core/kernels: what the per-ISA kernel files share.
 *
 * Each ISA file defines one entry point that computes rows [r0, r1) of y for
 * every token of the activations. The final affine step is one inline function
 * used by all of them, so that equal integer sums give bitwise-equal outputs. */
#ifndef PQ_KERN_H
#define PQ_KERN_H

#include "base/util.h"
#include "kernels/gemv.h"

/* Tokens per register tile in the SIMD kernels: the weights of a block are
 * unpacked once and used for up to this many tokens. */
#define PQ_TOKEN_TILE 4

static inline float pq_q8_finish(float scale, float offset, float d, int32_t isum, float dqsum) {
    return scale * (d * (float)isum) + offset * dqsum;
}
static inline float pq_f32_finish(float scale, float offset, float dot, float xsum) {
    return scale * dot + offset * xsum;
}

void pq_kern_ref(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1);
void pq_kern_avx2(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1);
void pq_kern_avx512(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1);
/* The same with AVX512-VBMI (T1_6 trits by table lookup); only where CPUID has it. */
void pq_kern_avx512_vbmi(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1);
/* Whether this CPU has AVX512-VBMI on top of PQ_ISA_AVX512. */
int pq_cpu_has_avx512_vbmi(void);

#endif
