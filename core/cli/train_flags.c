#include "cli/train_flags.h"

#include <stdio.h>
#include <string.h>

#include "base/bf16.h"
#include "cli/cli.h"
#include "cli/mem_plan.h"

void pq_parse_flags(const char *cmd, int argc, char **argv, const pq_flag *flags, size_t n) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const pq_flag *f = NULL;
        for (size_t k = 0; k < n && !f; k++)
            if (!strcmp(a, flags[k].name)) f = &flags[k];
        if (!f) {
            if (strncmp(a, "--", 2)) pq_usage_error(cmd, "unexpected argument '%s'", a);
            pq_usage_error(cmd, "unknown argument '%s'", a);
        }
        if (f->on) {
            *f->on = 1;
            continue;
        }
        if (i + 1 >= argc) pq_usage_error(cmd, "%s needs a value", a);
        const char *v = argv[++i];
        if (f->text) *f->text = v;
        else if (f->integer) *f->integer = pq_parse_int_in(cmd, a, v, f->range, f->max);
        else if (f->number) *f->number = pq_parse_double_in(cmd, a, v, f->range);
        else pq_die("flag %s has no destination", a);
    }
}

void pq_train_flags_init(pq_train_flags *f) {
    f->tokens = f->batch = f->grad_accum = f->seq_len = f->seed = f->warmup = -1;
    f->eval_interval = f->eval_tokens = f->ckpt_interval = -1;
    f->lr = f->min_lr_ratio = -1;
}

void pq_train_flags_apply(const pq_train_flags *f, pq_train_config *tc) {
    if (f->tokens >= 0) tc->tokens = f->tokens;
    if (f->batch > 0) tc->batch = (int)f->batch;
    if (f->grad_accum > 0) tc->grad_accum = (int)f->grad_accum;
    if (f->seed >= 0) tc->seed = (uint64_t)f->seed;
    if (f->warmup >= 0) tc->warmup = f->warmup;
    if (f->min_lr_ratio >= 0) tc->min_lr_ratio = f->min_lr_ratio;
    if (f->eval_interval >= 0) tc->eval_interval = f->eval_interval;
    if (f->eval_tokens >= 0) tc->eval_tokens = f->eval_tokens;
    if (f->ckpt_interval >= 0) tc->ckpt_interval = f->ckpt_interval;
    if (f->lr > 0) tc->lr = f->lr;
}

int pq_device_flag(const char *cmd, const char *text, pq_device *out) {
    if (!pq_device_parse(text, out)) return 0;
    fprintf(stderr, "pq %s: %s\n", cmd, pq_error());
    return strstr(pq_error(), "built without CUDA") ? 1 : 2;
}

int pq_parse_precision(const char *cmd, const char *text, pq_gpu_precision *gpu) {
    *gpu = PQ_GPU_FP32;
    if (!text || !strcmp(text, "bf16")) return text != NULL;
    if (pq_gpu_precision_parse(text, gpu))
        pq_usage_error(cmd, "--precision: unknown precision '%s' (known: fp32, bf16 on the CPU, tf32 on cuda)", text);
    return 0;
}

void pq_apply_precision(const char *cmd, int bf16, pq_device device) {
    if (!bf16) return;
    if (device == PQ_DEVICE_CUDA) pq_usage_error(cmd, "--precision bf16 is the CPU's; with --device cuda use fp32 or tf32");
    pq_set_matmul_precision(PQ_MATMUL_BF16);
}

json_t *pq_matmul_info(void) {
    int bf16 = pq_matmul_precision_now() == PQ_MATMUL_BF16;
    if (!bf16) return json_pack("{s:s}", "precision", "fp32");
    return json_pack("{s:s, s:s, s:s, s:s}", "precision", "bf16", "linears",
                     "inputs rounded to bf16 (nearest even), products summed in fp32, fp32 master weights",
                     "attention", "fp32", "kernel",
                     pq_bf16_native() ? "pq avx512_bf16 (vdpbf16ps)" : "portable (bf16-rounded copies, OpenBLAS sgemm)");
}

void pq_manifest_recompute(json_t *manifest, int on, int asked) {
    json_object_set_new(manifest, "recompute", json_boolean(on));
    if (on && !asked) {
        char why[96];
        snprintf(why, sizeof why, "--max-memory %s", pq_max_memory ? pq_max_memory : "?");
        json_object_set_new(manifest, "recompute_reason", json_string(why));
    }
}
