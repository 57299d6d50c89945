/* pq export — a pq checkpoint out to another format.
 *
 *   pq export --format safetensors --from MODEL.ckpt --out DIR
 *        a Hugging Face directory (interop/hf.h): config.json, model.safetensors with the
 *        (dequantized) weights in F32 and, for a quantized checkpoint, each linear's codes
 *        and scales as extra tensors and meta.quant as config.json's quantization_config;
 *        an imported model's tokenizer file beside them, its BOS/EOS in config.json.
 *   pq export --format gguf --from MODEL.ckpt --out FILE.gguf [--tokenizer FILE] [--ternary TQ1_0|TQ2_0]
 *        GGUF v3 for llama.cpp (interop/gguf.h); prints each tensor's type and, where a
 *        quantized linear could not be stored exactly in a more compact llama.cpp block
 *        type, why. */
#include <stdio.h>
#include <string.h>

#include "base/ckpt.h"
#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "cli/cli.h"
#include "eval/tokenizer.h"
#include "interop/gguf.h"
#include "interop/hf.h"
#include "quant/qexport.h"
#include "train/data.h"

static void usage(void) {
    printf("usage: pq export --format safetensors --from MODEL.ckpt --out DIR   (with the imported model's tokenizer)\n"
           "       pq export --format gguf --from MODEL.ckpt --out FILE.gguf [--tokenizer FILE] [--ternary T]\n\n"
           "  --format F   safetensors: a Hugging Face LLaMA directory (config.json, model.safetensors)\n"
           "               gguf: a GGUF v3 file for llama.cpp; quantized linears as TQ2_0/TQ1_0,\n"
           "               Q2_K, Q4_0 or Q8_0 where that holds our levels exactly, else F32 (the\n"
           "               reasons are printed)\n"
           "  --tokenizer FILE  gguf: the vocabulary llama.cpp tokenizes with: pq's (work/data/tokenizer.bpe),\n"
           "               a byte-level tokenizer.json or a SentencePiece BPE tokenizer.model (default:\n"
           "               the one pq import hf recorded for an imported model)\n"
           "  --ternary T  gguf: ternary linears as TQ2_0 (default, 2.06 bits/weight) or TQ1_0 (1.69)\n"
           "  --from FILE  a model checkpoint (pq pretrain, qat, ptq or import)\n"
           "  --out DIR    the directory to write\n");
}

/* The BOS and EOS that pq eval and generate use with opt->tokenizer (config.json's
 * beside it, else the tokenizer's own; bos >= 0: the one pq import hf recorded). The
 * recorded tokenizer must still be the file the model was imported with. */
static int tokenizer_ids(pq_gguf_options *opt, long long bos, const pq_ckpt *c, const char *from, int recorded) {
    opt->bos = opt->eos = -1;
    if (!opt->tokenizer) return 0;
    pq_eval_tokenizer tok;
    pq_tokenizer_info info;
    if (pq_eval_tokenizer_open(opt->tokenizer, (int32_t)bos, &tok, &info)) return -1;
    opt->bos = tok.bos, opt->eos = info.eos;
    tok.free(tok.impl);
    return recorded ? pq_check_ckpt_tokenizer(from, pq_ckpt_tokenizer_hash(c->meta), opt->tokenizer, info.hash) : 0;
}

/* A Hugging Face directory is whole with its tokenizer: the recorded file is copied in
 * under its own name (tokenizer.json or tokenizer.model), and config.json gets the
 * BOS and EOS ids pq used, so that pq import hf of the directory records it again. */
static int copy_tokenizer(const pq_gguf_options *opt, const char *dir) {
    const char *slash = strrchr(opt->tokenizer, '/');
    char *dst = pq_path_join(dir, slash ? slash + 1 : opt->tokenizer), *cp = pq_path_join(dir, "config.json");
    size_t n;
    char *data = pq_read_file(opt->tokenizer, &n);
    json_t *cfg = data ? pq_json_read(cp) : NULL;
    int rc = !cfg || pq_write_file_atomic(dst, data, n);
    if (!rc) {
        if (opt->bos >= 0) json_object_set_new(cfg, "bos_token_id", json_integer(opt->bos));
        if (opt->eos >= 0) json_object_set_new(cfg, "eos_token_id", json_integer(opt->eos));
        rc = pq_json_write(cfg, cp);
    }
    json_decref(cfg), free(data), free(dst), free(cp);
    return rc ? -1 : 0;
}

int cmd_export(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *format = NULL, *from = NULL, *out = NULL, *ternary = NULL;
    pq_gguf_options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else if (!strcmp(argv[i], "--from") && i + 1 < argc) from = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) opt.tokenizer = argv[++i];
        else if (!strcmp(argv[i], "--ternary") && i + 1 < argc) ternary = argv[++i];
        else pq_usage_error("export", "unknown argument '%s'", argv[i]);
    }
    if (!format || !from || !out) pq_usage_error("export", "needs --format, --from and --out");
    int gguf = !strcmp(format, "gguf");
    if (!gguf && strcmp(format, "safetensors")) pq_usage_error("export", "unknown --format '%s' (safetensors, gguf)", format);
    if ((opt.tokenizer || ternary) && !gguf) pq_usage_error("export", "--tokenizer and --ternary are for --format gguf");
    if (ternary && strcmp(ternary, "TQ1_0") && strcmp(ternary, "TQ2_0"))
        pq_usage_error("export", "unknown --ternary '%s' (TQ1_0, TQ2_0)", ternary);
    opt.ternary_tq1 = ternary && !strcmp(ternary, "TQ1_0");
    pq_ckpt *c = pq_ckpt_load(from);
    json_t *report = NULL;
    long long bos = -1;
    const char *recorded = NULL;
    if (c && !opt.tokenizer && pq_imported_tokenizer(c->meta, &recorded, &bos)) opt.tokenizer = recorded;
    if (c && tokenizer_ids(&opt, bos, c, from, recorded != NULL)) {
        fprintf(stderr, "pq export: %s\n", pq_error());
        pq_ckpt_free(c);
        return 1;
    }
    int rc = !c || pq_check_ckpt_weights(c, from) ||
             (gguf ? pq_gguf_export(c, from, &opt, out, &report)
                   : pq_hf_export(c, from, out) || (opt.tokenizer && copy_tokenizer(&opt, out)));
    if (rc) fprintf(stderr, "pq export: %s\n", pq_error());
    else printf("exported %s -> %s%s\n", from, out, gguf ? "" : opt.tokenizer ? " (config.json, model.safetensors, the tokenizer)" : " (config.json, model.safetensors)");
    if (!rc && opt.tokenizer) printf("  tokenizer %s (BOS %d, EOS %d)\n", opt.tokenizer, opt.bos, opt.eos);
    size_t i;
    json_t *row;
    int fp32_scales = 0;
    json_array_foreach(json_object_get(report, "tensors"), i, row) {
        const char *reason = json_string_value(json_object_get(row, "reason"));
        printf("  %-28s %-5s%s%s\n", json_string_value(json_object_get(row, "name")),
               json_string_value(json_object_get(row, "type")), reason ? "  not exact in " : "",
               reason ? reason : "");
        fp32_scales |= reason && strstr(reason, "is not an fp16 number");
    }
    json_array_foreach(json_object_get(report, "notes"), i, row) printf("  note: %s\n", json_string_value(row));
    if (fp32_scales)
        printf("  (scales that are not fp16 numbers: pq qat/ptq --scale-fp16 trains or quantizes a model that these "
               "types hold exactly)\n");
    json_decref(report);
    pq_ckpt_free(c);
    return rc ? 1 : 0;
}
