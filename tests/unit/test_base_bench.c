/* The benchmark helpers (base/bench.h). */
#include <criterion/criterion.h>

#include "base/bench.h"

Test(base_bench, median_of_odd_and_even_counts_leaves_input) {
    double v[] = {5, 1, 4, 2, 3};
    cr_assert_eq(pq_median(v, 5), 3.0);
    cr_assert_eq(v[0], 5.0); /* not sorted in place */
    cr_assert_eq(v[4], 3.0);
    double w[] = {10, -2, 7, 1};
    cr_assert_eq(pq_median(w, 4), 4.0); /* (1 + 7) / 2 */
    cr_assert_eq(pq_median(w, 1), 10.0);
}

Test(base_bench, load_average_and_cpu_clock) {
    double l[3];
    cr_assert_eq(pq_load_average(l), 0); /* Linux: /proc/loadavg */
    for (int i = 0; i < 3; i++) cr_assert_geq(l[i], 0.0);
    double c0 = pq_cpu_now();
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++) x += 1e-9 * i;
    cr_assert_gt(pq_cpu_now(), c0, "a busy loop takes CPU time");
}
