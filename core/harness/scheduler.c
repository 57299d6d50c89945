#include "harness/scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/proc.h"
#include "base/progress.h"
#include "base/util.h"
#include "data/databuild.h"
#include "harness/plan_summary.h"

/* ---- commands ------------------------------------------------------------------- */

typedef struct {
    char **v;
    int n, cap;
} argv_builder;

static void arg(argv_builder *a, const char *s) {
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->v = pq_realloc(a->v, (size_t)a->cap * sizeof *a->v);
    }
    a->v[a->n++] = pq_strdup(s);
    a->v[a->n] = NULL;
}

static void argf(argv_builder *a, const char *fmt, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    arg(a, buf);
}

void pq_free_argv(char **argv) {
    for (char **p = argv; p && *p; p++) free(*p);
    free(argv);
}

static const pq_run *dep(const pq_plan *plan, const pq_run *r, const char *role) {
    for (int d = 0; d < r->ndeps; d++)
        if (!strcmp(r->dep_roles[d], role)) return &plan->runs[r->deps[d]];
    pq_die("run %s has no '%s' dependency", r->id, role);
}

static void dep_file(argv_builder *a, const pq_plan *plan, const pq_run *r, const char *role, const char *file) {
    char *path = pq_run_file(dep(plan, r, role), file);
    arg(a, path);
    free(path);
}

static double num(const pq_run *r, const char *key) { return json_number_value(json_object_get(r->args, key)); }
static const char *str(const pq_run *r, const char *key) { return json_string_value(json_object_get(r->args, key)); }

/* The vocabulary of the model a run trains or reads: its own config's, or that of the
 * run it starts from (pq data build writes shards-<V> and tokenizer-<V>.bpe for V != 8192). */
static int run_vocab(const pq_plan *plan, const pq_run *r) {
    for (;;) {
        json_t *v = json_object_get(json_object_get(json_object_get(r->args, "config"), "model"), "vocab");
        if (json_is_integer(v)) return (int)json_integer_value(v);
        if (r->ndeps == 0) return PQ_DATA_DEFAULT_VOCAB;
        r = &plan->runs[r->deps[0]];
    }
}

