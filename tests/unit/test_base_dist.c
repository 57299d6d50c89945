/* The fixed-order sum of base/dist.h: its pure parts (how work is split over ranks, the
 * rank-order addition, the chunked all-reduce it is built from) and the one-process case. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"

Test(base_dist, split_is_contiguous_balanced_and_in_rank_order) {
    for (int64_t n = 0; n < 40; n++)
        for (int k = 1; k <= 9; k++) {
            int64_t next = 0;
            for (int r = 0; r < k; r++) {
                int64_t lo, hi;
                pq_dist_split(n, k, r, &lo, &hi);
                cr_assert_eq(lo, next, "n=%lld k=%d r=%d: starts at %lld", (long long)n, k, r, (long long)lo);
                cr_assert(hi - lo == n / k || hi - lo == n / k + 1);
                next = hi;
            }
            cr_assert_eq(next, n);
        }
    int64_t lo, hi;
    pq_dist_split(8, 1, 0, &lo, &hi); /* one process: everything, as without MPI */
    cr_assert(lo == 0 && hi == 8);
    pq_dist_split(8, 3, 2, &lo, &hi); /* 3, 3, 2 */
    cr_assert(lo == 6 && hi == 8);
}

Test(base_dist, sum_is_the_left_fold_in_rank_order) {
    /* float addition is not associative: (1 + 1e8) - 1e8 is 0, 1 + (1e8 - 1e8) is 1 */
    const float parts[3] = {1.0f, 1e8f, -1e8f};
    float out;
    pq_dist_sum_ordered(parts, 3, 1, &out);
    cr_assert_eq(out, 0.0f);
    const float other[3] = {1e8f, -1e8f, 1.0f}; /* the same numbers from other ranks */
    pq_dist_sum_ordered(other, 3, 1, &out);
    cr_assert_eq(out, 1.0f); /* the order is the ranks', not a sorted or pairwise one */
}

/* The all-reduce as dist.c runs it, one "rank" after another in this process: chunk c of
 * every rank's buffer goes to rank c, which adds them in rank order; the chunks are then
 * gathered. The result must be the plain rank-order sum, whatever the chunking. */
static void chunked_allreduce(float *const *bufs, int k, int64_t n, float *out) {
    for (int c = 0; c < k; c++) {
        int64_t lo, hi;
        pq_dist_split(n, k, c, &lo, &hi);
        float *parts = malloc(sizeof(float) * (size_t)((hi - lo) * k + 1));
        for (int r = 0; r < k; r++) memcpy(parts + (hi - lo) * r, bufs[r] + lo, sizeof(float) * (size_t)(hi - lo));
        pq_dist_sum_ordered(parts, k, hi - lo, out + lo);
        free(parts);
    }
}

Test(base_dist, chunked_allreduce_equals_the_rank_order_sum_bitwise) {
    unsigned seed = 7;
    for (int k = 1; k <= 5; k++)
        for (int64_t n = 1; n <= 37; n += 9) {
            float *bufs[5], *all = malloc(sizeof(float) * (size_t)(n * k));
            for (int r = 0; r < k; r++) {
                bufs[r] = all + r * n;
                for (int64_t i = 0; i < n; i++) {
                    seed = seed * 1103515245u + 12345u;
                    bufs[r][i] = (float)((int)(seed >> 8) % 2000001 - 1000000) * 1e-3f * (r % 2 ? 1e4f : 1.0f);
                }
            }
            float *want = malloc(sizeof(float) * (size_t)n), *got = malloc(sizeof(float) * (size_t)n);
            for (int64_t i = 0; i < n; i++) {
                float s = bufs[0][i];
                for (int r = 1; r < k; r++) s += bufs[r][i];
                want[i] = s;
            }
            chunked_allreduce(bufs, k, n, got);
            cr_assert(!memcmp(want, got, sizeof(float) * (size_t)n), "k=%d n=%lld", k, (long long)n);
            pq_dist_sum_ordered(all, k, n, got);
            cr_assert(!memcmp(want, got, sizeof(float) * (size_t)n), "k=%d n=%lld", k, (long long)n);
            free(all), free(want), free(got);
        }
}

Test(base_dist, one_process_collectives_change_nothing) {
    cr_assert_eq(pq_dist_size(), 1);
    cr_assert_eq(pq_dist_rank(), 0);
    float g[3] = {1.5f, -2.0f, 3.25f};
    pq_dist_sum_f32(g, 3);
    cr_assert(g[0] == 1.5f && g[1] == -2.0f && g[2] == 3.25f);
    double d[3] = {0.1, 0.2, 0.3};
    pq_dist_gather_f64(d, 3);
    cr_assert(d[0] == 0.1 && d[1] == 0.2 && d[2] == 0.3);
    cr_assert_eq(pq_dist_sum_f64(0.1), 0.1);
    cr_assert_eq(pq_dist_agree(42, "anything"), 0);
}

Test(base_dist, launcher_size_from_the_environment) {
    unsetenv("OMPI_COMM_WORLD_SIZE"), unsetenv("PMI_SIZE"), unsetenv("PMIX_RANK"), unsetenv("SLURM_STEP_NUM_TASKS");
    cr_assert_eq(pq_dist_launched_size(), 1);
    setenv("PMIX_RANK", "0", 1); /* PMIx without a size: one process as far as pq can tell */
    cr_assert_eq(pq_dist_launched_size(), 1);
    setenv("SLURM_STEP_NUM_TASKS", "4", 1);
    cr_assert_eq(pq_dist_launched_size(), 4);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    cr_assert_eq(pq_dist_launched_size(), 2);
    setenv("OMPI_COMM_WORLD_SIZE", "1", 1);
    cr_assert_eq(pq_dist_launched_size(), 1);
}
