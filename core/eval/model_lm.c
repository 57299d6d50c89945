#include "eval/model_lm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/manifest.h"
#include "base/util.h"
#include "model/layers.h"
#include "quant/qexport.h"

typedef struct {
    int row0, n, pos0; /* rows row0.. hold positions pos0.. of one sequence */
} segment;

typedef struct {
    const pq_model *m;
    int D, H, KV, hd, C, F, V;
    /* per-row plan, grown on demand */
    size_t cap_rows, cap_out, cap_seg;
    int32_t *token;
    int *lo1, *hi1, *lo2, *hi2; /* the key rows a row attends to: [lo1, hi1) and [lo2, hi2) */
    int *out_row;               /* rows whose final state predicts a scored token */
    int *out_g, *out_j, *out_t; /* ... which: group, continuation (-1: the prefix's last
                                 * row, predicting every continuation's first token), position */
    segment *seg;
    float *x, *xn, *rstd, *qkv, *atty, *gu, *h, *xf, *logits;
} model_lm;

#define HEAD_CHUNK 128 /* output rows per head matmul: bounds the logits buffer */

/* exp(x) for x <= 0 in float, written to vectorize: 2^n * p(r) with
 * x = n ln2 + r, |r| <= ln2/2 (Cody-Waite split), p the degree-6 Taylor
 * polynomial (relative error < 3e-7). The head's log-softmax takes one exp
 * per vocabulary entry per scored token: with libm's scalar exp it cost a
 * quarter of the scoring time. */
static inline float exp_nonpos(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
    union {
        float f;
        int32_t i;
    } scale = {.i = ((int32_t)n + 127) << 23};
    return p * scale.f;
}

/* log sum_v exp(row[v]) over V logits; NaN if any logit is not finite (a
 * diverged model must fail, not score garbage). */
static double log_sum_exp(const float *row, int V) {
    float mx = row[0];
    int finite = 1;
    for (int v = 0; v < V; v++) {
        finite &= isfinite(row[v]);
        mx = row[v] > mx ? row[v] : mx;
    }
    if (!finite) return NAN;
    double sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++) sum += (double)exp_nonpos(row[v] - mx);
    return mx + log(sum);
}

static void grow(model_lm *s, size_t rows, size_t outs, size_t segs) {
    if (rows > s->cap_rows) {
        s->cap_rows = rows + rows / 2;
        size_t r = s->cap_rows;
        s->token = pq_realloc(s->token, r * sizeof *s->token);
        s->lo1 = pq_realloc(s->lo1, r * sizeof(int));
        s->hi1 = pq_realloc(s->hi1, r * sizeof(int));
        s->lo2 = pq_realloc(s->lo2, r * sizeof(int));
        s->hi2 = pq_realloc(s->hi2, r * sizeof(int));
        free(s->x), free(s->xn), free(s->rstd), free(s->qkv), free(s->atty), free(s->gu), free(s->h);
        s->x = pq_aligned_alloc(r * s->D * sizeof(float));
        s->xn = pq_aligned_alloc(r * s->D * sizeof(float));
        s->rstd = pq_aligned_alloc(r * sizeof(float));
        s->qkv = pq_aligned_alloc(r * s->C * sizeof(float));
        s->atty = pq_aligned_alloc(r * s->D * sizeof(float));
        s->gu = pq_aligned_alloc(r * 2 * (size_t)s->F * sizeof(float));
        s->h = pq_aligned_alloc(r * (size_t)s->F * sizeof(float));
    }
    if (outs > s->cap_out) {
        s->cap_out = outs + outs / 2;
        s->out_row = pq_realloc(s->out_row, s->cap_out * sizeof(int));
        s->out_g = pq_realloc(s->out_g, s->cap_out * sizeof(int));
        s->out_j = pq_realloc(s->out_j, s->cap_out * sizeof(int));
        s->out_t = pq_realloc(s->out_t, s->cap_out * sizeof(int));
        free(s->xf);
        s->xf = pq_aligned_alloc(s->cap_out * s->D * sizeof(float));
    }
    if (segs > s->cap_seg) {
        s->cap_seg = segs + segs / 2;
        s->seg = pq_realloc(s->seg, s->cap_seg * sizeof *s->seg);
    }
}