char **pq_run_command(const pq_plan *plan, int i, const char *pq) {
    const pq_run *r = &plan->runs[i];
    argv_builder a = {0};
    arg(&a, pq);
    char *config = pq_run_file(r, "config.json");
    pq_data_paths data;
    pq_data_paths_init(&data, plan->data_dir, run_vocab(plan, r));
    const char *shards = data.shards_dir;
    if (!strcmp(r->kind, "pretrain")) {
        arg(&a, "pretrain"), arg(&a, "--config"), arg(&a, config), arg(&a, "--data"), arg(&a, shards);
        json_t *keep = json_object_get(r->args, "keep_steps");
        if (json_array_size(keep)) { /* the branch points of shorter runs (expand.c, budget) */
            char steps[1024] = "";
            size_t k;
            json_t *s;
            json_array_foreach(keep, k, s) snprintf(steps + strlen(steps), sizeof steps - strlen(steps), "%s%lld", k ? "," : "",
                                                    (long long)json_integer_value(s));
            arg(&a, "--keep-steps"), arg(&a, steps);
        }
        if (json_object_get(r->args, "branch_step")) {
            char name[64];
            snprintf(name, sizeof name, "state-%.0f.ckpt", num(r, "branch_step"));
            arg(&a, "--branch-from"), dep_file(&a, plan, r, "branch", name);
        }
    } else if (!strcmp(r->kind, "qat")) {
        arg(&a, "qat");
        if (json_object_get(r->args, "config"))
            arg(&a, "--from-scratch"), arg(&a, "--config"), arg(&a, config);
        else
            arg(&a, "--from"), dep_file(&a, plan, r, "from", "model.ckpt");
        arg(&a, "--bits"), argf(&a, "%g", num(r, "bits"));
        arg(&a, "--quantizer"), arg(&a, str(r, "quantizer"));
        arg(&a, "--tokens"), argf(&a, "%.0f", num(r, "tokens"));
        arg(&a, "--seed"), argf(&a, "%.0f", num(r, "seed"));
        if (json_object_get(r->args, "lr")) arg(&a, "--lr"), argf(&a, "%.9g", num(r, "lr"));
        arg(&a, "--data"), arg(&a, shards);
    } else if (!strcmp(r->kind, "ptq")) {
        arg(&a, "ptq"), arg(&a, "--from"), dep_file(&a, plan, r, "from", "model.ckpt");
        arg(&a, "--method"), arg(&a, str(r, "method"));
        arg(&a, "--bits"), argf(&a, "%g", num(r, "bits"));
        arg(&a, "--data"), arg(&a, shards);
    } else if (!strcmp(r->kind, "eval")) {
        arg(&a, "eval"), arg(&a, "--model"), dep_file(&a, plan, r, "model", "model.ckpt");
        char *tasks = NULL;
        size_t k;
        json_t *t;
        size_t len = 1;
        json_array_foreach(json_object_get(r->args, "tasks"), k, t) len += json_string_length(t) + 1;
        tasks = pq_calloc(len, 1);
        json_array_foreach(json_object_get(r->args, "tasks"), k, t) {
            if (k) strcat(tasks, ",");
            strcat(tasks, json_string_value(t));
        }
        arg(&a, "--tasks"), arg(&a, tasks);
        free(tasks);
        arg(&a, "--data-dir"), arg(&a, plan->data_dir);
        arg(&a, "--tokenizer"), arg(&a, data.tokenizer);
        if (json_object_get(r->args, "limit")) arg(&a, "--limit"), argf(&a, "%.0f", num(r, "limit"));
        /* The per-unit arrays the statistics resample (stats.h), kept beside the results. */
        char *units = pq_run_file(r, "units.json");
        arg(&a, "--units"), arg(&a, units);
        free(units);
        if (json_object_get(r->args, "val_tokens")) arg(&a, "--val-tokens"), argf(&a, "%.0f", num(r, "val_tokens"));
    } else if (!strcmp(r->kind, "decode")) {
        arg(&a, "bench"), arg(&a, "decode"), arg(&a, "--model"), dep_file(&a, plan, r, "model", "model.ckpt");
    } else if (!strcmp(r->kind, "bench_kernels")) {
        arg(&a, "bench"), arg(&a, "kernels");
        if (json_is_true(json_object_get(r->args, "quick"))) arg(&a, "--quick");
    } else {
        pq_die("no command for run kind '%s'", r->kind);
    }
    if (pq_plan_device_kind(r->kind) && json_object_get(r->args, "device")) arg(&a, "--device"), arg(&a, str(r, "device"));
    /* Every kind writes into its run directory. */
    if (!strcmp(r->kind, "eval")) {
        char *out = pq_run_file(r, "results.json");
        arg(&a, "--out"), arg(&a, out);
        free(out);
    } else {
        arg(&a, "--out"), arg(&a, r->dir);
    }
    free(config);
    pq_data_paths_free(&data);
    return a.v;
}

/* ---- state on disk ----------------------------------------------------------------- */

int pq_run_is_done(const pq_run *r) {
    char *done = pq_run_file(r, "DONE");
    int yes = pq_file_exists(done);
    free(done);
    return yes;
}

