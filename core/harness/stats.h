/* stats.h — 95% intervals for the comparisons the suites' findings rest on.
 *
 * A configuration is measured at S seeds; at each seed it has a value per unit
 * (a validation document, a task item, a layer). Its statistic at one seed is a
 * ratio of sums over units, averaged over strata with equal weight:
 *     stat = mean_k ( Σ_{i in k} num_i / Σ_{i in k} den_i )
 * (val_loss: num = summed NLL, den = tokens of a document, one stratum; acc_avg:
 * num = correct, den = 1, one stratum per task).
 *
 * A contrast a − b (Method of /work/notes/stats_schema.md):
 *   d_s      = stat(a_s) − stat(b_s) on all units,   effect = mean_s d_s
 *   se_units = standard deviation over B bootstrap resamples of mean_s d_s, where a
 *              resample draws each stratum's units with replacement; paired: the same
 *              resample for every seed and both configurations; unpaired: a and b
 *              resampled independently (units that do not correspond, e.g. layers)
 *   se_seeds = sd_s(d_s) / sqrt(S)              (0 when S = 1)
 *   ci95     = effect ± sqrt((1.96 se_units)² + (t_{.975,S−1} se_seeds)²)
 *   se       = sqrt(se_units² + se_seeds²),     mde = 2.8 se
 * Without b the same numbers describe one configuration's own statistic. The
 * resamples come from the counter-based RNG keyed by a fixed seed, so the result
 * is a pure function of the inputs. */
#ifndef PQ_HARNESS_STATS_H
#define PQ_HARNESS_STATS_H

#include <stdint.h>

#define PQ_STATS_BOOTSTRAP 2000
#define PQ_STATS_SEED 15u

/* The units of one configuration: n of them, each in a stratum 0..n_strata-1
 * (stratum NULL: all in stratum 0, n_strata 1). */
typedef struct {
    int n;
    int n_strata;
    const int *stratum;
} pq_units;

/* One configuration at one seed: num[i], den[i] per unit (den NULL: 1 each). */
typedef struct {
    const double *num, *den;
} pq_unit_values;

typedef struct {
    double a_value, b_value; /* mean over seeds of each side's statistic (b: 0 without b) */
    double effect, lo, hi;
    double se, se_units, se_seeds, mde;
    int n_seeds;
} pq_interval;

/* The statistic of one configuration at one seed, every unit counted once. */
double pq_stats_value(const pq_units *u, const pq_unit_values *v);

/* a[0..S-1] on units ua; b[0..S-1] on units ub, or b NULL for a's own interval.
 * paired requires ua and ub to be the same units. B resamples (>= 2). Fills out;
 * -1 + pq_fail on inconsistent input (S < 1, a stratum without units, paired
 * units that differ). */
int pq_stats_interval(const pq_units *ua, const pq_unit_values *a, const pq_units *ub, const pq_unit_values *b, int S,
                      int paired, int B, pq_interval *out);

/* Seed spread only (a metric with no units): per-seed values a[s] (and b[s], or
 * b NULL). With S = 1 there is no noise estimate: lo = hi = effect, se = NAN. */
void pq_stats_seeds_only(const double *a, const double *b, int S, pq_interval *out);

/* Two-sided Student t quantile: t with P(T <= t) = p for df degrees of freedom
 * (df >= 1, 0 < p < 1). */
double pq_stats_t_quantile(double p, double df);

#endif
