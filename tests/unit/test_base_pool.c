/* The GEMV worker pool: every part runs exactly once per call, on any number
 * of parts, whether the workers are still spinning or have gone to sleep. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <time.h>

#include "base/pool.h"

typedef struct {
    atomic_int runs[PQ_POOL_MAX_PARTS];
    atomic_int calls_seen_nparts;
} tally;

static void count_part(void *ctx, int part, int nparts) {
    tally *t = ctx;
    atomic_fetch_add(&t->runs[part], 1);
    atomic_store(&t->calls_seen_nparts, nparts);
}

static void run_and_check(int nparts, int expect_parts) {
    tally t = {0};
    pq_pool_run(count_part, &t, nparts);
    for (int i = 0; i < PQ_POOL_MAX_PARTS; i++)
        cr_assert_eq(atomic_load(&t.runs[i]), i < expect_parts ? 1 : 0, "nparts %d: part %d ran %d times", nparts, i,
                     atomic_load(&t.runs[i]));
    cr_assert_eq(atomic_load(&t.calls_seen_nparts), expect_parts);
}

Test(base_pool, every_part_once_back_to_back, .timeout = 60) {
    for (int rep = 0; rep < 2000; rep++) run_and_check(1 + rep % 4, 1 + rep % 4);
}

Test(base_pool, every_part_once_after_the_workers_sleep, .timeout = 60) {
    struct timespec nap = {0, 2 * 1000 * 1000}; /* 2 ms: ten times the spin */
    for (int rep = 0; rep < 20; rep++) {
        run_and_check(3, 3);
        nanosleep(&nap, NULL);
    }
}

Test(base_pool, parts_are_capped_and_one_part_is_a_plain_call, .timeout = 60) {
    run_and_check(0, 1);
    run_and_check(1, 1);
    run_and_check(PQ_POOL_MAX_PARTS + 5, PQ_POOL_MAX_PARTS);
}

/* Results written by workers are visible to the caller when the call returns. */
static void fill_part(void *ctx, int part, int nparts) {
    int *v = ctx;
    for (int i = part; i < 4096; i += nparts) v[i] = i * 3 + 1;
}

Test(base_pool, workers_writes_are_visible_on_return, .timeout = 60) {
    static int v[4096];
    for (int rep = 0; rep < 200; rep++) {
        for (int i = 0; i < 4096; i++) v[i] = -1;
        pq_pool_run(fill_part, v, 2 + rep % 3);
        for (int i = 0; i < 4096; i++) cr_assert_eq(v[i], i * 3 + 1, "rep %d: v[%d] = %d", rep, i, v[i]);
    }
}
