#include "base/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pq_format_duration(double s, char *buf, int n) {
    if (s < 0 || s != s) s = 0;
    if (s < 60)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else
        snprintf(buf, n, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

/* In a log, when the last progress line was printed by any progress of this
 * process: a command that runs several pieces of work in turn (eval's tasks)
 * then still prints one line per interval, not one per piece. */
static double log_last_line;

/* Seconds between lines in a log: PQ_PROGRESS_INTERVAL, default 30. */
static double log_interval(void) {
    const char *env = getenv("PQ_PROGRESS_INTERVAL");
    double s = env ? atof(env) : 0;
    return s > 0 ? s : 30.0;
}

void pq_progress_begin(pq_progress *p, const char *label, int64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    p->label = label;
    p->unit = unit ? unit : "step";
    p->total = total;
    p->t_start = pq_now();
    p->rate_base = -1;
    p->tty = isatty(STDERR_FILENO);
    const char *env = getenv("PQ_PROGRESS");
    p->enabled = env ? atoi(env) != 0 : 1;
    p->interval = p->tty ? 0.25 : log_interval();
    if (!p->tty && log_last_line == 0) log_last_line = p->t_start;
}

/* A terminal line is redrawn at every interval and at the end; a log line is
 * written only once an interval has passed since the last one, so work shorter
 * than an interval leaves the log as it was. */
static int due(const pq_progress *p, double now, int64_t step) {
    if (p->tty) return now - p->t_last_print >= p->interval || step >= p->total;
    return now - log_last_line >= p->interval;
}

void pq_progress_update(pq_progress *p, int64_t step, int64_t units, const char *extra, ...) {
    if (!p->enabled) return;
    double now = pq_now();
    if (p->rate_base < 0) p->rate_base = units, p->step_base = step, p->t_start = now; /* the zero point */
    if (!due(p, now, step)) return;
    p->t_last_print = log_last_line = now;
    p->printed = 1;
    double elapsed = now - p->t_start;
    double rate = elapsed > 0 ? (double)(units - p->rate_base) / elapsed : 0;
    double frac = p->total > 0 ? (double)step / (double)p->total : 0;
    char eta[32] = "?";
    if (step > p->step_base && elapsed > 0) /* from steps done since the zero point: resumes stay honest */
        pq_format_duration(elapsed * (double)(p->total - step) / (double)(step - p->step_base), eta, sizeof eta);
    char tail[256] = "";
    if (extra) {
        va_list ap;
        va_start(ap, extra);
        vsnprintf(tail, sizeof tail, extra, ap);
        va_end(ap);
    }
    fprintf(stderr, "%s%s  %lld/%lld  %5.1f%%  %.0f %s/s  ETA %s  %s%s", p->tty ? "\r\033[K" : "", p->label,
            (long long)step, (long long)p->total, 100 * frac, rate, p->unit, eta, tail, p->tty ? "" : "\n");
    fflush(stderr);
}

void pq_progress_end(pq_progress *p) {
    if (!p->enabled || (!p->tty && !p->printed)) return;
    char took[32];
    pq_format_duration(pq_now() - p->t_start, took, sizeof took);
    fprintf(stderr, "%s%s  done in %s\n", p->tty ? "\r\033[K" : "", p->label, took);
}
