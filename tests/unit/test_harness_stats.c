/* The statistics behind the suites' intervals (harness/stats.h): known answers on
 * tiny inputs, Student t quantiles, and a simulation that the 95% interval covers
 * the true effect about 95% of the time. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "base/rng.h"
#include "harness/stats.h"

Test(stats, t_quantiles_match_tables) {
    static const struct { double df, p, t; } table[] = {
        {1, 0.975, 12.706205}, {2, 0.975, 4.302653}, {3, 0.975, 3.182446}, {4, 0.975, 2.776445},
        {5, 0.975, 2.570582},  {10, 0.975, 2.228139}, {30, 0.975, 2.042272}, {1000, 0.975, 1.962339},
        {2, 0.995, 9.924843},  {3, 0.95, 2.353363},   {1, 0.75, 1.0},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        double t = pq_stats_t_quantile(table[i].p, table[i].df);
        cr_expect(fabs(t - table[i].t) < 1e-5, "df %g p %g: %.7f, expected %.6f", table[i].df, table[i].p, t, table[i].t);
    }
    cr_expect(fabs(pq_stats_t_quantile(0.025, 3) + 3.182446) < 1e-5);
    cr_expect_eq(pq_stats_t_quantile(0.5, 7), 0);
}

Test(stats, ratio_of_sums_per_stratum) {
    double num[] = {1, 2, 3}, den[] = {1, 1, 2};
    pq_units one = {3, 1, NULL};
    pq_unit_values v = {num, den};
    cr_expect(fabs(pq_stats_value(&one, &v) - 6.0 / 4.0) < 1e-12, "token-weighted: sum nll / sum tokens");
    int stratum[] = {0, 1, 1};
    pq_units two = {3, 2, stratum};
    cr_expect(fabs(pq_stats_value(&two, &v) - (1.0 + 5.0 / 3.0) / 2) < 1e-12, "strata weighted equally");
    pq_unit_values means = {num, NULL};
    cr_expect(fabs(pq_stats_value(&one, &means) - 2.0) < 1e-12, "den NULL: a plain mean");
}

Test(stats, a_constant_shift_has_no_noise) {
    double base[3][4] = {{1, 2, 3, 4}, {2, 2, 5, 1}, {0, 1, 1, 9}}, shifted[3][4];
    pq_unit_values a[3], b[3];
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 4; i++) shifted[s][i] = base[s][i] + 0.5;
        a[s] = (pq_unit_values){shifted[s], NULL}, b[s] = (pq_unit_values){base[s], NULL};
    }
    pq_units u = {4, 1, NULL};
    pq_interval r;
    cr_assert_eq(pq_stats_interval(&u, a, &u, b, 3, 1, 200, &r), 0);
    cr_expect(fabs(r.effect - 0.5) < 1e-12 && r.se_units < 1e-12 && r.se_seeds < 1e-12);
    cr_expect(fabs(r.lo - 0.5) < 1e-12 && fabs(r.hi - 0.5) < 1e-12);
    cr_expect(fabs(r.a_value - r.b_value - 0.5) < 1e-12);
    cr_expect_eq(r.n_seeds, 3);
}

Test(stats, seed_spread_uses_t) {
    double a[] = {1, 2, 3}, b[] = {0, 0, 0};
    pq_interval r;
    pq_stats_seeds_only(a, b, 3, &r);
    double se = 1 / sqrt(3.0), half = 4.302653 * se;
    cr_expect(fabs(r.effect - 2) < 1e-12 && fabs(r.se_seeds - se) < 1e-12 && r.se_units == 0);
    cr_expect(fabs(r.lo - (2 - half)) < 1e-5 && fabs(r.hi - (2 + half)) < 1e-5, "[%g, %g]", r.lo, r.hi);
    cr_expect(fabs(r.mde - 2.8 * se) < 1e-12);
    pq_stats_seeds_only(a, NULL, 1, &r);
    cr_expect(isnan(r.se), "one seed and no units: no noise estimate");
}

Test(stats, bootstrap_se_of_a_mean_is_sd_over_sqrt_n) {
    enum { N = 200 };
    double x[N];
    for (int i = 0; i < N; i++) x[i] = pq_rng_normal(7, 1, (uint64_t)i) * 2.0;
    pq_units u = {N, 1, NULL};
    pq_unit_values v = {x, NULL};
    pq_interval r;
    cr_assert_eq(pq_stats_interval(&u, &v, NULL, NULL, 1, 1, 2000, &r), 0);
    double m = 0, ss = 0;
    for (int i = 0; i < N; i++) m += x[i] / N;
    for (int i = 0; i < N; i++) ss += (x[i] - m) * (x[i] - m);
    double expect = sqrt(ss / N) / sqrt((double)N); /* the bootstrap's plug-in standard error */
    cr_expect(fabs(r.se_units / expect - 1) < 0.08, "bootstrap se %g, expected about %g", r.se_units, expect);
    cr_expect(fabs(r.hi - r.lo - 2 * 1.96 * r.se_units) < 1e-12, "one seed: effect ± 1.96 se_units");
    pq_interval again;
    pq_stats_interval(&u, &v, NULL, NULL, 1, 1, 2000, &again);
    cr_expect_eq(again.se_units, r.se_units, "the resamples are seeded");
}