/* What the run was asked to do, written before it starts (and its config, for training kinds). */
int pq_run_prepare(const pq_plan *plan, const pq_run *r) {
    if (pq_mkdirs(r->dir) != 0) return -1;
    json_t *deps = json_object();
    for (int d = 0; d < r->ndeps; d++) json_object_set_new(deps, r->dep_roles[d], json_string(plan->runs[r->deps[d]].id));
    json_t *desc = json_pack("{s:s, s:s, s:O, s:o, s:s, s:s}", "id", r->id, "kind", r->kind, "args", r->args, "deps",
                             deps, "code", pq_run_code_hash(r), "data", plan->data_hash);
    char *path = pq_run_file(r, "run.json");
    int rc = pq_json_write(desc, path);
    free(path);
    json_decref(desc);
    json_t *config = json_object_get(r->args, "config");
    if (rc == 0 && config) {
        /* The model file's shape and training settings, with this run's budget and seed. */
        json_t *merged = json_deep_copy(config), *train = json_object_get(merged, "train");
        if (!json_is_object(train)) json_object_set_new(merged, "train", train = json_object());
        json_object_set(train, "tokens", json_object_get(r->args, "tokens"));
        json_object_set(train, "seed", json_object_get(r->args, "seed"));
        path = pq_run_file(r, "config.json");
        rc = pq_json_write(merged, path);
        free(path);
        json_decref(merged);
    }
    return rc;
}

static pid_t start(const pq_plan *plan, int i, const char *pq) {
    const pq_run *r = &plan->runs[i];
    if (pq_run_prepare(plan, r) != 0) return -1;
    char **argv = pq_run_command(plan, i, pq);
    char *log = pq_run_file(r, "log.txt");
    fflush(NULL);
    pid_t pid = pq_child_fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        setenv("PQ_PROGRESS", "1", 1);
        setenv("PQ_THREADS", "1", 0);
        execv(argv[0], argv);
        fprintf(stderr, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(log);
    pq_free_argv(argv);
    if (pid < 0) return pq_fail("cannot fork: %s", strerror(errno));
    return pid;
}

/* Once DONE exists the run is never resumed, so its resumable state (model plus
 * optimizer moments, most of a training run's disk use) is dropped. */
static void mark_done(const pq_run *r, double seconds) {
    json_t *done = json_pack("{s:s, s:f}", "id", r->id, "seconds", seconds);
    char *path = pq_run_file(r, "DONE");
    if (pq_json_write(done, path) != 0) pq_die("%s", pq_error());
    free(path);
    json_decref(done);
    char *state = pq_run_file(r, "state.ckpt");
    unlink(state);
    free(state);
}

/* The last non-empty line of a run's log: its one-line error, by pq's convention. */
void pq_log_last_line(const char *path, char *out, size_t n) {
    snprintf(out, n, "(no log)");
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (*line) snprintf(out, n, "%s", line);
    }
    fclose(f);
}

/* ---- the loop ------------------------------------------------------------------------ */

static int ready(const pq_plan *plan, const pq_run *r) {
    for (int d = 0; d < r->ndeps; d++)
        if (plan->runs[r->deps[d]].state != RUN_DONE) return 0;
    return 1;
}

int pq_run_blocked(const pq_plan *plan, const pq_run *r) {
    for (int d = 0; d < r->ndeps; d++) {
        pq_run_state s = plan->runs[r->deps[d]].state;
        if (s == RUN_FAILED || s == RUN_SKIPPED) return 1;
    }
    return 0;
}

/* Timing runs measure the machine, so they run alone: nothing else starts while
 * one runs, and one starts only when nothing else is running. */
int pq_run_exclusive(const pq_run *r) { return !strcmp(r->kind, "bench_kernels") || !strcmp(r->kind, "decode"); }

void pq_run_report_failure(const pq_run *r, const char *how, int tty) {
    char *log = pq_run_file(r, "log.txt"), last[512];
    pq_log_last_line(log, last, sizeof last);
    fprintf(stderr,
            "%spq suite: %s run failed (%s): %s\n"
            "pq suite:   log: %s (to start this run over instead of resuming it: rm -r %s)\n",
            tty ? "\r\033[K" : "", r->kind, how, last, log, r->dir);
    free(log);
}

static void report(pq_progress *p, int finished, int running, int left, int failed, double work_done) {
    pq_progress_update(p, finished, finished, "%d running, %d left, %d failed, %.0f%% of the estimated work", running,
                       left, failed, 100 * work_done);
}