/* Causal attention of every row over its two key spans, heads grouped as the
 * engine groups them (query head h reads key/value head h / (H / KV)). Rows are
 * independent, so threads split them without changing any result. */
static void attention(model_lm *s, int R) {
    const int H = s->H, hd = s->hd, C = s->C, D = s->D, group = s->H / s->KV;
    const float scale = 1.0f / sqrtf((float)hd);
    int max_keys = 0;
    for (int r = 0; r < R; r++) max_keys = PQ_MAX(max_keys, (s->hi1[r] - s->lo1[r]) + (s->hi2[r] - s->lo2[r]));
    int nt = (long)R * max_keys * D > 200000 ? pq_threads() : 1;
#pragma omp parallel num_threads(nt)
    {
        float *p = pq_malloc((size_t)(max_keys > 0 ? max_keys : 1) * sizeof(float));
#pragma omp for schedule(static)
        for (int r = 0; r < R; r++) {
            int lo[2] = {s->lo1[r], s->lo2[r]}, hi[2] = {s->hi1[r], s->hi2[r]};
            for (int hh = 0; hh < H; hh++) {
                const float *q = s->qkv + (size_t)r * C + (size_t)hh * hd;
                size_t koff = (size_t)D + (size_t)(hh / group) * hd, voff = koff + (size_t)s->KV * hd;
                float mx = -INFINITY;
                int n = 0;
                for (int sp = 0; sp < 2; sp++)
                    for (int j = lo[sp]; j < hi[sp]; j++) {
                        const float *k = s->qkv + (size_t)j * C + koff;
                        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
                        for (int i = 0; i < hd; i++) dot += q[i] * k[i];
                        p[n] = dot * scale;
                        mx = p[n] > mx ? p[n] : mx;
                        n++;
                    }
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j < n; j++) {
                    p[j] = exp_nonpos(p[j] - mx);
                    sum += p[j];
                }
                float inv = 1.0f / sum;
                float *o = s->atty + (size_t)r * D + (size_t)hh * hd;
                memset(o, 0, sizeof(float) * hd);
                n = 0;
                for (int sp = 0; sp < 2; sp++)
                    for (int j = lo[sp]; j < hi[sp]; j++) {
                        const float *v = s->qkv + (size_t)j * C + voff;
                        float w = p[n++] * inv;
#pragma omp simd
                        for (int i = 0; i < hd; i++) o[i] += w * v[i];
                    }
            }
        }
        free(p);
    }
}

static void forward_rows(model_lm *s, int R, int n_seg) {
    const pq_model *m = s->m;
    const int D = s->D, C = s->C, F = s->F, half = s->hd / 2;
    for (int r = 0; r < R; r++) memcpy(s->x + (size_t)r * D, m->tok_emb + (size_t)s->token[r] * D, sizeof(float) * D);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const pq_layer_ptrs *w = &m->w[l];
        pq_rmsnorm_forward(s->xn, s->rstd, s->x, w->attn_norm, R, D, pq_model_norm_eps(&m->cfg));
        pq_linear_forward(s->qkv, s->xn, w->wqkv, R, D, C, 0);
        /* RoPE by each segment's own positions: the engine's rotation with its
         * tables shifted to the segment's first position. */
        for (int g = 0; g < n_seg; g++) {
            const segment *sg = &s->seg[g];
            float *base = s->qkv + (size_t)sg->row0 * C;
            const float *cs = m->rope_cos + (size_t)sg->pos0 * half, *sn = m->rope_sin + (size_t)sg->pos0 * half;
            pq_rope_apply(base, C, 1, sg->n, s->H, s->hd, cs, sn, 0);
            pq_rope_apply(base + D, C, 1, sg->n, s->KV, s->hd, cs, sn, 0);
        }
        attention(s, R);
        pq_linear_forward(s->x, s->atty, w->wo, R, D, D, 1);
        pq_rmsnorm_forward(s->xn, s->rstd, s->x, w->mlp_norm, R, D, pq_model_norm_eps(&m->cfg));
        pq_linear_forward(s->gu, s->xn, w->wgu, R, D, 2 * F, 0);
        pq_swiglu_forward(s->h, s->gu, R, F);
        pq_linear_forward(s->x, s->h, w->wdown, R, F, D, 1);
    }
}

