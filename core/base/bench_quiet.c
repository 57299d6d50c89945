/* bench_quiet.c — samples of the machine's state around a benchmark, and the verdict. */
#include "base/bench_quiet.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/bench.h"
#include "base/util.h"

/* The aggregate "cpu" line of /proc/stat, in seconds; zeros if unreadable. */
static void read_cpu_times(double *busy_s, double *steal_s) {
    unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq, &softirq,
                   &steal) < 4)
            user = nice = sys = irq = softirq = steal = 0;
        fclose(f);
    }
    double hz = (double)sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100.0;
    *busy_s = (double)(user + nice + sys + irq + softirq) / hz;
    *steal_s = (double)steal / hz;
}

/* A fixed chain of dependent multiply-adds (about 20 ms on a 4 GHz core): no
 * memory traffic, so its time moves only with the core's clock and with
 * whoever else runs on it. */
static double spin_once_ms(void) {
    volatile uint64_t sink;
    uint64_t x = 88172645463325252ULL;
    double t0 = pq_now();
    for (int i = 0; i < 20000000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    sink = x;
    (void)sink;
    return (pq_now() - t0) * 1e3;
}

void pq_machine_sample_take(pq_machine_sample *s) {
    memset(s, 0, sizeof *s);
    double load[3];
    pq_load_average(load);
    s->load1 = load[0];
    for (int i = 0; i < PQ_QUIET_SPINS; i++) s->spin_ms[i] = spin_once_ms();
    s->spin_median_ms = pq_median(s->spin_ms, PQ_QUIET_SPINS);
    read_cpu_times(&s->busy_s, &s->steal_s);
    s->own_cpu_s = pq_cpu_now();
    s->wall = pq_now();
}

static double spin_spread(const pq_machine_sample *s) {
    double lo = INFINITY, hi = 0.0;
    for (int i = 0; i < PQ_QUIET_SPINS; i++) lo = fmin(lo, s->spin_ms[i]), hi = fmax(hi, s->spin_ms[i]);
    return lo > 0.0 ? hi / lo : 1.0;
}

static void add_reason(pq_quiet_verdict *v, const char *fmt, double a, double b) {
    size_t used = strlen(v->why);
    if (used + 3 >= sizeof v->why) return;
    if (used) strcat(v->why, "; ");
    used = strlen(v->why);
    snprintf(v->why + used, sizeof v->why - used, fmt, a, b);
    v->quiet = 0;
}

pq_quiet_verdict pq_quiet_judge(const pq_machine_sample *before, const pq_machine_sample *after, int ncpu) {
    pq_quiet_verdict v = {.quiet = 1};
    if (ncpu < 1) ncpu = 1;
    double cpu_s = (after->wall - before->wall) * ncpu;
    if (cpu_s > 0.0) {
        double others = (after->busy_s - before->busy_s) - (after->own_cpu_s - before->own_cpu_s);
        v.others_cpu_fraction = fmax(0.0, others / cpu_s);
        v.steal_fraction = fmax(0.0, (after->steal_s - before->steal_s) / cpu_s);
    }
    v.spin_drift = before->spin_median_ms > 0.0 ? after->spin_median_ms / before->spin_median_ms - 1.0 : 0.0;
    v.spin_spread = fmax(spin_spread(before), spin_spread(after));
    if (before->load1 > PQ_QUIET_MAX_LOAD_PER_CPU * ncpu)
        add_reason(&v, "load average %.2f before the run on %.0f CPUs", before->load1, ncpu);
    if (v.others_cpu_fraction > PQ_QUIET_MAX_OTHERS)
        add_reason(&v, "other processes used %.0f%% of the CPUs during the run (limit %.0f%%)",
                   100 * v.others_cpu_fraction, 100 * PQ_QUIET_MAX_OTHERS);
    if (v.steal_fraction > PQ_QUIET_MAX_STEAL)
        add_reason(&v, "the hypervisor stole %.0f%% of the CPUs (limit %.0f%%)", 100 * v.steal_fraction,
                   100 * PQ_QUIET_MAX_STEAL);
    if (fabs(v.spin_drift) > PQ_QUIET_MAX_SPIN_DRIFT)
        add_reason(&v, "the calibration spin took %+.0f%% after the run vs before (limit %.0f%%)", 100 * v.spin_drift,
                   100 * PQ_QUIET_MAX_SPIN_DRIFT);
    if (v.spin_spread > PQ_QUIET_MAX_SPIN_SPREAD)
        add_reason(&v, "calibration spins varied %.2fx within a sample (limit %.2fx)", v.spin_spread,
                   PQ_QUIET_MAX_SPIN_SPREAD);
    return v;
}

static json_t *sample_json(const pq_machine_sample *s) {
    json_t *spins = json_array();
    for (int i = 0; i < PQ_QUIET_SPINS; i++) json_array_append_new(spins, json_real(s->spin_ms[i]));
    return json_pack("{s:f, s:f, s:o}", "load_average_1min", s->load1, "spin_median_ms", s->spin_median_ms, "spin_ms",
                     spins);
}

json_t *pq_quiet_json(const pq_machine_sample *before, const pq_machine_sample *after, const pq_quiet_verdict *v) {
    json_t *limits = json_pack("{s:f, s:f, s:f, s:f, s:f}", "load_average_per_cpu_before", PQ_QUIET_MAX_LOAD_PER_CPU,
                               "others_cpu_fraction", PQ_QUIET_MAX_OTHERS, "steal_fraction", PQ_QUIET_MAX_STEAL,
                               "spin_drift", PQ_QUIET_MAX_SPIN_DRIFT, "spin_spread", PQ_QUIET_MAX_SPIN_SPREAD);
    return json_pack("{s:b, s:s, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o}", "quiet", v->quiet, "why", v->why,
                     "seconds", after->wall - before->wall, "others_cpu_fraction", v->others_cpu_fraction,
                     "steal_fraction", v->steal_fraction, "spin_drift", v->spin_drift, "spin_spread", v->spin_spread,
                     "limits", limits, "before", sample_json(before), "after", sample_json(after));
}
