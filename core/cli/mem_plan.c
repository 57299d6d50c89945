#include "cli/mem_plan.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/ckpt.h"
#include "base/fsio.h"
#include "base/util.h"
#include "cli/cli.h"
#include "model/model.h"

const char *pq_max_memory = NULL;

double pq_parse_size(const char *text) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || !(v >= 0) || v > 1e18) return -1;
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, *end == 'k' ? 'K' : *end) : NULL;
    if (*end && (!u || (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB")))) return -1;
    for (const char *k = units; u && k <= u; k++) v *= 1024;
    return v;
}

void pq_mem_take_flag(const char *cmd, int *argc, char **argv) {
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--max-memory")) continue;
        if (i + 1 >= *argc) pq_usage_error(cmd, "--max-memory needs a value");
        if (pq_parse_size(argv[i + 1]) <= 0)
            pq_usage_error(cmd, "--max-memory expects a size such as 8G, 512M or 1000000000, got '%s'", argv[i + 1]);
        pq_max_memory = argv[i + 1];
        memmove(argv + i, argv + i + 2, sizeof *argv * (size_t)(*argc - i - 2));
        *argc -= 2, i--;
        argv[*argc] = NULL;
    }
}

/* A plan: its total and a readable breakdown. */
typedef struct {
    double bytes;
    char parts[512];
} plan;

static void add(plan *p, const char *what, double bytes) {
    p->bytes += bytes;
    size_t n = strlen(p->parts);
    snprintf(p->parts + n, sizeof p->parts - n, "%s%s %.1f", n ? ", " : "", what, bytes / (1 << 20));
}

static void human(char *buf, size_t n, double bytes) {
    if (bytes >= (double)(1 << 30)) snprintf(buf, n, "%.2f GiB", bytes / (1 << 30));
    else snprintf(buf, n, "%.1f MiB", bytes / (1 << 20));
}

static int check(const char *cmd, const plan *p) {
    if (!pq_max_memory) return 0;
    double limit = pq_parse_size(pq_max_memory);
    char need[32], allowed[32];
    human(need, sizeof need, p->bytes), human(allowed, sizeof allowed, limit);
    if (p->bytes > limit) {
        fprintf(stderr, "pq %s: needs about %s at its peak (MiB: %s), more than --max-memory %s allows (%s)\n", cmd, need,
                p->parts, pq_max_memory, allowed);
        return 1;
    }
    fprintf(stderr, "pq %s: planned peak %s (MiB: %s) within --max-memory %s\n", cmd, need, p->parts, pq_max_memory);
    return 0;
}

static double file_bytes(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size : 0.0;
}

/* The tokens --data loads (train and val), as pq_tokens_load_data holds them. */
static double data_bytes(const char *spec) {
    if (!spec) return 0;
    if (!strncmp(spec, "synthetic:", 10)) {
        double n = strtod(spec + 10, NULL);
        return 2.0 * (n + (n / 10 > 1024 ? n / 10 : 1024));
    }
    double sum = 0;
    DIR *d = opendir(spec);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".bin") && (!strncmp(e->d_name, "train", 5) || !strcmp(e->d_name, "val.bin"))) {
            char *path = pq_path_join(spec, e->d_name);
            sum += file_bytes(path);
            free(path);
        }
    }
    closedir(d);
    return sum;
}

/* Training's plan: the optimizer state, the activations as the run keeps them
 * (recompute: pq_acts' PQ_ACTS_RECOMPUTE), the tokens and a resumed state. */
static plan train_plan(const pq_model_config *mc, const pq_train_config *tc, int T, int qat, const char *data,
                       const char *out_dir, int recompute) {
    pq_param_counts pc = pq_model_param_counts(mc);
    double P = (double)pc.total, L = (double)pc.block_linear;
    plan p = {0};
    add(&p, "process", PQ_MEM_FIXED);
    add(&p, "weights+grads+AdamW", 16 * P);
    if (qat) add(&p, "QAT effective weights (one layer)", 4 * L / mc->n_layers);
    size_t acts = pq_acts_bytes_mode(mc, tc->batch, T, recompute ? PQ_ACTS_RECOMPUTE : PQ_ACTS_TRAIN);
    add(&p, recompute ? "activations (recomputed)" : "activations", acts == SIZE_MAX ? 1e300 : (double)acts);
    add(&p, "tokens", data_bytes(data));
    char *state = out_dir ? pq_path_join(out_dir, "state.ckpt") : NULL;
    if (state && pq_file_exists(state)) add(&p, "resumed state", 12 * P);
    free(state);
    return p;
}

