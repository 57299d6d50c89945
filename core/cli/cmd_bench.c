/* pq bench — runs the benchmarks and writes their results files. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "data/bench_data.h"
#include "eval/bench_eval.h"
#include "kernels/bench_kernels.h"
#include "kernels/infer.h"
#include "train/bench_train.h"

static void usage(void) {
    printf("usage: pq bench [train|kernels|eval|tokenizer|all] [--out DIR] [--quick]\n"
           "       pq bench decode --model CKPT [--out DIR]\n\n"
           "Writes DIR/train.json (training tokens/s and GFLOP/s vs the OpenBLAS sgemm ceiling)\n"
           "DIR/kernels.json (low-bit GEMV/GEMM vs OpenBLAS and DRAM bandwidth)\n"
           "DIR/eval.json (zero-shot scoring items/s and perplexity tokens/s)\n"
           "and DIR/tokenizer.json (BPE training time and encode MB/s on the built corpus; 'all' skips it\n"
           "when there is no corpus yet).\n"
           "  --out DIR   where results go (default results/bench)\n"
           "  --quick     fewer repetitions and sizes (for smoke tests; numbers are noisier)\n"
           "pq bench decode writes DIR/results.json: tokens/s of one checkpoint decoded with the\n"
           "packed-weight kernels (int8 activations, PQ_THREADS threads).\n");
}

int cmd_bench(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *which = "all", *out = "results/bench", *model = NULL;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out")) {
            if (++i >= argc) pq_usage_error("bench", "--out needs a directory");
            out = argv[i];
        } else if (!strcmp(argv[i], "--model")) {
            if (++i >= argc) pq_usage_error("bench", "--model needs a checkpoint");
            model = argv[i];
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (argv[i][0] == '-') {
            pq_usage_error("bench", "unknown option '%s'", argv[i]);
        } else if (!strcmp(argv[i], "train") || !strcmp(argv[i], "kernels") || !strcmp(argv[i], "eval") || !strcmp(argv[i], "tokenizer") ||
                   !strcmp(argv[i], "all") || !strcmp(argv[i], "decode")) {
            which = argv[i];
        } else {
            pq_usage_error("bench", "unknown benchmark '%s' (train, kernels, eval, tokenizer, decode, all)", argv[i]);
        }
    }
    if (!strcmp(which, "decode")) {
        if (!model) pq_usage_error("bench", "decode needs --model CKPT");
        pq_infer_options opt = pq_infer_defaults();
        if (pq_bench_decode_model(model, out, &opt) != 0) {
            fprintf(stderr, "pq bench: %s\n", pq_error());
            return 1;
        }
        return 0;
    }
    if (model) pq_usage_error("bench", "--model only applies to 'decode'");
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
    if (!strcmp(which, "tokenizer") || !strcmp(which, "all")) {
        int rc = pq_bench_tokenizer(out, NULL, quick);
        if (rc == 1 && !strcmp(which, "all")) fprintf(stderr, "pq bench: tokenizer skipped: %s\n", pq_error());
        else if (rc != 0) {
            fprintf(stderr, "pq bench: %s\n", pq_error());
            failed = 1;
        }
    }
    return failed;
}
