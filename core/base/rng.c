#include "base/rng.h"

#include <math.h>
#include <string.h>

#include "base/hash.h"

/* Constants from Salmon et al., "Parallel random numbers: as easy as 1, 2, 3" (SC'11). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void pq_philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, c0, &hi0, &lo0);
        mulhilo(PHILOX_M1, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0, k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* One block per index: counter = (index, stream), key = seed. */
static void block(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
    uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    pq_philox4x32(ctr, key, out);
}

uint64_t pq_rng_stream_id(const char *purpose, uint64_t sub) {
    return pq_fnv1a64(purpose, strlen(purpose)) ^ (sub * 0x9E3779B97F4A7C15ull);
}

uint32_t pq_rng_u32(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t out[4];
    block(seed, stream, index, out);
    return out[0];
}

uint64_t pq_rng_u64(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t out[4];
    block(seed, stream, index, out);
    return (uint64_t)out[0] | (uint64_t)out[1] << 32;
}

double pq_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (double)(pq_rng_u64(seed, stream, index) >> 11) * 0x1.0p-53;
}

double pq_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t out[4];
    block(seed, stream, index, out);
    uint64_t a = (uint64_t)out[0] | (uint64_t)out[1] << 32;
    uint64_t b = (uint64_t)out[2] | (uint64_t)out[3] << 32;
    double u1 = ((double)(a >> 11) + 1.0) * 0x1.0p-53; /* (0, 1]: log is finite */
    double u2 = (double)(b >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t pq_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n) {
    /* Rejection on the biased tail; later attempts use sub-counters of the same index. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (uint64_t attempt = 0;; attempt++) {
        uint64_t x = pq_rng_u64(seed, stream ^ (attempt << 56), index);
        if (x < limit) return x % n;
    }
}

void pq_rng_permutation(uint64_t seed, uint64_t stream, uint32_t *perm, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)pq_rng_below(seed, stream, i - 1, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}