int pq_mem_guard_train(const char *cmd, const pq_model_config *mc, const pq_train_config *tc, int T, int qat,
                       const char *data, const char *out_dir, int *recompute) {
    if (!pq_max_memory) return 0;
    int rec = recompute && *recompute;
    plan p = train_plan(mc, tc, T, qat, data, out_dir, rec);
    /* Over the limit with every layer's activations but within it when they are
     * recomputed: recompute. The results are the same bits, only slower, which
     * beats refusing a run the machine can hold. Over it either way: the refusal
     * names the least the run needs, recomputing. */
    if (recompute && !rec && p.bytes > pq_parse_size(pq_max_memory)) {
        plan r = train_plan(mc, tc, T, qat, data, out_dir, 1);
        if (r.bytes <= pq_parse_size(pq_max_memory)) {
            fprintf(stderr, "pq %s: --max-memory %s: recomputing activations (--recompute), %.1f MiB instead of %.1f MiB: "
                    "the same results, about a quarter more arithmetic in the layers\n",
                    cmd, pq_max_memory, r.bytes / (1 << 20), p.bytes / (1 << 20));
            *recompute = 1;
        }
        return check(cmd, &r);
    }
    return check(cmd, &p);
}

int pq_mem_guard_qat(const char *from, const char *config, const pq_train_flags *flags, const char *data,
                     const char *out_dir, int *recompute) {
    if (!pq_max_memory) return 0;
    pq_model_config mc;
    pq_train_config tc = pq_train_config_default();
    if (from) {
        pq_ckpt *c = pq_ckpt_peek(from, NULL);
        if (!c) return 0; /* the command reports the unreadable checkpoint itself */
        json_t *to = json_object_get(c->meta, "train");
        int ok = !pq_model_config_from_ckpt(&mc, c, from) && (!to || !pq_train_config_from_json(&tc, to, from));
        pq_ckpt_free(c);
        if (!ok) return 0;
    } else {
        json_t *raw = NULL;
        int bad = !config || pq_config_load(config, &mc, &tc, &raw);
        json_decref(raw);
        if (bad) return 0;
    }
    pq_train_flags_apply(flags, &tc);
    int T = flags->seq_len > 0 ? (int)flags->seq_len : mc.ctx;
    return pq_mem_guard_train("qat", &mc, &tc, T, 1, data, out_dir, recompute);
}

int pq_mem_guard_ckpt(const char *cmd, const char *ckpt, long long gptq_tokens, int act_batch) {
    if (!pq_max_memory) return 0;
    uint64_t payload = 0;
    pq_ckpt *c = pq_ckpt_peek(ckpt, &payload);
    if (!c) return 0;
    pq_model_config mc;
    int ok = !pq_model_config_from_ckpt(&mc, c, ckpt);
    int quantized = json_object_get(c->meta, "quant") != NULL;
    pq_ckpt_free(c);
    if (!ok) return 0;
    pq_param_counts pc = pq_model_param_counts(&mc);
    double P = (double)pc.total, L = (double)pc.block_linear;
    plan p = {0};
    add(&p, "process", PQ_MEM_FIXED);
    if (!strcmp(cmd, "generate")) {
        /* The decoder is built from the checkpoint's own buffers, each freed or kept as it is
         * used (pq_infer_take_ckpt): the checkpoint, plus the largest fused linear (gate|up)
         * while it is assembled, in fp32, or as codes of a byte a weight before packing. */
        add(&p, "checkpoint", (double)payload);
        add(&p, "one fused linear", (quantized ? 2.0 : 8.0) * mc.ffn_dim * (double)mc.dim);
        add(&p, "KV cache", 2.0 * mc.n_layers * mc.ctx * (double)mc.n_kv_heads * pq_head_dim(&mc) * 4);
    } else {
        /* the tensors go into the fp32 model one by one, each freed once copied (pq_model_take_ckpt) */
        add(&p, "fp32 model (loaded tensor by tensor)", 4 * P > (double)payload ? 4 * P : (double)payload);
        const int ptq = !strcmp(cmd, "ptq");
        if (ptq) add(&p, "codes and scales", 1.0 * L + 4.0 * L / mc.dim);
        /* pq ptq's forwards keep one layer's activations (the validation loss: and the head) */
        size_t acts = pq_acts_bytes_mode(&mc, act_batch, mc.ctx, ptq ? PQ_ACTS_FORWARD : PQ_ACTS_TRAIN);
        if (act_batch) add(&p, "activations", acts == SIZE_MAX ? 1e300 : (double)acts);
        if (gptq_tokens > 0) {
            /* layer by layer: the calibration set's residual stream, one layer's Hessians
             * (three of dim x dim, one of ffn x ffn, in double) and one linear's factor */
            const double D = mc.dim, F = mc.ffn_dim, w = D > F ? D : F;
            add(&p, "GPTQ calibration stream", 4.0 * (double)(gptq_tokens + mc.ctx) * D);
            add(&p, "GPTQ Hessians (one layer)", 8.0 * (3 * D * D + F * F) + 8.0 * w * w);
        }
    }
    return check(cmd, &p);
}
