/* pq bench — runs the benchmarks and writes their results files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"
#include "data/bench_data.h"
#include "data/databuild.h"
#include "eval/bench_eval.h"
#include "kernels/bench_kernels.h"
#include "kernels/infer.h"
#include "model/model.h"
#include "quant/qat_bench.h"
#include "train/bench_bf16.h"
#include "train/bench_gpu.h"
#include "train/bench_train.h"
#include "train/data.h"

/* What fake quantization adds to a training step (issue target: at most 15%), for
 * pq bench train's entry "qat". */
static json_t *qat_step(const pq_model_config *mc, int batch, int quick) {
    return pq_qat_bench(mc, batch, mc->ctx, quick ? 1 : 3, quick ? 1 : 3, "paretoq", PQ_BITS_2);
}

static void usage(void) {
    printf("usage: pq bench [train|kernels|eval|tokenizer|bf16|all] [--out DIR] [--quick]\n"
           "       pq bench gpu [--out DIR] [--quick] [--shapes xs,s,m,l,mobilellm-125m]   (README: GPU; needs make CUDA=1 and a GPU)\n"
           "       pq bench gpu-kernels [--out DIR] [--quick]   (packed GEMV and attention on the GPU)\n"
           "       pq bench decode --model CKPT [--out DIR] [--head-f32|--head-b8] [--head-check N [--data DIR]]\n\n"
           "Writes DIR/train.json (training tokens/s and GFLOP/s vs the OpenBLAS sgemm ceiling)\n"
           "DIR/kernels.json (low-bit GEMV/GEMM vs OpenBLAS and DRAM bandwidth)\n"
           "DIR/eval.json (zero-shot scoring items/s and perplexity tokens/s)\n"
           "and DIR/tokenizer.json (BPE training time and encode MB/s on the built corpus; 'all' skips it\n"
           "when there is no corpus yet).\n"
           "pq bench bf16 writes DIR/bf16.json: training tokens/s with --precision bf16 against fp32,\n"
           "interleaved rounds and medians (xs4k, s4k, a width-768 model; not part of 'all').\n"
           "  --out DIR   where results go (default results/bench)\n"
           "  --quick     fewer repetitions and sizes (for smoke tests; numbers are noisier)\n"
           "pq bench decode writes DIR/results.json: tokens/s of one checkpoint decoded with the\n"
           "packed-weight kernels (int8 activations, PQ_THREADS threads; the head as pq generate's),\n"
           "the median of 5 rounds, and whether the machine was quiet (a WARNING when it was not).\n"
           "  --head-check N  also compare the int8 head with the fp32 head over the first N tokens of\n"
           "                  the validation text (DIR/shards val.bin of the model's vocab; --data DIR,\n"
           "                  default $PQ_WORK/data): top-1 agreement, logit differences, NLL of each head.\n");
}

/* The first n tokens of the validation text of the model's vocab, made by the
 * tokenizer the checkpoint records (its metadata alone: the decode loads the
 * tensors); the count read, or -1 + pq_error(). */
static int validation_text(const char *model, const char *data_dir, int n, int32_t **out) {
    pq_ckpt *c = pq_ckpt_peek(model, NULL);
    if (!c) return -1;
    pq_model_config cfg;
    char hash[128] = "";
    int rc = pq_model_config_from_ckpt(&cfg, c, model);
    if (pq_ckpt_tokenizer_hash(c->meta)) snprintf(hash, sizeof hash, "%s", pq_ckpt_tokenizer_hash(c->meta));
    pq_ckpt_free(c);
    if (rc != 0) return -1;
    pq_data_paths paths;
    pq_data_paths_init(&paths, data_dir, cfg.vocab);
    pq_token_stream ts = {0};
    rc = pq_tokens_load_shards(&ts, paths.shards_dir, "val");
    pq_data_paths_free(&paths);
    if (rc != 0) return -1;
    if (ts.vocab != cfg.vocab || (hash[0] && strcmp(hash, ts.vocab_hash) != 0)) {
        pq_fail("%s: the validation text (%s) is not in the tokenizer the model was trained with", model, ts.desc);
        pq_tokens_free(&ts);
        return -1;
    }
    int got = (int)PQ_MIN((int64_t)n, ts.n);
    *out = pq_malloc((size_t)got * sizeof(int32_t));
    for (int i = 0; i < got; i++) (*out)[i] = ts.tokens[i];
    pq_tokens_free(&ts);
    return got;
}

