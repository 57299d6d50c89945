/* pq import — bring a model from another format into a pq checkpoint.
 *
 *   pq import hf DIR --out MODEL.ckpt [--ctx N]   a Hugging Face LLaMA-family directory
 *   pq import logits MODEL.ckpt --tokens 1,2,3 --out FILE
 *        the model's logits [T, vocab] for one sequence as little-endian float32 (the
 *        training forward of core/model): what tests compare with a reference forward. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/util.h"
#include "cli/cli.h"
#include "eval/tokenizer.h"
#include "interop/hf.h"
#include "model/model.h"
#include "quant/qexport.h"

static void usage(void) {
    printf("usage: pq import hf DIR --out MODEL.ckpt [--ctx N]\n"
           "       pq import logits MODEL.ckpt --tokens ID,ID,... --out FILE\n\n"
           "hf: reads a Hugging Face LLaMA-architecture directory (config.json of LlamaForCausalLM or\n"
           "MobileLLMForCausalLM; model.safetensors or model.safetensors.index.json; F32, F16 or BF16)\n"
           "into a pq model checkpoint that pq qat, ptq, eval and generate use.\n"
           "  --out FILE   the checkpoint to write\n"
           "  --ctx N      cap the context (max_position_embeddings) at N tokens\n"
           "logits: writes the logits [T, vocab] of one token sequence as float32 (for checks).\n");
}

static int import_hf(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    int ctx = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--ctx") && i + 1 < argc) ctx = (int)pq_parse_int_in("import", "--ctx", argv[++i], PQ_POSITIVE, INT_MAX);
        else if (argv[i][0] == '-') pq_usage_error("import", "unknown flag '%s'", argv[i]);
        else if (!dir) dir = argv[i];
        else pq_usage_error("import", "unexpected argument '%s'", argv[i]);
    }
    if (!dir || !out) pq_usage_error("import", "hf needs DIR and --out MODEL.ckpt");
    double t0 = pq_now();
    pq_model *m = pq_hf_import(dir, ctx);
    if (!m) {
        fprintf(stderr, "pq import: %s\n", pq_error());
        return 1;
    }
    json_t *meta = json_pack("{s:{s:s, s:s}}", "source", "format", "huggingface", "dir", dir);
    char *why = NULL, *tok = pq_record_tokenizer(meta, dir, m->cfg.vocab, &why);
    if (why) fprintf(stderr, "pq import: note: no tokenizer recorded (%s)\n", why);
    int rc = pq_model_save(m, out, meta);
    json_decref(meta);
    if (rc) {
        fprintf(stderr, "pq import: %s\n", pq_error());
        pq_model_free(m);
        free(tok);
        free(why);
        return 1;
    }
    printf("imported %s: %d layers, dim %d, %d heads (%d kv), vocab %d, %s head, %lld parameters -> %s (%.1f s)\n", dir,
           m->cfg.n_layers, m->cfg.dim, m->cfg.n_heads, m->cfg.n_kv_heads, m->cfg.vocab,
           m->cfg.untied_head ? "untied" : "tied", (long long)m->n_params, out, pq_now() - t0);
    if (tok) printf("tokenizer %s recorded: pq eval uses it unless given --tokenizer\n", tok);
    free(tok);
    free(why);
    pq_model_free(m);
    return 0;
}

static int dump_logits(int argc, char **argv) {
    const char *path = NULL, *out = NULL, *tokens = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--tokens") && i + 1 < argc) tokens = argv[++i];
        else if (argv[i][0] == '-') pq_usage_error("import", "unknown flag '%s'", argv[i]);
        else if (!path) path = argv[i];
        else pq_usage_error("import", "unexpected argument '%s'", argv[i]);
    }
    if (!path || !out || !tokens) pq_usage_error("import", "logits needs MODEL.ckpt, --tokens and --out");
    pq_model *m = pq_model_load(path);
    if (!m) {
        fprintf(stderr, "pq import: %s\n", pq_error());
        return 1;
    }
    int T = 0;
    uint16_t *tok = pq_malloc(sizeof(uint16_t) * (strlen(tokens) / 2 + 1));
    for (const char *p = tokens; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= m->cfg.vocab || (*end && *end != ',') || T >= m->cfg.ctx) {
            free(tok);
            pq_model_free(m);
            pq_usage_error("import", "--tokens: ids in [0, %d), at most %d of them, comma-separated", m->cfg.vocab, m->cfg.ctx);
        }
        tok[T++] = (uint16_t)v;
        p = *end ? end + 1 : end;
    }
    if (!T) pq_usage_error("import", "--tokens: no ids");
    pq_acts *a = pq_acts_new(&m->cfg, 1, T);
    float *logits = pq_malloc(sizeof(float) * (size_t)T * m->cfg.vocab);
    pq_model_logits(m, a, tok, T, logits);
    int rc = pq_write_file_atomic(out, logits, sizeof(float) * (size_t)T * m->cfg.vocab);
    if (rc) fprintf(stderr, "pq import: %s\n", pq_error());
    free(logits), free(tok);
    pq_acts_free(a);
    pq_model_free(m);
    return rc ? 1 : 0;
}

int cmd_import(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    if (argc < 2) pq_usage_error("import", "expected 'hf' or 'logits'");
    if (!strcmp(argv[1], "hf")) return import_hf(argc, argv);
    if (!strcmp(argv[1], "logits")) return dump_logits(argc, argv);
    pq_usage_error("import", "unknown format '%s' (hf, logits)", argv[1]);
}