Test(stats, mismatched_paired_units_are_an_error) {
    double x[3] = {0}, y[2] = {0};
    pq_units ua = {3, 1, NULL}, ub = {2, 1, NULL};
    pq_unit_values a = {x, NULL}, b = {y, NULL};
    pq_interval r;
    cr_expect_eq(pq_stats_interval(&ua, &a, &ub, &b, 1, 1, 10, &r), -1);
    cr_expect_eq(pq_stats_interval(&ua, &a, &ub, &b, 1, 0, 10, &r), 0, "unpaired units may differ");
}

/* 400 simulated experiments: units drawn from a population with heterogeneous
 * effects (unit sampling noise) and a per-seed shift of each configuration (seed
 * noise). The true effect is the population's; the interval must cover it about
 * 95% of the time, with 3 seeds and with 1 seed (no seed noise). */
static double coverage(int S, double seed_sd, int paired) {
    enum { EXPERIMENTS = 400, N = 40 };
    const double delta = 0.3;
    int covered = 0;
    double va[3][N], vb[3][N];
    uint64_t idx = 0;
    for (int e = 0; e < EXPERIMENTS; e++) {
        pq_unit_values a[3], b[3];
        double mu[N], eff[N];
        for (int i = 0; i < N; i++) {
            mu[i] = 3 + pq_rng_normal(99, (uint64_t)S, idx++);
            eff[i] = delta + 0.5 * pq_rng_normal(99, (uint64_t)S, idx++);
        }
        for (int s = 0; s < S; s++) {
            double ga = seed_sd * pq_rng_normal(99, (uint64_t)S, idx++), gb = seed_sd * pq_rng_normal(99, (uint64_t)S, idx++);
            for (int i = 0; i < N; i++) {
                /* unpaired: the two sides see unrelated units */
                double mb = paired ? mu[i] : 3 + pq_rng_normal(99, (uint64_t)S, idx++);
                va[s][i] = mu[i] + eff[i] + ga, vb[s][i] = mb + gb;
            }
            a[s] = (pq_unit_values){va[s], NULL}, b[s] = (pq_unit_values){vb[s], NULL};
        }
        pq_units u = {N, 1, NULL};
        pq_interval r;
        cr_assert_eq(pq_stats_interval(&u, a, &u, b, S, paired, 500, &r), 0);
        covered += r.lo <= delta && delta <= r.hi;
    }
    return (double)covered / EXPERIMENTS;
}

Test(stats, interval_covers_the_true_effect_95_percent) {
    double c3 = coverage(3, 0.15, 1), c1 = coverage(1, 0, 1), cu = coverage(3, 0.15, 0);
    cr_log_info("coverage: 3 seeds paired %.3f, 1 seed %.3f, 3 seeds unpaired %.3f", c3, c1, cu);
    cr_expect(c3 >= 0.90 && c3 <= 0.99, "3 seeds, paired: coverage %.3f", c3);
    cr_expect(c1 >= 0.90 && c1 <= 0.99, "1 seed: coverage %.3f", c1);
    cr_expect(cu >= 0.90 && cu <= 0.99, "3 seeds, unpaired: coverage %.3f", cu);
}
