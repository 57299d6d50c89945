/* pq — the paretoq command. Dispatches to one subcommand per concept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/blas.h"
#include "base/dist.h"
#include "base/manifest.h"
#include "cli/cli.h"
#include "cli/mem_plan.h"

static const pq_command commands[] = {
    {"data", "build the corpora, tokenizer, token shards and zero-shot tasks", cmd_data},
    {"pretrain", "full-precision pretraining of a model from a config", cmd_pretrain},
    {"qat", "quantization-aware training (or PTQ with --tokens 0) of a checkpoint", cmd_qat},
    {"ptq", "post-training quantization baselines (RTN, GPTQ)", cmd_ptq},
    {"eval", "zero-shot multiple-choice accuracy and perplexity", cmd_eval},
    {"generate", "generate text with packed low-bit weights", cmd_generate},
    {"import", "import a Hugging Face LLaMA-family model into a pq checkpoint", cmd_import},
    {"export", "export a checkpoint as a Hugging Face directory or a GGUF file", cmd_export},
    {"tokenize", "token ids of text with pq's, a tokenizer.json or a SentencePiece tokenizer", cmd_tokenize},
    {"bench", "training and low-bit kernel benchmarks", cmd_bench},
    {"suite", "run the fixed experiment suites (one per paper figure/table)", cmd_suite},
    {"check", "compare a tier's results with the stored reference", cmd_check},
    {"info", "print the machine, library and build description", cmd_info},
};

static void usage(FILE *out) {
    fprintf(out, "usage: pq <command> [options]   (pq <command> --help for its options)\n\n"
                 "paretoq %s: extremely low-bit LLM quantization, reproduced on a CPU.\n\ncommands:\n",
            pq_code_version());
    for (size_t i = 0; i < PQ_COUNT(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nenvironment:\n"
                 "  PQ_THREADS   threads for pq and OpenBLAS (default 1; recorded in every manifest)\n"
                 "  PQ_PROGRESS  0 = no progress lines (default: a redrawn line on a terminal, else a\n"
                 "               line every PQ_PROGRESS_INTERVAL seconds, default 30, of long work)\n"
                 "  PQ_BLAS_CORE OpenBLAS kernel to force (default: best for this CPU; see README)\n"
                 "  PQ_DEVICE    cpu or cuda: the default of --device (pretrain, qat, ptq, eval, suite)\n");
}

/* Under mpirun (or srun) only the training commands split their work over the ranks
 * (base/dist.h); any other command would run K times over the same files. */
static int run_command(const pq_command *c, int argc, char **argv) {
    int launched = pq_dist_launched_size();
    if (launched == 1) return c->run(argc, argv);
    if (strcmp(c->name, "pretrain") && strcmp(c->name, "qat")) {
        fprintf(stderr, "pq %s: started by an MPI launcher; only pq pretrain and pq qat run over MPI ranks\n", c->name);
        return 2;
    }
    if (pq_dist_init()) {
        fprintf(stderr, "pq %s: %s\n", c->name, pq_error());
        return 1;
    }
    int rc = c->run(argc, argv);
    pq_dist_end(rc);
    return rc;
}

int main(int argc, char **argv) {
    /* Large blocks always come from mmap and go back to the kernel when freed. glibc's
     * default raises that threshold to the largest block freed so far, after which a
     * checkpoint's tensors, loaded and freed one by one, fragment the heap instead: 11 MB
     * more at the peak of a 7.8M-parameter pq ptq. The threshold stays above the array
     * OpenBLAS mallocs on every threaded sgemm (blas.h says why). */
    pq_set_malloc_thresholds();
    pq_select_blas_core(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("pq %s\n", pq_code_version());
        return 0;
    }
    /* --max-memory SIZE: the commands that allocate a model plan their peak (cli/mem_plan.h). */
    static const char *const planned[] = {"pretrain", "qat", "ptq", "eval", "generate"};
    for (size_t i = 0; i < PQ_COUNT(planned); i++)
        if (!strcmp(argv[1], planned[i])) {
            int n = argc - 1;
            pq_mem_take_flag(argv[1], &n, argv + 1);
            argc = n + 1;
        }
    for (size_t i = 0; i < PQ_COUNT(commands); i++)
        if (!strcmp(argv[1], commands[i].name)) return run_command(&commands[i], argc - 1, argv + 1);
    fprintf(stderr, "pq: unknown command '%s' (see 'pq --help')\n", argv[1]);
    return 2;
}
