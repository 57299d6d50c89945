#include "eval/bench_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/rng.h"
#include "base/util.h"
#include "eval/model_lm.h"

#define CTX_TOKENS 48
#define CHOICES 4
#define ITEMS_PER_CALL 32 /* as pq_mc_score batches them */

typedef struct {
    const char *name;
    pq_model_config cfg;
} bench_model;

/* The largest model of the default ladder (suites/models/l.json) and the
 * reference config of the training benchmark (suites/models/ref.json). */
static const bench_model models[] = {
    {"l", {.dim = 320, .n_layers = 10, .n_heads = 10, .n_kv_heads = 2, .ffn_dim = 864, .vocab = 8192, .ctx = 256}},
    {"ref", {.dim = 384, .n_layers = 6, .n_heads = 6, .n_kv_heads = 6, .ffn_dim = 1024, .vocab = 8192, .ctx = 256}},
};

typedef struct {
    int32_t ctx[CTX_TOKENS];
    int32_t choice[CHOICES][8];
    int len[CHOICES];
} synth_item;

static void make_items(synth_item *it, int n, int V) {
    uint64_t stream = pq_rng_stream_id("bench-eval", 0);
    uint64_t k = 0;
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < CTX_TOKENS; t++) it[i].ctx[t] = (int32_t)pq_rng_below(1, stream, k++, (uint64_t)V);
        it[i].ctx[0] = 256; /* BOS */
        for (int c = 0; c < CHOICES; c++) {
            it[i].len[c] = 2 + (int)pq_rng_below(1, stream, k++, 7);
            for (int t = 0; t < it[i].len[c]; t++) it[i].choice[c][t] = (int32_t)pq_rng_below(1, stream, k++, (uint64_t)V);
        }
    }
}

/* Scores n items; shared = one group per item, else one group per choice whose
 * prefix is the context (the cost of scoring without prefix sharing). */
static double run_items(pq_lm *lm, synth_item *it, int n, int shared, int64_t *tokens) {
    pq_lm_group groups[ITEMS_PER_CALL * CHOICES];
    const int32_t *conts[ITEMS_PER_CALL * CHOICES];
    double *logp[ITEMS_PER_CALL * CHOICES];
    double buf[ITEMS_PER_CALL * CHOICES][8];
    *tokens = 0;
    double t0 = pq_now();
    for (int s = 0; s < n; s += ITEMS_PER_CALL) {
        int m = PQ_MIN(ITEMS_PER_CALL, n - s), ng = 0;
        for (int i = 0; i < m; i++) {
            synth_item *x = &it[s + i];
            for (int c = 0; c < CHOICES; c++) {
                conts[i * CHOICES + c] = x->choice[c];
                logp[i * CHOICES + c] = buf[i * CHOICES + c];
                *tokens += x->len[c];
            }
            *tokens += CTX_TOKENS;
            if (shared)
                groups[ng++] = (pq_lm_group){x->ctx, CTX_TOKENS, CHOICES, &conts[i * CHOICES], x->len, &logp[i * CHOICES]};
            else
                for (int c = 0; c < CHOICES; c++)
                    groups[ng++] = (pq_lm_group){x->ctx, CTX_TOKENS, 1, &conts[i * CHOICES + c], &x->len[c],
                                                 &logp[i * CHOICES + c]};
        }
        if (lm->score(lm->impl, ng, groups) != 0) return -1;
    }
    return pq_now() - t0;
}

/* Rolling perplexity: windows of the full context, 16 per call as pq_ppl_score. */
static double run_windows(pq_lm *lm, int n_windows, int64_t *tokens) {
    int L = lm->max_len;
    int32_t *seq = pq_malloc(sizeof(int32_t) * (size_t)(L + 1));
    double *lp = pq_malloc(sizeof(double) * (size_t)L);
    uint64_t stream = pq_rng_stream_id("bench-eval", 1);
    for (int t = 0; t <= L; t++) seq[t] = (int32_t)pq_rng_below(1, stream, (uint64_t)t, (uint64_t)lm->vocab_size);
    const int32_t *cont = seq + 1;
    int len = L;
    double *lps[16];
    pq_lm_group g[16];
    for (int i = 0; i < 16; i++) lps[i] = lp, g[i] = (pq_lm_group){seq, 1, 1, &cont, &len, &lps[i]};
    *tokens = 0;
    double t0 = pq_now();
    for (int w = 0; w < n_windows; w += 16) {
        int m = PQ_MIN(16, n_windows - w);
        if (lm->score(lm->impl, m, g) != 0) return -1;
        *tokens += (int64_t)m * L;
    }
    double dt = pq_now() - t0;
    free(seq);
    free(lp);
    return dt;
}

