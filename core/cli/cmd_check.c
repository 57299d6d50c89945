/* pq check — rerun (or reuse) a tier and compare every metric with the stored reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "cli/cli.h"
#include "harness/check.h"
#include "harness/harness.h"
#include "harness/suite.h"

int pq_harness_parse(const char *cmd, int argc, char **argv, pq_harness_options *opt, const char **positional,
                     int *npositional, int *reuse);

static void usage(void) {
    printf("usage: pq check [NAME...|all] [--tier T] [-j N] [--reuse] [--reference DIR]\n\n"
           "Runs the tier's suites (reusing finished runs), writes fresh results to\n"
           "$PQ_WORK/results/<tier>/ and compares every metric with the stored reference in\n"
           "results/<tier>/ under the tolerances each suite declares. Prints what moved;\n"
           "exits 1 on any regression or missing result.\n\n"
           "  --reuse          run nothing: compare what the finished runs already give\n"
           "  --reference DIR  the reference results (default results)\n"
           "  (other options as for 'pq suite run')\n");
}

int cmd_check(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *reference = "results";
    char **rest = pq_calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--reference")) {
            if (i + 1 >= argc) pq_usage_error("check", "--reference needs a directory");
            reference = argv[++i];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    pq_harness_options opt;
    const char **names = pq_calloc((size_t)argc + 1, sizeof *names);
    int count, reuse = 0;
    pq_harness_parse("check", nrest, rest, &opt, names, &count, &reuse);
    if (count == 0) names[count++] = "all";
    opt.execute = !reuse;
    json_t *results;
    int rc = pq_harness_run(names, count, &opt, &results);
    if (rc < 0) {
        fprintf(stderr, "pq check: %s\n", pq_error());
        return 1;
    }
    pq_check_summary sum = {0};
    const char *suite;
    json_t *fresh;
    printf("%-10s %-48s %-22s %12s %12s %10s  %s\n", "suite", "row", "metric", "reference", "new", "change", "verdict");
    json_object_foreach(results, suite, fresh) {
        char name[256];
        snprintf(name, sizeof name, "%s/%s.json", opt.tier, suite);
        char *path = pq_path_join(reference, name);
        json_t *ref = pq_file_exists(path) ? pq_json_read(path) : NULL;
        if (!ref) {
            printf("%-10s no stored reference at %s\n", suite, path);
            sum.missing++;
        } else {
            pq_check_suite(ref, fresh, stdout, &sum);
        }
        json_decref(ref);
        free(path);
    }
    printf("\npq check (%s): %d metrics compared, %d moved within tolerance, %d regressions, %d missing, %d new rows\n",
           opt.tier, sum.compared, sum.moved_within, sum.regressions, sum.missing, sum.added);
    json_decref(results);
    free(names), free(rest);
    return rc != 0 || sum.regressions > 0 || sum.missing > 0 ? 1 : 0;
}
