#include "harness/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"

static int stratum_of(const pq_units *u, int i) { return u->stratum ? u->stratum[i] : 0; }
static int strata(const pq_units *u) { return u->stratum ? u->n_strata : 1; }

/* Σ count_i num_i / Σ count_i den_i per stratum, averaged over strata (count NULL: 1 each). */
static double weighted_value(const pq_units *u, const pq_unit_values *v, const int *count, double *num, double *den) {
    int K = strata(u);
    memset(num, 0, sizeof *num * (size_t)K);
    memset(den, 0, sizeof *den * (size_t)K);
    for (int i = 0; i < u->n; i++) {
        double c = count ? count[i] : 1;
        if (c == 0) continue;
        int k = stratum_of(u, i);
        num[k] += c * v->num[i];
        den[k] += c * (v->den ? v->den[i] : 1.0);
    }
    double sum = 0;
    for (int k = 0; k < K; k++) sum += den[k] != 0 ? num[k] / den[k] : 0;
    return sum / K;
}

double pq_stats_value(const pq_units *u, const pq_unit_values *v) {
    int K = strata(u);
    double *num = pq_malloc(sizeof *num * (size_t)K), *den = pq_malloc(sizeof *den * (size_t)K);
    double r = weighted_value(u, v, NULL, num, den);
    free(num), free(den);
    return r;
}

/* The units of each stratum, listed: members[first[k] .. first[k+1]). */
typedef struct {
    int *first, *members;
} strata_index;

static int index_strata(const pq_units *u, strata_index *ix) {
    int K = strata(u);
    ix->first = pq_calloc((size_t)K + 1, sizeof *ix->first);
    ix->members = pq_malloc(sizeof *ix->members * (size_t)(u->n ? u->n : 1));
    for (int i = 0; i < u->n; i++) {
        int k = stratum_of(u, i);
        if (k < 0 || k >= K) return pq_fail("stats: unit %d is in stratum %d of %d", i, k, K);
        ix->first[k + 1]++;
    }
    for (int k = 0; k < K; k++) {
        if (ix->first[k + 1] == 0) return pq_fail("stats: stratum %d has no units", k);
        ix->first[k + 1] += ix->first[k];
    }
    int *fill = pq_malloc(sizeof *fill * (size_t)K);
    memcpy(fill, ix->first, sizeof *fill * (size_t)K);
    for (int i = 0; i < u->n; i++) ix->members[fill[stratum_of(u, i)]++] = i;
    free(fill);
    return 0;
}

/* Resample r: each stratum draws as many units as it has, with replacement. */
static void draw_counts(const pq_units *u, const strata_index *ix, uint64_t stream, int r, int *count) {
    memset(count, 0, sizeof *count * (size_t)u->n);
    uint64_t index = (uint64_t)r * (uint64_t)u->n;
    for (int k = 0; k < strata(u); k++) {
        int n_k = ix->first[k + 1] - ix->first[k];
        for (int j = 0; j < n_k; j++)
            count[ix->members[ix->first[k] + pq_rng_below(PQ_STATS_SEED, stream, index++, (uint64_t)n_k)]]++;
    }
}