static int model_score(void *impl, int n, const pq_lm_group *groups) {
    model_lm *s = impl;
    const int V = s->V, ctx = s->m->cfg.ctx;
    size_t R = 0, M = 0, S = 0;
    for (int g = 0; g < n; g++) {
        const pq_lm_group *gr = &groups[g];
        if (gr->n_prefix < 1) return pq_fail("model: empty prefix");
        R += gr->n_prefix, M += 1, S += 1;
        for (int j = 0; j < gr->n_cont; j++) {
            if (gr->cont_len[j] < 1) return pq_fail("model: empty continuation");
            if (gr->n_prefix + gr->cont_len[j] - 1 > ctx)
                return pq_fail("model: %d tokens exceed the context length %d", gr->n_prefix + gr->cont_len[j] - 1,
                               ctx);
            R += gr->cont_len[j] - 1, M += gr->cont_len[j] - 1, S += 1;
        }
    }
    if (R > (size_t)1 << 30) return pq_fail("model: batch of %zu rows is too large", R);
    grow(s, R, M, S);
    /* Plan: each group's prefix rows, then each continuation's rows. */
    int r = 0, o = 0, nseg = 0;
    for (int g = 0; g < n; g++) {
        const pq_lm_group *gr = &groups[g];
        int ps = r, P = gr->n_prefix;
        s->seg[nseg++] = (segment){ps, P, 0};
        for (int i = 0; i < P; i++, r++) {
            s->token[r] = gr->prefix[i];
            s->lo1[r] = ps, s->hi1[r] = r + 1, s->lo2[r] = s->hi2[r] = 0;
        }
        s->out_row[o] = r - 1, s->out_g[o] = g, s->out_j[o] = -1, s->out_t[o++] = 0;
        for (int j = 0; j < gr->n_cont; j++) {
            int cs = r, n_in = gr->cont_len[j] - 1;
            if (n_in > 0) s->seg[nseg++] = (segment){cs, n_in, P};
            for (int t = 0; t < n_in; t++, r++) {
                s->token[r] = gr->cont[j][t];
                s->lo1[r] = ps, s->hi1[r] = ps + P, s->lo2[r] = cs, s->hi2[r] = r + 1;
                s->out_row[o] = r, s->out_g[o] = g, s->out_j[o] = j, s->out_t[o++] = t + 1;
            }
        }
    }
    for (int i = 0; i < r; i++)
        if (s->token[i] < 0 || s->token[i] >= V) return pq_fail("model: token %d outside the vocabulary (%d)", s->token[i], V);
    for (int g = 0; g < n; g++)
        for (int j = 0; j < groups[g].n_cont; j++)
            for (int t = 0; t < groups[g].cont_len[j]; t++)
                if (groups[g].cont[j][t] < 0 || groups[g].cont[j][t] >= V)
                    return pq_fail("model: token %d outside the vocabulary (%d)", groups[g].cont[j][t], V);

    forward_rows(s, r, nseg);

    /* Final norm and head on the output rows only, in chunks. */
    const int D = s->D;
    for (int k = 0; k < o; k++) memcpy(s->xf + (size_t)k * D, s->x + (size_t)s->out_row[k] * D, sizeof(float) * D);
    pq_rmsnorm_forward(s->xf, s->rstd, s->xf, s->m->final_norm, o, D, pq_model_norm_eps(&s->m->cfg));
    for (int k0 = 0; k0 < o; k0 += HEAD_CHUNK) {
        int nk = PQ_MIN(HEAD_CHUNK, o - k0);
        pq_linear_forward(s->logits, s->xf + (size_t)k0 * D, s->m->head, nk, D, V, 0);
        for (int k = 0; k < nk; k++) {
            const float *row = s->logits + (size_t)k * V;
            double lse = log_sum_exp(row, V);
            if (isnan(lse)) return pq_fail("model: non-finite logits (diverged weights?)");
            const pq_lm_group *gr = &groups[s->out_g[k0 + k]];
            int j = s->out_j[k0 + k], t = s->out_t[k0 + k];
            if (j < 0)
                for (int jj = 0; jj < gr->n_cont; jj++) gr->logp[jj][0] = row[gr->cont[jj][0]] - lse;
            else
                gr->logp[j][t] = row[gr->cont[j][t]] - lse;
        }
    }
    return 0;
}