/* pq bench gpu [--out DIR] [--quick] [--shapes LIST]: DIR/gpu.json (train/bench_gpu.h); pq bench gpu-kernels:
 * DIR/gpu_kernels.json (kernels/bench_kernels.h). Not part of 'all': they need an NVIDIA GPU
 * (and PyTorch for the training comparison). */
static int bench_gpu_main(int argc, char **argv, int kernels) {
    const char *out = "results/bench", *shapes = NULL;
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!kernels && !strcmp(argv[i], "--shapes") && i + 1 < argc) shapes = argv[++i];
        else pq_usage_error("bench", "%s: unknown option '%s' (--out DIR, --quick%s)", argv[0], argv[i],
                            kernels ? "" : ", --shapes LIST");
    }
    if (!pq_bench_gpu_shapes_ok(shapes)) pq_usage_error("bench", "%s", pq_error());
    if ((kernels ? pq_bench_gpu_kernels(out, quick) : pq_bench_gpu(out, quick, shapes)) != 0) {
        fprintf(stderr, "pq bench: %s\n", pq_error());
        return 1;
    }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "gpu")) return bench_gpu_main(argc - 1, argv + 1, 0);
    if (argc >= 2 && !strcmp(argv[1], "gpu-kernels")) return bench_gpu_main(argc - 1, argv + 1, 1);
    const char *which = "all", *out = "results/bench", *model = NULL, *data_dir = NULL;
    int quick = 0, head = -1;
    long long head_check = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out")) {
            if (++i >= argc) pq_usage_error("bench", "--out needs a directory");
            out = argv[i];
        } else if (!strcmp(argv[i], "--model")) {
            if (++i >= argc) pq_usage_error("bench", "--model needs a checkpoint");
            model = argv[i];
        } else if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--head-f32") || !strcmp(argv[i], "--head-b8")) {
            head = !strcmp(argv[i], "--head-b8");
        } else if (!strcmp(argv[i], "--head-check")) {
            if (++i >= argc) pq_usage_error("bench", "--head-check needs a token count");
            head_check = pq_parse_int_in("bench", "--head-check", argv[i], PQ_POSITIVE, 10000000);
        } else if (!strcmp(argv[i], "--data")) {
            if (++i >= argc) pq_usage_error("bench", "--data needs a directory");
            data_dir = argv[i];
        } else if (argv[i][0] == '-') {
            pq_usage_error("bench", "unknown option '%s'", argv[i]);
        } else if (!strcmp(argv[i], "train") || !strcmp(argv[i], "kernels") || !strcmp(argv[i], "eval") || !strcmp(argv[i], "tokenizer") ||
                   !strcmp(argv[i], "all") || !strcmp(argv[i], "decode") || !strcmp(argv[i], "bf16")) {
            which = argv[i];
        } else {
            pq_usage_error("bench", "unknown benchmark '%s' (train, kernels, eval, tokenizer, decode, bf16, all)", argv[i]);
        }
    }
    if (!strcmp(which, "decode")) {
        if (!model) pq_usage_error("bench", "decode needs --model CKPT");
        pq_infer_options opt = pq_infer_defaults();
        opt.head_b8 = head;
        int32_t *text = NULL;
        int n_text = 0;
        if (head_check > 0 && (n_text = validation_text(model, data_dir, (int)head_check, &text)) < 0) {
            fprintf(stderr, "pq bench: %s\n", pq_error());
            return 1;
        }
        int rc = pq_bench_decode_model(model, out, &opt, text, n_text);
        free(text);
        if (rc != 0) {
            fprintf(stderr, "pq bench: %s\n", pq_error());
            return 1;
        }
        return 0;
    }
    if (model || head >= 0 || head_check || data_dir)
        pq_usage_error("bench", "--model, --head-*, --data only apply to 'decode'");
    int failed = 0;
    if (!strcmp(which, "bf16") && pq_bench_bf16(out, quick) != 0) {
        fprintf(stderr, "pq bench: %s\n", pq_error());
        failed = 1;
    }
    const pq_bench_train_extra qat = {"qat", "QAT step vs FP step", qat_step};
    if ((!strcmp(which, "train") || !strcmp(which, "all")) && pq_bench_train(out, quick, &qat) != 0) {
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