static double mean(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

static double sd(const double *x, int n) {
    if (n < 2) return 0;
    double m = mean(x, n), s = 0;
    for (int i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (n - 1));
}

static void finish(pq_interval *out, const double *d, int S) {
    out->n_seeds = S;
    out->effect = mean(d, S);
    out->se_seeds = sd(d, S) / sqrt((double)S);
    out->se = sqrt(out->se_units * out->se_units + out->se_seeds * out->se_seeds);
    double t = S > 1 ? pq_stats_t_quantile(0.975, S - 1) : 0;
    double half = sqrt(pow(1.96 * out->se_units, 2) + pow(t * out->se_seeds, 2));
    out->lo = out->effect - half, out->hi = out->effect + half;
    out->mde = 2.8 * out->se;
}

static int same_units(const pq_units *x, const pq_units *y) {
    if (x->n != y->n || strata(x) != strata(y)) return 0;
    for (int i = 0; i < x->n; i++)
        if (stratum_of(x, i) != stratum_of(y, i)) return 0;
    return 1;
}

int pq_stats_interval(const pq_units *ua, const pq_unit_values *a, const pq_units *ub, const pq_unit_values *b, int S,
                      int paired, int B, pq_interval *out) {
    memset(out, 0, sizeof *out);
    if (S < 1 || B < 2) return pq_fail("stats: need at least one seed and two resamples");
    if (b && !ub) ub = ua;
    if (b && paired && !same_units(ua, ub)) return pq_fail("stats: paired configurations must share their units");
    strata_index ia = {0}, ib = {0};
    int K = strata(ua) > (b ? strata(ub) : 0) ? strata(ua) : strata(ub);
    int rc = index_strata(ua, &ia);
    if (rc == 0 && b && !paired) rc = index_strata(ub, &ib);
    double *num = pq_malloc(sizeof *num * (size_t)K), *den = pq_malloc(sizeof *den * (size_t)K);
    double *d = pq_malloc(sizeof *d * (size_t)S), *reps = pq_malloc(sizeof *reps * (size_t)B);
    int *ca = pq_malloc(sizeof *ca * (size_t)(ua->n ? ua->n : 1));
    int *cb = b && !paired ? pq_malloc(sizeof *cb * (size_t)(ub->n ? ub->n : 1)) : ca;
    if (rc == 0) {
        double sa = 0, sb = 0;
        for (int s = 0; s < S; s++) {
            double va = weighted_value(ua, &a[s], NULL, num, den), vb = b ? weighted_value(ub, &b[s], NULL, num, den) : 0;
            d[s] = va - vb, sa += va, sb += vb;
        }
        out->a_value = sa / S, out->b_value = sb / S;
        uint64_t stream_a = pq_rng_stream_id("bootstrap", 0), stream_b = pq_rng_stream_id("bootstrap", 1);
        for (int r = 0; r < B; r++) {
            draw_counts(ua, &ia, stream_a, r, ca);
            if (b && !paired) draw_counts(ub, &ib, stream_b, r, cb);
            double sum = 0;
            for (int s = 0; s < S; s++)
                sum += weighted_value(ua, &a[s], ca, num, den) - (b ? weighted_value(ub, &b[s], cb, num, den) : 0);
            reps[r] = sum / S;
        }
        out->se_units = sd(reps, B);
        finish(out, d, S);
    }
    if (cb != ca) free(cb);
    free(ca), free(num), free(den), free(d), free(reps);
    free(ia.first), free(ia.members), free(ib.first), free(ib.members);
    return rc;
}

void pq_stats_seeds_only(const double *a, const double *b, int S, pq_interval *out) {
    memset(out, 0, sizeof *out);
    double *d = pq_malloc(sizeof *d * (size_t)(S ? S : 1));
    for (int s = 0; s < S; s++) d[s] = a[s] - (b ? b[s] : 0);
    out->a_value = mean(a, S), out->b_value = b ? mean(b, S) : 0;
    finish(out, d, S);
    if (S < 2) out->se = out->se_seeds = out->mde = NAN;
    free(d);
}

/* ---- Student t ------------------------------------------------------------------ */

/* Continued fraction of the regularized incomplete beta function (Lentz). */
static double beta_cf(double a, double b, double x) {
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, dd = 1 - qab * x / qap;
    if (fabs(dd) < tiny) dd = tiny;
    dd = 1 / dd;
    double h = dd;
    for (int m = 1; m <= 300; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        dd = 1 + aa * dd, c = 1 + aa / c;
        if (fabs(dd) < tiny) dd = tiny;
        if (fabs(c) < tiny) c = tiny;
        dd = 1 / dd, h *= dd * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        dd = 1 + aa * dd, c = 1 + aa / c;
        if (fabs(dd) < tiny) dd = tiny;
        if (fabs(c) < tiny) c = tiny;
        dd = 1 / dd;
        double del = dd * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return h;
}

static double beta_inc(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

static double t_cdf(double t, double df) {
    double tail = 0.5 * beta_inc(df / 2, 0.5, df / (df + t * t));
    return t >= 0 ? 1 - tail : tail;
}

double pq_stats_t_quantile(double p, double df) {
    if (p == 0.5) return 0;
    if (p < 0.5) return -pq_stats_t_quantile(1 - p, df);
    double lo = 0, hi = 1;
    while (t_cdf(hi, df) < p && hi < 1e12) hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (t_cdf(mid, df) < p) lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}
