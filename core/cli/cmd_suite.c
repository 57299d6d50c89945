/* pq suite — run the fixed experiment suites, one per paper figure/table. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "harness/harness.h"
#include "harness/suite.h"

static void usage(void) {
    printf("usage: pq suite run NAME...|all [--tier T] [-j N] [--dry-run] [--out DIR] [--executor slurm ...]\n"
           "       pq suite status|cancel NAME...|all [--tier T] [--runs-dir DIR]\n"
           "       pq suite list\n\n"
           "Expands suites into runs (data -> pretrain -> QAT/PTQ -> eval), runs what is not\n"
           "done yet (finished runs are reused across suites and invocations; interrupted\n"
           "ones resume from their checkpoints) and aggregates DIR/<tier>/<suite>.{json,csv}.\n\n"
           "  --tier T        %s (default small; medium where a suite defines it)\n"
           "  -j N            runs at once (default 1; each run uses PQ_THREADS threads)\n"
           "  --dry-run       print the commands of the runs that would execute; stderr says what\n"
           "                  they cost (runs per kind, training tokens per model), as a real run does\n"
           "  --out DIR       aggregated results (default $PQ_WORK/results; results/ holds the\n"
           "                  committed reference: --out results updates it)\n"
           "  --suites DIR    suite definitions (default suites)\n"
           "  --data-dir DIR  built data (default $PQ_WORK/data)\n"
           "  --runs-dir DIR  run directories (default $PQ_WORK/runs)\n"
           "  --device D      cpu (default; or PQ_DEVICE) or cuda: pretrain, qat, ptq and eval runs use\n"
           "                  the GPU (make CUDA=1); the device is part of their ids, so GPU runs never\n"
           "                  reuse CPU runs nor the reverse; with -j N, N runs share the GPU\n"
           "\nOn a Slurm cluster (--executor slurm), each run not yet done is one sbatch job that\n"
           "waits for its parents' jobs; runs dir, data and pq must be on a shared filesystem:\n"
           "  --executor E        local (default) or slurm\n"
           "  --partition P, --account A, --time HH:MM:SS, --gres G   sbatch options of every job\n"
           "  --cpus-per-run N    CPUs of each job (default 1), and its runs' PQ_THREADS unless set\n"
           "  --sbatch-arg ARG    one more sbatch argument (repeatable), e.g. --sbatch-arg=--qos=low\n"
           "  --detach            submit and return; 'pq suite status' / 'pq suite cancel' follow or\n"
           "                      stop the jobs, rerunning the command aggregates once they are done\n",
           pq_tier_list());
}

/* Fills the options shared by `pq suite run` and `pq check`; returns the index of the first positional. */
int pq_harness_parse(const char *cmd, int argc, char **argv, pq_harness_options *opt, const char **positional,
                     int *npositional, int *reuse) {
    static char work_data[512], work_runs[512], work_results[512], exe[4096];
    const char *work = getenv("PQ_WORK") && *getenv("PQ_WORK") ? getenv("PQ_WORK") : "work";
    snprintf(work_data, sizeof work_data, "%s/data", work);
    snprintf(work_runs, sizeof work_runs, "%s/runs", work);
    snprintf(work_results, sizeof work_results, "%s/results", work);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    *opt = (pq_harness_options){.tier = "small", .jobs = 1, .execute = 1, .pq = exe, .suites_dir = "suites",
                                .data_dir = work_data, .runs_dir = work_runs, .out_dir = work_results};
    *npositional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE() (next ? (i++, next) : (pq_usage_error(cmd, "%s needs a value", a), ""))
        if (!strcmp(a, "--tier")) {
            opt->tier = VALUE();
            if (!pq_tier_known(opt->tier)) pq_usage_error(cmd, "unknown tier '%s' (known: %s)", opt->tier, pq_tier_list());
        } else if (!strcmp(a, "-j") || !strcmp(a, "--jobs")) {
            opt->jobs = (int)pq_parse_int_in(cmd, a, VALUE(), PQ_POSITIVE, INT_MAX);
        } else if (!strncmp(a, "-j", 2) && a[2]) {
            opt->jobs = (int)pq_parse_int_in(cmd, "-j", a + 2, PQ_POSITIVE, INT_MAX);
        } else if (!strcmp(a, "--dry-run")) {
            opt->dry_run = 1;
        } else if (!strcmp(a, "--out")) {
            opt->out_dir = VALUE();
        } else if (!strcmp(a, "--suites")) {
            opt->suites_dir = VALUE();
        } else if (!strcmp(a, "--data-dir")) {
            opt->data_dir = VALUE();
        } else if (!strcmp(a, "--runs-dir")) {
            opt->runs_dir = VALUE();
        } else if (!strcmp(a, "--device")) {
            opt->device = VALUE();
        } else if (reuse && !strcmp(a, "--reuse")) {
            *reuse = 1;
        } else if (a[0] == '-') {
            pq_usage_error(cmd, "unknown option '%s'", a);
        } else {
            positional[(*npositional)++] = a;
        }
#undef VALUE
    }
    /* The plan is a pure function of the name (a dry run works in any build); the runs
     * themselves fail in a build without CUDA. */
    if (!opt->device || !*opt->device) opt->device = getenv("PQ_DEVICE");
    if (opt->device && *opt->device && strcmp(opt->device, "cpu") && strcmp(opt->device, "cuda"))
        pq_usage_error(cmd, "--device: unknown device '%s' (known: cpu, cuda)", opt->device);
    if (opt->device && strcmp(opt->device, "cuda")) opt->device = NULL;
    return 0;
}

