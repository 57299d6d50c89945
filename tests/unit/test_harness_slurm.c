/* The Slurm executor's pure parts: the batch script (executed here with /bin/sh),
 * the dependency string, sbatch's file name escaping, and what it reads back from
 * sbatch --parsable, squeue and sacct. The daemons themselves: tests/integration/slurm.sh. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "harness/slurm.h"

static char *file_text(const char *dir, const char *name) {
    char *path = pq_path_join(dir, name);
    char *text = pq_file_exists(path) ? pq_read_file(path, NULL) : NULL;
    free(path);
    return text;
}

/* Writes the script for argv into dir (with a state.ckpt to be dropped) and runs it; returns its exit status. */
static int run_script(const char *dir, char *const *argv) {
    char *state = pq_path_join(dir, "state.ckpt"), *sh = pq_path_join(dir, "job.sh");
    cr_assert_eq(pq_write_file_atomic(state, "s", 1), 0);
    char *script = pq_slurm_script("/", argv, "abc123", dir, 3);
    cr_assert_eq(pq_write_file_atomic(sh, script, strlen(script)), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "/bin/sh '%s'", sh);
    int status = system(cmd);
    free(state), free(sh), free(script);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static json_t *read_json(const char *dir, const char *name) {
    char *path = pq_path_join(dir, name);
    json_t *v = pq_file_exists(path) ? pq_json_read(path) : NULL;
    free(path);
    return v;
}

Test(harness_slurm, script_runs_the_command_then_marks_it_done) {
    char dir[] = "/tmp/pq_slurm_XXXXXX";
    cr_assert(mkdtemp(dir));
    /* Quotes, $, backquotes and spaces reach the command as they are (no expansion), and
     * the job's PQ_THREADS is the one asked for. */
    char *argv[] = {"/bin/sh", "-c", "printf '%s|%s|%s\\n' \"$0\" \"$1\" \"$PQ_THREADS\"", "it's", "$HOME `id` a b", NULL};
    cr_assert_eq(run_script(dir, argv), 0);
    char *log = file_text(dir, "log.txt");
    cr_assert_not_null(log);
    cr_expect_str_eq(log, "it's|$HOME `id` a b|3\n");
    free(log);
    json_t *done = read_json(dir, "DONE");
    cr_assert_not_null(done, "no DONE after a successful command");
    cr_expect_str_eq(json_string_value(json_object_get(done, "id")), "abc123");
    cr_expect(json_is_integer(json_object_get(done, "seconds")));
    json_decref(done);
    char *state = file_text(dir, "state.ckpt");
    cr_expect_null(state, "state.ckpt kept after DONE");
    free(state);
    pq_remove_tree(dir);
}

Test(harness_slurm, failed_command_keeps_its_state_and_exit_status) {
    char dir[] = "/tmp/pq_slurm_XXXXXX";
    cr_assert(mkdtemp(dir));
    char *argv[] = {"/bin/sh", "-c", "echo 'pq qat: no such file'; exit 3", NULL};
    cr_expect_eq(run_script(dir, argv), 3);
    char *log = file_text(dir, "log.txt"), *done = file_text(dir, "DONE"), *state = file_text(dir, "state.ckpt");
    cr_expect_str_eq(log ? log : "", "pq qat: no such file\n");
    cr_expect_null(done, "DONE written for a failed command");
    cr_expect_not_null(state, "a failed run lost the state it resumes from");
    free(log), free(done), free(state);
    pq_remove_tree(dir);
}

Test(harness_slurm, dependency_and_file_names) {
    const char *ids[] = {"12", "345"};
    char *dep = pq_slurm_dependency(ids, 2);
    cr_expect_str_eq(dep, "afterok:12:345");
    free(dep);
    dep = pq_slurm_dependency(ids, 1);
    cr_expect_str_eq(dep, "afterok:12");
    free(dep);
    dep = pq_slurm_dependency(NULL, 0);
    cr_expect_str_eq(dep, "");
    free(dep);
    char *name = pq_slurm_escape_filename("/runs/100%/log.txt");
    cr_expect_str_eq(name, "/runs/100%%/log.txt");
    free(name);
}

Test(harness_slurm, sbatch_job_id) {
    char id[32];
    cr_expect_eq(pq_slurm_parse_job_id("4711\n", id), 0);
    cr_expect_str_eq(id, "4711");
    cr_expect_eq(pq_slurm_parse_job_id("52;cluster2\n", id), 0);
    cr_expect_str_eq(id, "52");
    cr_expect_eq(pq_slurm_parse_job_id("", id), -1);
    cr_expect_eq(pq_slurm_parse_job_id("Submitted batch job 5\n", id), -1);
    cr_expect_eq(pq_slurm_parse_job_id("12x\n", id), -1);
}

Test(harness_slurm, squeue_and_sacct_lines) {
    pq_slurm_job jobs[8];
    const char *squeue = "7|RUNNING|None\n8|PENDING|Dependency\n9|PENDING|DependencyNeverSatisfied\n";
    cr_assert_eq(pq_slurm_parse_jobs(squeue, jobs, 8), 3);
    cr_expect_str_eq(jobs[0].id, "7");
    cr_expect_str_eq(jobs[0].state, "RUNNING");
    cr_expect_str_eq(jobs[1].detail, "Dependency");
    cr_expect_str_eq(jobs[2].detail, "DependencyNeverSatisfied");
    /* sacct: steps are not jobs; "CANCELLED by 0" is CANCELLED; no final newline. */
    const char *sacct = "10|COMPLETED|0:0\n10.batch|COMPLETED|0:0\n11|CANCELLED by 0|0:15\n11.extern|CANCELLED|0:15\n12|FAILED|1:0";
    cr_assert_eq(pq_slurm_parse_jobs(sacct, jobs, 8), 3);
    cr_expect_str_eq(jobs[0].id, "10");
    cr_expect_str_eq(jobs[1].id, "11");
    cr_expect_str_eq(jobs[1].state, "CANCELLED");
    cr_expect_str_eq(jobs[1].detail, "0:15");
    cr_expect_str_eq(jobs[2].state, "FAILED");
    cr_expect_str_eq(jobs[2].detail, "1:0");
    cr_expect_eq(pq_slurm_parse_jobs("", jobs, 8), 0);
    cr_expect_eq(pq_slurm_parse_jobs(squeue, jobs, 2), 2, "more jobs than room: the first ones");
    cr_expect_eq(pq_slurm_parse_jobs("7 RUNNING None\n", jobs, 8), -1);
    cr_expect_eq(pq_slurm_parse_jobs("x7|RUNNING|None\n", jobs, 8), -1);
    cr_expect_eq(pq_slurm_parse_jobs("|RUNNING|None\n", jobs, 8), -1);
}

Test(harness_slurm, active_states) {
    const char *active[] = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "SUSPENDED"};
    const char *final[] = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED"};
    for (size_t i = 0; i < PQ_COUNT(active); i++) cr_expect(pq_slurm_state_active(active[i]), "%s", active[i]);
    for (size_t i = 0; i < PQ_COUNT(final); i++) cr_expect(!pq_slurm_state_active(final[i]), "%s", final[i]);
}