int pq_bench_eval(const char *out_dir, int quick) {
    json_t *manifest = pq_manifest_new("bench_eval", NULL);
    json_t *rows = json_array();
    int n_items = quick ? 64 : 512, n_windows = quick ? 16 : 64;
    int n_models = quick ? 1 : (int)PQ_COUNT(models);
    int rc = 0;
    for (int mi = 0; mi < n_models && rc == 0; mi++) {
        const bench_model *bm = &models[mi];
        pq_model *m = pq_model_new(&bm->cfg);
        pq_model_init(m, 1);
        pq_lm lm;
        pq_model_lm_init(&lm, m);
        synth_item *items = pq_calloc((size_t)n_items, sizeof *items);
        make_items(items, n_items, bm->cfg.vocab);
        pq_param_counts pc = pq_model_param_counts(&bm->cfg);
        int64_t tok_shared, tok_unshared, tok_ppl;
        run_items(&lm, items, PQ_MIN(n_items, 32), 1, &tok_shared); /* warm-up: buffers, OpenBLAS threads */
        double t_shared = run_items(&lm, items, n_items, 1, &tok_shared);
        double t_unshared = quick ? 0 : run_items(&lm, items, n_items, 0, &tok_unshared);
        double t_ppl = run_windows(&lm, n_windows, &tok_ppl);
        if (t_shared < 0 || t_unshared < 0 || t_ppl < 0) rc = -1;
        if (rc == 0) {
            json_t *r = json_object();
            json_object_set_new(r, "model", json_string(bm->name));
            json_object_set_new(r, "config", pq_model_config_to_json(&bm->cfg));
            json_object_set_new(r, "params_total", json_integer(pc.total));
            json_object_set_new(r, "items", json_integer(n_items));
            json_object_set_new(r, "item_shape", json_string("48-token context, 4 choices of 2..8 tokens"));
            json_object_set_new(r, "shared_seconds", json_real(t_shared));
            json_object_set_new(r, "shared_items_per_s", json_real(n_items / t_shared));
            json_object_set_new(r, "shared_tokens_per_s", json_real((double)tok_shared / t_shared));
            if (!quick) {
                json_object_set_new(r, "unshared_seconds", json_real(t_unshared));
                json_object_set_new(r, "unshared_items_per_s", json_real(n_items / t_unshared));
                json_object_set_new(r, "prefix_sharing_speedup", json_real(t_unshared / t_shared));
            }
            json_object_set_new(r, "projected_seconds_5x1000_items", json_real(5000.0 * t_shared / n_items));
            json_object_set_new(r, "ppl_windows", json_integer(n_windows));
            json_object_set_new(r, "ppl_tokens_per_s", json_real((double)tok_ppl / t_ppl));
            json_array_append_new(rows, r);
            fprintf(stderr, "bench eval  %-10s %6.1f items/s shared%s  ppl %6.0f tok/s\n", bm->name,
                    n_items / t_shared, quick ? "" : "", (double)tok_ppl / t_ppl);
        }
        free(items);
        lm.free(lm.impl);
        pq_model_free(m);
    }
    if (rc == 0) {
        json_t *out = json_object();
        json_object_set_new(out, "eval", rows);
        char *path = pq_write_result(out, manifest, out_dir, "eval.json");
        rc = path ? 0 : -1;
        free(path);
        json_decref(out);
    } else {
        json_decref(rows);
        json_decref(manifest);
    }
    return rc;
}
