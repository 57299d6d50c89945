/* pq export — a pq checkpoint out to another format.
 *
 *   pq export --format safetensors --from MODEL.ckpt --out DIR
 *        a Hugging Face directory (interop/hf.h): config.json, model.safetensors with the
 *        (dequantized) weights in F32 and, for a quantized checkpoint, each linear's codes
 *        and scales as extra tensors and meta.quant as config.json's quantization_config. */
#include <stdio.h>
#include <string.h>

#include "base/ckpt.h"
#include "base/util.h"
#include "cli/cli.h"
#include "interop/hf.h"
#include "quant/qexport.h"

static void usage(void) {
    printf("usage: pq export --format safetensors --from MODEL.ckpt --out DIR\n\n"
           "  --format F   safetensors: a Hugging Face LLaMA directory (config.json, model.safetensors)\n"
           "  --from FILE  a model checkpoint (pq pretrain, qat, ptq or import)\n"
           "  --out DIR    the directory to write\n");
}

int cmd_export(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *format = NULL, *from = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else if (!strcmp(argv[i], "--from") && i + 1 < argc) from = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else pq_usage_error("export", "unknown argument '%s'", argv[i]);
    }
    if (!format || !from || !out) pq_usage_error("export", "needs --format, --from and --out");
    if (strcmp(format, "safetensors")) pq_usage_error("export", "unknown --format '%s' (safetensors)", format);
    pq_ckpt *c = pq_ckpt_load(from);
    int rc = !c || pq_check_ckpt_weights(c, from) || pq_hf_export(c, from, out);
    if (rc) fprintf(stderr, "pq export: %s\n", pq_error());
    else printf("exported %s -> %s (config.json, model.safetensors)\n", from, out);
    pq_ckpt_free(c);
    return rc ? 1 : 0;
}