/* Takes the Slurm executor's flags out of argv (the rest goes to pq_harness_parse);
 * returns argc left. s->cpus_per_run == 0 afterwards: no --executor slurm. */
static int take_slurm_flags(int argc, char **argv, pq_slurm_options *s) {
    static const char *sbatch_args[64];
    int kept = 0, slurm = 0, given = 0;
    *s = (pq_slurm_options){.cpus_per_run = 1, .sbatch_args = sbatch_args, .poll_seconds = 5};
    const char *poll = getenv("PQ_SLURM_POLL"); /* seconds between squeue calls; tests poll faster */
    if (poll && atof(poll) > 0) s->poll_seconds = atof(poll);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t len = eq && !strncmp(a, "--", 2) ? (size_t)(eq - a) : strlen(a);
        const char *value = eq && len < strlen(a) ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
#define IS(flag) (strlen(flag) == len && !strncmp(a, flag, len))
#define VALUE() (value ? (i += !eq || len == strlen(a), given++, value) : (pq_usage_error("suite", "%.*s needs a value", (int)len, a), ""))
        if (IS("--executor")) {
            const char *e = value ? (i += !eq || len == strlen(a), value) : (pq_usage_error("suite", "--executor needs a value"), "");
            if (strcmp(e, "local") && strcmp(e, "slurm")) pq_usage_error("suite", "--executor: unknown executor '%s' (local, slurm)", e);
            slurm = !strcmp(e, "slurm");
        } else if (IS("--partition")) {
            s->partition = VALUE();
        } else if (IS("--account")) {
            s->account = VALUE();
        } else if (IS("--gres")) {
            s->gres = VALUE();
        } else if (IS("--time")) {
            s->time = VALUE();
            if (!*s->time || strspn(s->time, "0123456789:-") != strlen(s->time))
                pq_usage_error("suite", "--time: '%s' is not a Slurm time (HH:MM:SS, MM, D-HH:MM:SS)", s->time);
        } else if (IS("--cpus-per-run")) {
            s->cpus_per_run = (int)pq_parse_int_in("suite", "--cpus-per-run", VALUE(), PQ_POSITIVE, 4096);
        } else if (IS("--sbatch-arg")) {
            if (s->nsbatch_args == (int)PQ_COUNT(sbatch_args)) pq_usage_error("suite", "too many --sbatch-arg");
            sbatch_args[s->nsbatch_args++] = VALUE();
        } else if (IS("--detach")) {
            s->detach = 1, given++;
        } else {
            argv[kept++] = argv[i];
        }
#undef VALUE
#undef IS
    }
    if (given && !slurm) pq_usage_error("suite", "--partition, --account, --time, --cpus-per-run, --gres, --sbatch-arg and --detach need --executor slurm");
    if (!slurm) s->cpus_per_run = 0;
    return kept;
}

int cmd_suite(int argc, char **argv) {
    if (pq_wants_help(argc, argv) || argc < 2) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "list")) {
        for (int i = 0; i < pq_suite_count; i++) printf("%s\n", pq_suite_names[i]);
        return 0;
    }
    int status = !strcmp(argv[1], "status") ? 1 : !strcmp(argv[1], "cancel") ? 2 : 0;
    if (strcmp(argv[1], "run") != 0 && !status)
        pq_usage_error("suite", "unknown action '%s' (run, status, cancel, list)", argv[1]);
    pq_harness_options opt;
    pq_slurm_options slurm;
    const char **names = pq_calloc((size_t)argc, sizeof *names);
    int count;
    argc = 1 + take_slurm_flags(argc - 1, argv + 1, &slurm);
    pq_harness_parse("suite", argc - 1, argv + 1, &opt, names, &count, NULL);
    if (count == 0) pq_usage_error("suite", "name a suite or 'all'");
    if (slurm.cpus_per_run) opt.slurm = &slurm;
    if (status) opt.status = status, opt.execute = 0;
    json_t *results;
    int rc = pq_harness_run(names, count, &opt, &results);
    if (rc < 0) fprintf(stderr, "pq suite: %s\n", pq_error());
    if (rc > 0 && !status)
        fprintf(stderr, "pq suite: some runs failed; their rows are marked incomplete or keep their previous results\n");
    json_decref(results);
    free(names);
    return rc ? 1 : 0;
}
