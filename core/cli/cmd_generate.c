/* pq generate — decode text from a checkpoint with the packed-weight kernels. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cli/mem_plan.h"
#include "data/bpe.h"
#include "eval/tokenizer.h"
#include "kernels/infer.h"
#include "train/data.h"

static void usage(void) {
    printf("usage: pq generate --model CKPT (--prompt TEXT | --tokens ID,ID,...) [options]\n\n"
           "Decodes one token at a time with a KV cache. The block linears of a quantized checkpoint\n"
           "run packed (pq_pack formats, GEMV kernels); a full-precision checkpoint runs in fp32.\n"
           "Prints the prompt and its continuation on stdout, speed on stderr.\n"
           "  --model CKPT        model or quantized checkpoint\n"
           "  --prompt TEXT       text prompt (BOS is prepended)\n"
           "  --tokens LIST       token ids instead of text (output as ids; needs no tokenizer)\n"
           "  --tokenizer FILE    pq's BPE, a tokenizer.json or a SentencePiece tokenizer.model (default:\n"
           "                      the one pq import hf recorded, else $PQ_WORK/data/tokenizer.bpe or\n"
           "                      tokenizer-<V>.bpe)\n"
           "  --max-tokens N      tokens to generate (default 64; stops early at EOS or a full context)\n"
           "  --temperature T     0 = greedy (default 0.8)\n"
           "  --top-k K           sample among the K most likely tokens (default 40; 0 = all)\n"
           "  --seed S            sampling seed (default 1)\n"
           "  --act q8|f32        activations of the packed linears (default q8)\n"
           "  --ternary-1.6       pack ternary weights at 1.6 bits/weight instead of 2\n"
           "  --head-f32          fp32 output head (default: int8 with --act q8 on a quantized\n"
           "                      checkpoint, fp32 otherwise; README, Low-bit kernels, gives its cost)\n"
           "  --head-b8           int8 output head, also with --act f32 or an fp32 checkpoint\n");
}

/* Samples from logits with temperature and top-k; u uniform in [0, 1). */
static int sample(const float *logits, int V, double temperature, int top_k, double u) {
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (temperature <= 0.0) return best;
    /* threshold: the k-th largest logit (selection by repeated max is fine for small k) */
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) {
        char *taken = pq_calloc((size_t)V, 1);
        for (int k = 0; k < top_k; k++) {
            int arg = -1;
            for (int v = 0; v < V; v++)
                if (!taken[v] && (arg < 0 || logits[v] > logits[arg])) arg = v;
            taken[arg] = 1;
            cut = logits[arg];
        }
        free(taken);
    }
    double sum = 0.0;
    for (int v = 0; v < V; v++)
        if (logits[v] >= cut) sum += exp((logits[v] - logits[best]) / temperature);
    double target = u * sum, acc = 0.0;
    int last = best;
    for (int v = 0; v < V; v++)
        if (logits[v] >= cut) {
            acc += exp((logits[v] - logits[best]) / temperature);
            last = v;
            if (acc > target) return v;
        }
    return last;
}

static int all_finite(const float *v, int n) {
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static int parse_tokens(const char *text, int **out) {
    int n = 0, cap = 16;
    *out = pq_malloc(cap * sizeof(int));
    const char *p = text;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v >= (1 << 24)) return -1;
        if (n == cap) *out = pq_realloc(*out, (size_t)(cap *= 2) * sizeof(int));
        (*out)[n++] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return n;
}

