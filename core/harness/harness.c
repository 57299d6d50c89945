#include "harness/harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/lock.h"
#include "base/manifest.h"
#include "base/proc.h"
#include "base/util.h"
#include "data/databuild.h"
#include "harness/results_io.h"
#include "harness/scheduler.h"
#include "harness/suite.h"

static int needs_data(const pq_suite *suites, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(suites[i].name, "grids") && strcmp(suites[i].name, "kernels")) return 1;
    return 0;
}

/* The vocabularies other than 8192 that the suites' models use (at most 8). */
static int other_vocabs(const pq_suite *suites, int n, int *vocabs) {
    int nv = 0;
    for (int i = 0; i < n; i++) {
        json_t *models = json_object_get(suites[i].tier, "models");
        const char *slash = strrchr(suites[i].path, '/');
        size_t k;
        json_t *m;
        json_array_foreach(models, k, m) {
            char path[1024];
            snprintf(path, sizeof path, "%.*s/models/%s.json", slash ? (int)(slash - suites[i].path) : 1,
                     slash ? suites[i].path : ".", json_string_value(m));
            json_t *config = pq_file_exists(path) ? pq_json_read(path) : NULL;
            json_t *v = json_object_get(json_object_get(config, "model"), "vocab");
            int vocab = json_is_integer(v) ? (int)json_integer_value(v) : PQ_DATA_DEFAULT_VOCAB, seen = 0;
            json_decref(config);
            for (int j = 0; j < nv; j++) seen |= vocabs[j] == vocab;
            if (!seen && vocab != PQ_DATA_DEFAULT_VOCAB && nv < 8) vocabs[nv++] = vocab;
        }
    }
    return nv;
}

