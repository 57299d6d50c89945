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
    printf("usage: pq suite run NAME...|all [--tier T] [-j N] [--dry-run] [--out DIR]\n"
           "       pq suite list\n\n"
           "Expands suites into runs (data -> pretrain -> QAT/PTQ -> eval), runs what is not\n"
           "done yet (finished runs are reused across suites and invocations; interrupted\n"
           "ones resume from their checkpoints) and aggregates DIR/<tier>/<suite>.{json,csv}.\n\n"
           "  --tier T        smoke, small (default) or full\n"
           "  -j N            runs at once (default 1; each run uses PQ_THREADS threads)\n"
           "  --dry-run       print the commands of the runs that would execute\n"
           "  --out DIR       aggregated results (default $PQ_WORK/results; results/ holds the\n"
           "                  committed reference: --out results updates it)\n"
           "  --suites DIR    suite definitions (default suites)\n"
           "  --data-dir DIR  built data (default $PQ_WORK/data)\n"
           "  --runs-dir DIR  run directories (default $PQ_WORK/runs)\n");
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
    *opt = (pq_harness_options){"small", 1, 0, 1, exe, "suites", work_data, work_runs, work_results};
    *npositional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
#define VALUE() (next ? (i++, next) : (pq_usage_error(cmd, "%s needs a value", a), ""))
        if (!strcmp(a, "--tier")) {
            opt->tier = VALUE();
            if (strcmp(opt->tier, "smoke") && strcmp(opt->tier, "small") && strcmp(opt->tier, "medium") &&
                strcmp(opt->tier, "full"))
                pq_usage_error(cmd, "unknown tier '%s' (smoke, small, medium, full)", opt->tier);
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
        } else if (reuse && !strcmp(a, "--reuse")) {
            *reuse = 1;
        } else if (a[0] == '-') {
            pq_usage_error(cmd, "unknown option '%s'", a);
        } else {
            positional[(*npositional)++] = a;
        }
#undef VALUE
    }
    return 0;
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
    if (strcmp(argv[1], "run") != 0) pq_usage_error("suite", "unknown action '%s' (run, list)", argv[1]);
    pq_harness_options opt;
    const char **names = pq_calloc((size_t)argc, sizeof *names);
    int count;
    pq_harness_parse("suite", argc - 1, argv + 1, &opt, names, &count, NULL);
    if (count == 0) pq_usage_error("suite", "name a suite or 'all'");
    json_t *results;
    int rc = pq_harness_run(names, count, &opt, &results);
    if (rc < 0) fprintf(stderr, "pq suite: %s\n", pq_error());
    if (rc > 0) fprintf(stderr, "pq suite: some runs failed; their rows are marked incomplete or keep their previous results\n");
    json_decref(results);
    free(names);
    return rc ? 1 : 0;
}
