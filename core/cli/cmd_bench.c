/* pq bench — runs the benchmarks and writes their results files. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "eval/bench_eval.h"
#include "kernels/bench_kernels.h"
#include "train/bench_train.h"

static void usage(void) {
    printf("usage: pq bench [train|kernels|eval|all] [--out DIR] [--quick]\n\n"
           "Writes DIR/train.json (training tokens/s and GFLOP/s vs the OpenBLAS sgemm ceiling)\n"
           "DIR/kernels.json (low-bit GEMV/GEMM vs OpenBLAS and DRAM bandwidth)\n"
           "and DIR/eval.json (zero-shot scoring items/s and perplexity tokens/s).\n"
           "  --out DIR   where results go (default results/bench)\n"
           "  --quick     fewer repetitions and sizes (for smoke tests; numbers are noisier)\n");
}

int cmd_bench(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *which = "all", *out = "results/bench";
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out")) {
            if (++i >= argc) pq_usage_error("bench", "--out needs a directory");
            out = argv[i];
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (argv[i][0] == '-') {
            pq_usage_error("bench", "unknown option '%s'", argv[i]);
        } else if (!strcmp(argv[i], "train") || !strcmp(argv[i], "kernels") || !strcmp(argv[i], "eval") ||
                   !strcmp(argv[i], "all")) {
            which = argv[i];
        } else {
            pq_usage_error("bench", "unknown benchmark '%s' (train, kernels, eval, all)", argv[i]);
        }
    }
    int failed = 0;
    if ((!strcmp(which, "train") || !strcmp(which, "all")) && pq_bench_train(out, quick) != 0) {
        fprintf(stderr, "pq bench: %s\n", pq_error());
        failed = 1;
    }
    if ((!strcmp(which, "kernels") || !strcmp(which, "all")) && pq_bench_kernels(out, quick) != 0) {
        fprintf(stderr, "pq bench: %s\n", pq_error());
        failed = 1;
    }
    if ((!strcmp(which, "eval") || !strcmp(which, "all")) && pq_bench_eval(out, quick) != 0) {
        fprintf(stderr, "pq bench: %s\n", pq_error());
        failed = 1;
    }
    return failed;
}
