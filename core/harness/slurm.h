/* slurm.h — the Slurm executor: a plan's runs as sbatch jobs.
 *
 * Every run not yet done becomes one batch job that executes exactly the command
 * the local scheduler would (pq_run_command) in the same run directory, appends
 * to the same log.txt and, on success, writes the same DONE marker and drops
 * state.ckpt, so resume, reuse and aggregation are the local executor's. A job
 * waits for its parents' jobs (--dependency=afterok:...). The job id of each
 * run is kept in <run dir>/slurm.json, so that a rerun, `pq suite status` and
 * `pq suite cancel` find the jobs still queued or running (a rerun submits only
 * runs that are neither done nor queued/running). The runs directory, the data
 * and the pq executable must be on a filesystem the nodes share; a probe job
 * checks that before anything is submitted.
 *
 * The Slurm commands (sbatch, squeue, sacct, scancel) are executed directly
 * (fork/exec, no shell); the pure parts below (script, dependency, parsing) are
 * what the unit tests check. */
#ifndef PQ_SLURM_H
#define PQ_SLURM_H

#include <stddef.h>

#include "harness/plan.h"

typedef struct {
    const char *partition, *account, *time, *gres; /* NULL: the cluster's default */
    int cpus_per_run;                              /* --cpus-per-task; also the runs' PQ_THREADS */
    const char **sbatch_args;                      /* passed to sbatch as they are */
    int nsbatch_args;
    int detach;                                    /* submit and return */
    double poll_seconds;                           /* between squeue polls while following */
} pq_slurm_options;

/* ---- pure parts --------------------------------------------------------------------- */

/* The batch script of one run: cd to cwd, run argv with PQ_THREADS=threads appending
 * to log, then on success write DONE ({"id", "seconds"}, temp + rename) and remove
 * state.ckpt in run_dir; the job's exit status is the command's. Every path and
 * argument is single-quoted for the shell. Caller frees. */
char *pq_slurm_script(const char *cwd, char *const *argv, const char *run_id, const char *run_dir, int threads);

/* "afterok:1:2" for the given job ids, "" for none. Caller frees. */
char *pq_slurm_dependency(const char *const *job_ids, int n);

/* A file name for sbatch --output with its replacement symbols escaped ("%" -> "%%"). Caller frees. */
char *pq_slurm_escape_filename(const char *path);

/* The job id that `sbatch --parsable` printed ("123" or "123;cluster"), or -1 when
 * the text is not one. id must hold 32 bytes. */
int pq_slurm_parse_job_id(const char *text, char id[32]);

typedef struct {
    char id[32];
    char state[32];   /* PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, ... */
    char detail[64];  /* squeue: the reason; sacct: the exit code "1:0" */
} pq_slurm_job;

/* Lines "id|STATE|detail" of `squeue --noheader --format=%i|%T|%r` or
 * `sacct --noheader --parsable2 --format=JobIDRaw,State,ExitCode`. Job steps
 * ("12.batch") are skipped and "CANCELLED by 0" keeps its first word. Returns
 * the number of jobs written (at most max), -1 on a malformed line. */
int pq_slurm_parse_jobs(const char *text, pq_slurm_job *jobs, int max);

/* A state in which the job is still queued or running (it will run or is running). */
int pq_slurm_state_active(const char *state);

/* ---- the executor ------------------------------------------------------------------- */

/* Submits the runs not yet done nor queued, then (unless detach) follows them until
 * none is queued or running. Returns the number of runs that failed or were
 * skipped (0 = all done; with detach, 0 once everything is submitted), or -1 +
 * pq_error() when Slurm cannot be used (no sbatch, a failed submission, a runs
 * directory the nodes do not share). */
int pq_slurm_schedule(pq_plan *plan, const pq_slurm_options *opt, const char *pq);

/* `pq suite status` (cancel = 0) or `pq suite cancel`: prints the state of each run
 * of the plan (done, queued, running, failed with its log, not submitted), or scancels
 * the jobs of runs still queued or running. Returns 0, 1 when some run failed, or -1
 * + pq_error(). */
int pq_slurm_status(pq_plan *plan, int cancel);

#endif