int pq_schedule(pq_plan *plan, const pq_schedule_options *opt) {
    int n = plan->count, left = 0, failed = 0, running = 0;
    double cost_total = 0, cost_done = 0;
    for (int i = 0; i < n; i++) {
        plan->runs[i].state = pq_run_is_done(&plan->runs[i]) ? RUN_DONE : RUN_PENDING;
        if (plan->runs[i].state == RUN_PENDING) left++, cost_total += plan->runs[i].cost;
    }
    pq_plan_summary(plan, stderr); /* what the runs to do cost, before any starts */
    if (opt->dry_run) {
        for (int i = 0; i < n; i++) {
            if (plan->runs[i].state == RUN_DONE) continue;
            char **argv = pq_run_command(plan, i, opt->pq);
            for (char **p = argv; *p; p++) printf("%s%s", p == argv ? "" : " ", *p);
            printf("\n");
            pq_free_argv(argv);
        }
        return 0;
    }
    /* Critical path first: a run's priority is its cost plus the costliest chain
     * of runs waiting on it, so the FP checkpoints that many QAT runs need start
     * early instead of after every cheap independent run. Dependencies always
     * have lower indices, so one backward pass computes it. */
    double *priority = pq_calloc((size_t)n, sizeof *priority);
    for (int i = n - 1; i >= 0; i--) {
        priority[i] += plan->runs[i].cost;
        for (int d = 0; d < plan->runs[i].ndeps; d++) {
            int p = plan->runs[i].deps[d];
            if (priority[i] > priority[p]) priority[p] = priority[i];
        }
    }
    pid_t *pids = pq_calloc((size_t)n, sizeof *pids);
    double *started = pq_calloc((size_t)n, sizeof *started);
    pq_progress progress;
    pq_progress_begin(&progress, "suite", left, "run");
    int finished = 0, alone = 0; /* alone: an exclusive run is running */
    while (left > 0 || running > 0) {
        while (running < opt->jobs && !alone) {
            int best = -1;
            for (int i = 0; i < n; i++) {
                pq_run *r = &plan->runs[i];
                if (r->state != RUN_PENDING) continue;
                if (pq_run_blocked(plan, r)) {
                    r->state = RUN_SKIPPED, left--, failed++;
                    continue;
                }
                if (!ready(plan, r) || (pq_run_exclusive(r) && running > 0)) continue;
                if (best < 0 || priority[i] > priority[best]) best = i;
            }
            if (best < 0) break;
            pq_run *r = &plan->runs[best];
            pids[best] = start(plan, best, opt->pq);
            if (pids[best] < 0) {
                fprintf(stderr, "pq suite: %s run: %s\n", r->kind, pq_error()); /* the error names the path */
                r->state = RUN_FAILED, left--, failed++;
                continue;
            }
            r->state = RUN_RUNNING, left--, running++;
            alone = pq_run_exclusive(r);
            started[best] = pq_now();
        }
        if (running == 0) continue;
        int status;
        pid_t pid;
        /* Polled rather than waited for: one run can take minutes, and the
         * progress line (in a log, a line every 30 s) must not go quiet meanwhile. */
        while ((pid = waitpid(-1, &status, WNOHANG)) == 0) {
            report(&progress, finished, running, left, failed, cost_total > 0 ? cost_done / cost_total : 1);
            usleep(20000);
        }
        if (pid < 0) pq_die("wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            pq_run *r = &plan->runs[i];
            if (r->state != RUN_RUNNING || pids[i] != pid) continue;
            pq_child_reaped(pid);
            running--, finished++;
            if (pq_run_exclusive(r)) alone = 0;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                mark_done(r, pq_now() - started[i]);
                r->state = RUN_DONE;
                cost_done += r->cost;
            } else {
                r->state = RUN_FAILED, failed++;
                char how[32];
                snprintf(how, sizeof how, "%s %d", WIFEXITED(status) ? "exit" : "signal",
                         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                pq_run_report_failure(r, how, progress.tty);
            }
        }
        report(&progress, finished, running, left, failed, cost_total > 0 ? cost_done / cost_total : 1);
    }
    pq_progress_end(&progress);
    free(pids);
    free(started);
    free(priority);
    return failed;
}