int cmd_generate(int argc, char **argv) {
    if (pq_wants_help(argc, argv)) {
        usage();
        return 0;
    }
    const char *model = NULL, *prompt = NULL, *token_list = NULL, *tokenizer = NULL;
    long long max_tokens = 64, top_k = 40, seed = 1;
    double temperature = 0.8;
    pq_infer_options opt = pq_infer_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define VALUE() (i + 1 < argc ? argv[++i] : (pq_usage_error("generate", "%s needs a value", a), ""))
        if (!strcmp(a, "--model")) model = VALUE();
        else if (!strcmp(a, "--prompt")) prompt = VALUE();
        else if (!strcmp(a, "--tokens")) token_list = VALUE();
        else if (!strcmp(a, "--tokenizer")) tokenizer = VALUE();
        else if (!strcmp(a, "--max-tokens")) max_tokens = pq_parse_int_in("generate", a, VALUE(), PQ_NONNEG, INT_MAX);
        else if (!strcmp(a, "--temperature")) temperature = pq_parse_double_in("generate", a, VALUE(), PQ_NONNEG);
        else if (!strcmp(a, "--top-k")) top_k = pq_parse_int_in("generate", a, VALUE(), PQ_NONNEG, INT_MAX);
        else if (!strcmp(a, "--seed")) seed = pq_parse_int_in("generate", a, VALUE(), PQ_NONNEG, 0);
        else if (!strcmp(a, "--ternary-1.6")) opt.ternary_1_6 = 1;
        else if (!strcmp(a, "--head-b8")) opt.head_b8 = 1;
        else if (!strcmp(a, "--head-f32")) opt.head_b8 = 0;
        else if (!strcmp(a, "--act")) {
            const char *v = VALUE();
            if (!strcmp(v, "q8")) opt.act = PQ_ACT_Q8;
            else if (!strcmp(v, "f32")) opt.act = PQ_ACT_F32;
            else pq_usage_error("generate", "--act takes q8 or f32, not '%s'", v);
        } else pq_usage_error("generate", "unknown option '%s'", a);
#undef VALUE
    }
    if (!model) pq_usage_error("generate", "--model CKPT is required");
    if (!prompt == !token_list) pq_usage_error("generate", "give exactly one of --prompt TEXT and --tokens LIST");

    int *ids = NULL, n_ids = 0;
    if (token_list && (n_ids = parse_tokens(token_list, &ids)) <= 0)
        pq_usage_error("generate", "--tokens wants comma-separated token ids, got '%s'", token_list);

    if (pq_mem_guard_ckpt("generate", model, 0, 0)) {
        free(ids);
        return 1;
    }
    pq_ckpt *ckpt = pq_ckpt_load(model);
    pq_infer *m = ckpt ? pq_infer_take_ckpt(ckpt, model, &opt) : NULL; /* the ckpt keeps its metadata only */
    if (!m) {
        fprintf(stderr, "pq generate: %s\n", pq_error());
        pq_ckpt_free(ckpt);
        free(ids);
        return 1;
    }
    /* the tokenizer the model was trained with, if its checkpoint records it */
    char trained_with[128] = ""; /* a SHA-256 in hex, or empty when the checkpoint records none */
    if (pq_ckpt_tokenizer_hash(ckpt->meta))
        snprintf(trained_with, sizeof trained_with, "%s", pq_ckpt_tokenizer_hash(ckpt->meta));
    const char *imported = NULL;
    long long imported_bos = -1;
    char *imported_copy = NULL;
    if (!tokenizer && pq_imported_tokenizer(ckpt->meta, &imported, &imported_bos)) tokenizer = imported_copy = pq_strdup(imported);
    pq_ckpt_free(ckpt);
    int V = pq_infer_config(m)->vocab;
    pq_eval_tokenizer tok = {0};
    pq_tokenizer_info tinfo = {.eos = imported_copy ? -1 : PQ_BPE_EOS}; /* when no tokenizer is opened */
    if (prompt) {
        char fallback[64];
        const char *work = getenv("PQ_WORK") && *getenv("PQ_WORK") ? getenv("PQ_WORK") : "work";
        char *path = NULL;
        if (!tokenizer) {
            if (V == 8192) snprintf(fallback, sizeof fallback, "tokenizer.bpe");
            else snprintf(fallback, sizeof fallback, "tokenizer-%d.bpe", V);
            size_t len = strlen(work) + strlen(fallback) + 8;
            path = pq_malloc(len);
            snprintf(path, len, "%s/data/%s", work, fallback);
            tokenizer = path;
        }
        int opened = pq_eval_tokenizer_open(tokenizer, (int32_t)imported_bos, &tok, &tinfo) == 0;
        int wrong_vocab = opened && (tok.vocab_size > V || (!strcmp(tinfo.kind, "pq-bpe") && tok.vocab_size != V));
        int wrong_tokenizer = opened && !wrong_vocab &&
                              pq_check_ckpt_tokenizer(model, trained_with[0] ? trained_with : NULL, tokenizer, tinfo.hash);
        if (opened && !wrong_vocab && !wrong_tokenizer && tok.bos < 0)
            wrong_tokenizer = 1, pq_fail("%s: no BOS id (no bos_token_id in a config.json beside it, none in the tokenizer)", tokenizer);
        if (!opened || wrong_vocab || wrong_tokenizer) {
            if (wrong_vocab)
                fprintf(stderr, "pq generate: %s: vocab %d, but the model has %d\n", tokenizer, tok.vocab_size, V);
            else
                fprintf(stderr, "pq generate: %s\n", pq_error()); /* the file, or the tokenizer mismatch */
            if (tok.free) tok.free(tok.impl);
            free(path);
            free(imported_copy);
            pq_infer_free(m);
            return 1;
        }
        free(path);
        int32_t *enc = NULL;
        int n = 0;
        if (tok.encode(tok.impl, prompt, strlen(prompt), &enc, &n)) {
            fprintf(stderr, "pq generate: %s\n", pq_error());
            tok.free(tok.impl);
            free(imported_copy);
            pq_infer_free(m);
            return 1;
        }
        ids = pq_malloc(((size_t)n + 1) * sizeof(int));
        ids[0] = tok.bos;
        for (int i = 0; i < n; i++) ids[i + 1] = enc[i];
        n_ids = n + 1;
        free(enc);
        fputs(prompt, stdout);
    } else {
        for (int i = 0; i < n_ids; i++)
            if (ids[i] >= V) {
                fprintf(stderr, "pq generate: token %d is outside the model's vocabulary of %d\n", ids[i], V);
                pq_infer_free(m);
                free(ids);
                return 1;
            }
        for (int i = 0; i < n_ids; i++) printf("%s%d", i ? "," : "", ids[i]);
    }
    /* prompt, then sampling; every step is one token through the KV cache */
    int ctx = pq_infer_config(m)->ctx;
    if (n_ids >= ctx) {
        fprintf(stderr, "pq generate: the prompt has %d tokens, the model's context is %d\n", n_ids, ctx);
        pq_infer_free(m);
        free(ids);
        return 1;
    }
    double t0 = pq_now();
    const float *logits = NULL;
    for (int i = 0; i < n_ids; i++) logits = pq_infer_step(m, ids[i]);
    double t1 = pq_now();
    uint64_t stream = pq_rng_stream_id("generate", 0);
    int generated = 0, rc = 0;
    while (generated < max_tokens && pq_infer_pos(m) < ctx) {
        /* Finite weights can still overflow: sample nothing from NaN (pq eval refuses it too). */
        if (!all_finite(logits, V)) {
            fprintf(stderr, "pq generate: %s: non-finite logits at position %d (diverged weights?)\n", model,
                    pq_infer_pos(m));
            rc = 1;
            break;
        }
        int next = sample(logits, V, temperature, (int)top_k, pq_rng_uniform((uint64_t)seed, stream, (uint64_t)generated));
        generated++;
        if (next == tinfo.eos) break;
        size_t len;
        const uint8_t *bytes = tok.token_bytes ? tok.token_bytes(tok.impl, next, &len) : NULL;
        if (bytes) fwrite(bytes, 1, len, stdout);
        else printf(",%d", next);
        fflush(stdout);
        if (pq_infer_pos(m) >= ctx) break;
        logits = pq_infer_step(m, next);
    }
    double t2 = pq_now();
    printf("\n");
    if (rc == 0)
        fprintf(stderr, "pq generate: %s weights, %s head, %d prompt tokens in %.3f s, %d generated at %.1f tokens/s\n",
                pq_infer_format(m), pq_infer_head_b8(m) ? "int8" : "fp32", n_ids, t1 - t0, generated, generated > 0 ? generated / (t2 - t1) : 0.0);
    if (tok.free) tok.free(tok.impl);
    free(imported_copy);
    pq_infer_free(m);
    free(ids);
    return rc;
}
