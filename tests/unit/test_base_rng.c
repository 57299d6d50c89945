#include <criterion/criterion.h>
#include <math.h>

#include "base/rng.h"

/* Known-answer vectors from Random123 (kat_vectors, philox4x32_10). */
Test(rng, philox_known_answers) {
    uint32_t out[4];
    uint32_t zero_ctr[4] = {0, 0, 0, 0}, zero_key[2] = {0, 0};
    pq_philox4x32(zero_ctr, zero_key, out);
    cr_expect_eq(out[0], 0x6627e8d5u);
    cr_expect_eq(out[1], 0xe169c58du);
    cr_expect_eq(out[2], 0xbc57ac4cu);
    cr_expect_eq(out[3], 0x9b00dbd8u);

    uint32_t ones_ctr[4] = {~0u, ~0u, ~0u, ~0u}, ones_key[2] = {~0u, ~0u};
    pq_philox4x32(ones_ctr, ones_key, out);
    cr_expect_eq(out[0], 0x408f276du);
    cr_expect_eq(out[1], 0x41c83b0eu);
    cr_expect_eq(out[2], 0xa20bc7c6u);
    cr_expect_eq(out[3], 0x6d5451fdu);

    uint32_t pi_ctr[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    uint32_t pi_key[2] = {0xa4093822u, 0x299f31d0u};
    pq_philox4x32(pi_ctr, pi_key, out);
    cr_expect_eq(out[0], 0xd16cfe09u);
    cr_expect_eq(out[1], 0x94fdccebu);
    cr_expect_eq(out[2], 0x5001e420u);
    cr_expect_eq(out[3], 0x24126ea1u);
}

Test(rng, value_is_pure_function_of_seed_stream_index) {
    uint64_t stream = pq_rng_stream_id("data", 3);
    uint64_t later = pq_rng_u64(42, stream, 1000);
    /* Drawing other values in between (or none) changes nothing. */
    pq_rng r = pq_rng_make(42, stream);
    for (int i = 0; i < 1000; i++) pq_rng_next_u64(&r);
    cr_expect_eq(pq_rng_next_u64(&r), later);
    cr_expect_neq(pq_rng_u64(43, stream, 1000), later);
    cr_expect_neq(pq_rng_u64(42, stream + 1, 1000), later);
    cr_expect_neq(pq_rng_stream_id("data", 3), pq_rng_stream_id("init", 3));
    cr_expect_neq(pq_rng_stream_id("data", 3), pq_rng_stream_id("data", 4));
}

Test(rng, uniform_and_normal_moments) {
    enum { N = 200000 };
    double sum = 0, sum2 = 0, nsum = 0, nsum2 = 0, lo = 1, hi = 0;
    for (uint64_t i = 0; i < N; i++) {
        double u = pq_rng_uniform(7, 1, i), z = pq_rng_normal(7, 2, i);
        cr_assert(u >= 0 && u < 1);
        cr_assert(isfinite(z));
        sum += u, sum2 += u * u, nsum += z, nsum2 += z * z;
        lo = fmin(lo, u), hi = fmax(hi, u);
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    cr_expect(fabs(mean - 0.5) < 0.005, "uniform mean %f", mean);
    cr_expect(fabs(var - 1.0 / 12) < 0.002, "uniform variance %f", var);
    cr_expect(lo < 1e-4 && hi > 1 - 1e-4);
    double nmean = nsum / N, nvar = nsum2 / N - nmean * nmean;
    cr_expect(fabs(nmean) < 0.01, "normal mean %f", nmean);
    cr_expect(fabs(nvar - 1) < 0.02, "normal variance %f", nvar);
}

Test(rng, below_is_in_range_and_unbiased) {
    int counts[7] = {0};
    for (uint64_t i = 0; i < 70000; i++) {
        uint64_t v = pq_rng_below(1, 9, i, 7);
        cr_assert_lt(v, 7);
        counts[v]++;
    }
    for (int k = 0; k < 7; k++) cr_expect(counts[k] > 9500 && counts[k] < 10500, "bucket %d: %d", k, counts[k]);
    cr_expect_eq(pq_rng_below(1, 9, 5, 1), 0);
}

Test(rng, permutation_is_a_deterministic_permutation) {
    enum { N = 1000 };
    uint32_t a[N], b[N], c[N];
    pq_rng_permutation(5, 1, a, N);
    pq_rng_permutation(5, 1, b, N);
    pq_rng_permutation(6, 1, c, N);
    int seen[N] = {0}, moved = 0, differs = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_lt(a[i], N);
        seen[a[i]]++;
        cr_expect_eq(a[i], b[i]);
        moved += a[i] != (uint32_t)i;
        differs += a[i] != c[i];
    }
    for (int i = 0; i < N; i++) cr_expect_eq(seen[i], 1);
    cr_expect_gt(moved, N / 2);
    cr_expect_gt(differs, N / 2);
}