static int data_build(const pq_harness_options *opt, int vocab) {
    char v[32];
    snprintf(v, sizeof v, "%d", vocab);
    fflush(NULL);
    pid_t pid = pq_child_fork();
    if (pid == 0) {
        if (vocab == PQ_DATA_DEFAULT_VOCAB) execl(opt->pq, opt->pq, "data", "build", "--data-dir", opt->data_dir, (char *)NULL);
        else execl(opt->pq, opt->pq, "data", "build", "--data-dir", opt->data_dir, "--vocab", v, "--skip-corpus", (char *)NULL);
        _exit(127);
    }
    int status;
    int waited = pid > 0 && waitpid(pid, &status, 0) == pid;
    if (waited) pq_child_reaped(pid);
    if (!waited || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return pq_fail("pq data build --data-dir %s --vocab %d failed", opt->data_dir, vocab);
    return 0;
}

/* Builds (or confirms, since it is cached) the data, and returns the hash that run ids
 * include: the 8k tokenizer, shards and tasks, and the tokenizer and shards of every
 * other vocabulary the suites' models use. */
static int build_data(const pq_harness_options *opt, const pq_suite *suites, int n, char hash[PQ_SHA256_HEX]) {
    int vocabs[8], nv = other_vocabs(suites, n, vocabs);
    if (opt->execute && !opt->dry_run) {
        if (data_build(opt, PQ_DATA_DEFAULT_VOCAB)) return -1;
        for (int j = 0; j < nv; j++)
            if (data_build(opt, vocabs[j])) return -1;
    }
    /* The data's identity: what the tokenizer, shards and tasks steps produced
     * (their manifests' content hashes, which leave out build times and machines). */
    static const char *const parts[] = {"tokenizer.json", "shards/manifest.json", "tasks/manifest.json"};
    pq_sha256 *h = pq_sha256_begin();
    int rc = 0;
    for (size_t i = 0; i < PQ_COUNT(parts) && rc == 0; i++) {
        char *path = pq_path_join(opt->data_dir, parts[i]);
        json_t *m = pq_file_exists(path) ? pq_json_read(path) : NULL;
        const char *content = json_string_value(json_object_get(m, "content_sha256"));
        if (!content)
            rc = pq_fail("%s: no built data (run 'pq data build --data-dir %s' first)", path, opt->data_dir);
        else
            pq_sha256_update(h, content, strlen(content));
        json_decref(m);
        free(path);
    }
    for (int j = 0; j < nv && rc == 0; j++) {
        pq_data_paths p;
        pq_data_paths_init(&p, opt->data_dir, vocabs[j]);
        char *shards = pq_path_join(p.shards_dir, "manifest.json");
        const char *files[] = {p.tokenizer_manifest, shards};
        for (size_t k = 0; k < PQ_COUNT(files) && rc == 0; k++) {
            json_t *m = pq_file_exists(files[k]) ? pq_json_read(files[k]) : NULL;
            const char *content = json_string_value(json_object_get(m, "content_sha256"));
            if (!content) rc = pq_fail("%s: no built data (run 'pq data build --vocab %d' first)", files[k], vocabs[j]);
            else pq_sha256_update(h, content, strlen(content));
            json_decref(m);
        }
        free(shards);
        pq_data_paths_free(&p);
    }
    pq_sha256_end(h, NULL, hash);
    return rc;
}

/* Writes DIR/<tier>/<suite>.{json,csv}. Rows this invocation could not measure
 * keep what the previous file measured for them (pq_results_keep_measured):
 * a failed run is reported by the exit status, not by erasing results. */
static int write_results(const pq_harness_options *opt, const char *suite, const json_t *agg) {
    char name[256];
    snprintf(name, sizeof name, "%s/%s.json", opt->tier, suite);
    char *path = pq_path_join(opt->out_dir, name);
    char *dir = pq_path_join(opt->out_dir, opt->tier);
    pq_remove_stale_tmp(dir); /* what a killed suite run left */
    free(dir);
    json_t *out = json_deep_copy(agg);
    json_t *previous = pq_file_exists(path) ? pq_json_read(path) : NULL;
    int kept = previous ? pq_results_keep_measured(out, previous) : 0;
    json_decref(previous);
    if (kept) {
        json_object_set_new(out, "rows_kept_from_previous", json_integer(kept));
        fprintf(stderr, "pq suite: %s: %d rows not measured this time keep their previous results\n", path, kept);
    }
    int rc = pq_json_write(out, path);
    if (rc == 0) {
        strcpy(path + strlen(path) - 4, "csv");
        rc = pq_results_write_csv(out, path);
    }
    if (rc == 0) fprintf(stderr, "pq suite: wrote %s/%s/%s.{json,csv}\n", opt->out_dir, opt->tier, suite);
    json_decref(out);
    free(path);
    return rc;
}

int pq_harness_run(const char *const *names, int count, const pq_harness_options *opt, json_t **results) {
    *results = NULL;
    int all = count == 1 && !strcmp(names[0], "all");
    int n = all ? pq_suite_count : count;
    pq_suite *suites = pq_calloc((size_t)n, sizeof *suites);
    pq_plan plan;
    char data_hash[PQ_SHA256_HEX] = "none";
    int rc = 0, loaded = 0;
    pq_lock lock = {-1, NULL};
    for (; loaded < n && rc == 0; loaded++)
        rc = pq_suite_load(&suites[loaded], opt->suites_dir, all ? pq_suite_names[loaded] : names[loaded], opt->tier);
    if (rc == 0 && opt->execute && !opt->dry_run) {
        /* One suite invocation at a time per runs directory (a second one waits,
         * then reuses what the first finished), and none of our runs outlives us. */
        pq_children_stop_with_us();
        rc = pq_lock_dir(&lock, opt->runs_dir, PQ_LOCK_WAIT);
    }
    if (rc == 0 && needs_data(suites, n)) rc = build_data(opt, suites, n, data_hash);
    pq_plan_init(&plan, opt->runs_dir, opt->data_dir, data_hash);
    plan.device = opt->device;
    for (int i = 0; i < n && rc == 0; i++) rc = pq_suite_expand(&suites[i], &plan);
    if (rc == 0) {
        pq_schedule_options sched = {opt->jobs, opt->dry_run || !opt->execute, opt->pq};
        int failed = 0, detached = opt->slurm && opt->slurm->detach && !opt->dry_run;
        if (opt->status) {
            failed = pq_slurm_status(&plan, opt->status == 2);
            if (failed < 0) rc = -1;
        } else if (opt->slurm && opt->execute && !opt->dry_run) {
            failed = pq_slurm_schedule(&plan, opt->slurm, opt->pq);
            if (failed < 0) rc = -1;
        } else if (opt->execute || opt->dry_run) {
            failed = pq_schedule(&plan, &sched);
        } else {
            /* Aggregate only: mark what is already done. */
            for (int i = 0; i < plan.count; i++) {
                char *done = pq_run_file(&plan.runs[i], "DONE");
                plan.runs[i].state = pq_file_exists(done) ? RUN_DONE : RUN_PENDING;
                failed += plan.runs[i].state != RUN_DONE;
                free(done);
            }
        }
        if (rc == 0 && !opt->dry_run && !opt->status && !detached) {
            *results = json_object();
            for (int i = 0; i < n && rc == 0; i++) {
                json_t *agg = pq_suite_aggregate(&suites[i], &plan);
                json_t *manifest = json_object_get(agg, "manifest");
                pq_manifest_finish(manifest);
                /* Where its training and evaluation ran (timings always run on the CPU);
                 * each run's own manifest names the GPU. */
                json_object_set_new(manifest, "device", json_string(opt->device ? opt->device : "cpu"));
                if (opt->out_dir) rc = write_results(opt, suites[i].name, agg);
                json_object_set_new(*results, suites[i].name, agg);
            }
        }
        if (rc == 0 && failed) rc = 1;
    }
    for (int i = 0; i < loaded; i++) pq_suite_free(&suites[i]);
    free(suites);
    pq_plan_free(&plan);
    pq_lock_release(&lock);
    return rc;
}
