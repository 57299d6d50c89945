/* scheduler.h — runs a plan: independent runs in parallel, each as a `pq`
 * subprocess in its own directory, resuming unfinished ones. */
#ifndef PQ_SCHEDULER_H
#define PQ_SCHEDULER_H

#include "harness/plan.h"

typedef struct {
    int jobs;          /* runs at once */
    int dry_run;       /* print commands, run nothing */
    const char *pq;    /* the pq executable to call */
} pq_schedule_options;

/* Marks finished runs done, executes the rest. Returns the number of runs that
 * failed or were skipped because a dependency failed (0 = all done). */
int pq_schedule(pq_plan *plan, const pq_schedule_options *opt);

/* The argv (NULL-terminated, caller frees with pq_free_argv) that executes run i. */
char **pq_run_command(const pq_plan *plan, int i, const char *pq);
void pq_free_argv(char **argv);

/* Shared with the Slurm executor (slurm.h): the run's DONE marker exists; writes the
 * run directory's run.json (and config.json) before the run starts; the last
 * non-empty line of a log (its one-line error, by pq's convention). */
int pq_run_is_done(const pq_run *r);
int pq_run_prepare(const pq_plan *plan, const pq_run *r);
void pq_log_last_line(const char *path, char *out, size_t n);

/* A parent of r failed or was skipped: r can never run. */
int pq_run_blocked(const pq_plan *plan, const pq_run *r);

/* A timing run (kernel or decode benchmark): it measures the machine, so it runs alone
 * (locally nothing runs beside it; on Slurm its job gets --exclusive). */
int pq_run_exclusive(const pq_run *r);

/* A failed run's two lines on stderr: "pq suite: KIND run failed (HOW): <its log's last
 * line>", then its log's path and how to start it over. tty: clear the progress line first. */
void pq_run_report_failure(const pq_run *r, const char *how, int tty);

#endif