static void model_free(void *impl) {
    model_lm *s = impl;
    if (!s) return;
    free(s->token), free(s->lo1), free(s->hi1), free(s->lo2), free(s->hi2), free(s->out_row), free(s->seg);
    free(s->out_g), free(s->out_j), free(s->out_t);
    free(s->x), free(s->xn), free(s->rstd), free(s->qkv), free(s->atty), free(s->gu), free(s->h), free(s->xf);
    free(s->logits);
    free(s);
}

void pq_model_lm_init(pq_lm *lm, const pq_model *m) {
    if (m->hook) pq_die("pq_model_lm_init: the model has a QAT hook (score its exported checkpoint)");
    model_lm *s = pq_calloc(1, sizeof *s);
    const pq_model_config *c = &m->cfg;
    s->m = m;
    s->D = c->dim, s->H = c->n_heads, s->KV = c->n_kv_heads, s->hd = c->dim / c->n_heads;
    s->C = s->D + 2 * s->KV * s->hd, s->F = c->ffn_dim, s->V = c->vocab;
    s->logits = pq_aligned_alloc((size_t)HEAD_CHUNK * s->V * sizeof(float));
    *lm = (pq_lm){.vocab_size = c->vocab, .max_len = c->ctx, .impl = s, .score = model_score, .free = model_free};
}

pq_model *pq_eval_load_model(const char *path, json_t **meta) {
    if (meta) *meta = NULL;
    pq_ckpt *c = pq_ckpt_load(path);
    if (!c) return NULL;
    const char *kind = json_string_value(json_object_get(c->meta, "kind"));
    json_t *mo = json_object_get(c->meta, "model");
    if (!mo) {
        pq_fail("%s: not a model checkpoint (no \"model\" config in its metadata%s%s)", path,
                kind ? "; kind " : "", kind ? kind : "");
        pq_ckpt_free(c);
        return NULL;
    }
    /* Finite weights, and a quantized checkpoint must be what it claims: codes x scales == weights. */
    if (pq_check_ckpt_weights(c, path) != 0) {
        pq_ckpt_free(c);
        return NULL;
    }
    pq_model_config cfg;
    char what[1100];
    snprintf(what, sizeof what, "%s: metadata \"model\"", path);
    if (pq_model_config_from_json(&cfg, mo, what) != 0 || pq_model_config_check(&cfg) != 0) {
        if (!strstr(pq_error(), path)) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s", pq_error());
            pq_fail("%s: %s", path, msg);
        }
        pq_ckpt_free(c);
        return NULL;
    }
    pq_model *m = pq_model_new(&cfg);
    if (pq_model_take_ckpt(m, c, path) != 0) {
        pq_model_free(m);
        pq_ckpt_free(c);
        return NULL;
    }
    if (meta) *meta = json_incref(c->meta);
    pq_ckpt_free(c);
    return m;
}
