/* rng.h — a counter-based random number generator (Philox4x32-10).
 *
 * Every value is a pure function of (seed, stream, index): any training step,
 * data batch or task item can be reproduced without replaying what came before,
 * which is what makes crash/resume bitwise exact. Streams separate purposes
 * (weight init, data order, task construction, ...): derive them by name with
 * pq_rng_stream_id() so that adding a new purpose never shifts an old one. */
#ifndef PQ_RNG_H
#define PQ_RNG_H

#include <stdint.h>

/* The raw block function: 4 words out for a 128-bit counter and 64-bit key. */
void pq_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

/* A stream id for a named purpose and a sub-index (e.g. "init", layer number). */
uint64_t pq_rng_stream_id(const char *purpose, uint64_t sub);

uint32_t pq_rng_u32(uint64_t seed, uint64_t stream, uint64_t index);
uint64_t pq_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform in [0, 1) with 53 random bits. */
double pq_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal (Box-Muller on the index's own block). */
double pq_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform integer in [0, n), unbiased (n > 0). */
uint64_t pq_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n);

/* A cursor over one stream, for code that draws values one after another. */
typedef struct {
    uint64_t seed, stream, index;
} pq_rng;

static inline pq_rng pq_rng_make(uint64_t seed, uint64_t stream) {
    pq_rng r = {seed, stream, 0};
    return r;
}
static inline uint32_t pq_rng_next_u32(pq_rng *r) { return pq_rng_u32(r->seed, r->stream, r->index++); }
static inline uint64_t pq_rng_next_u64(pq_rng *r) { return pq_rng_u64(r->seed, r->stream, r->index++); }
static inline double pq_rng_next_uniform(pq_rng *r) { return pq_rng_uniform(r->seed, r->stream, r->index++); }
static inline double pq_rng_next_normal(pq_rng *r) { return pq_rng_normal(r->seed, r->stream, r->index++); }
static inline uint64_t pq_rng_next_below(pq_rng *r, uint64_t n) { return pq_rng_below(r->seed, r->stream, r->index++, n); }

/* Fisher-Yates shuffle of n indices (perm[i] = i first), deterministic in (seed, stream). */
void pq_rng_permutation(uint64_t seed, uint64_t stream, uint32_t *perm, uint32_t n);

#endif
