/* gpu_lm.c — see gpu_lm.h. */
#include "eval/gpu_lm.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    pq_gpu_model *g;
    int B, T;
    int longest;     /* the longest pending row: what the forward runs at */
    uint16_t *x, *y; /* [B, T] inputs and next-token targets */
    double *nll;     /* [B, T] -log P(target) of the last forward */
    int *pend_g, *pend_j; /* the group and continuation of each row */
} gpu_lm;

/* Runs the rows filled so far and hands each continuation its log-probs. The rows are cut
 * to the longest one first: causal attention never lets a position see the padding after
 * it, and an imported model's context (2048 or more) is far longer than an item. */
static void flush(gpu_lm *s, int rows, const pq_lm_group *groups) {
    if (!rows) return;
    const int T = s->longest > 0 ? s->longest : 1;
    for (int r = 1; r < rows && T < s->T; r++) { /* row r moves down to r*T: below row r+1's start */
        memmove(s->x + (size_t)r * T, s->x + (size_t)r * s->T, sizeof(uint16_t) * T);
        memmove(s->y + (size_t)r * T, s->y + (size_t)r * s->T, sizeof(uint16_t) * T);
    }
    s->longest = 0;
    pq_gpu_forward(s->g, s->x, s->y, rows, T, 0, 0.0f);
    pq_gpu_row_losses(s->g, s->nll);
    for (int r = 0; r < rows; r++) {
        const pq_lm_group *gr = &groups[s->pend_g[r]];
        int j = s->pend_j[r];
        const double *nll = s->nll + (size_t)r * T + (gr->n_prefix - 1);
        for (int i = 0; i < gr->cont_len[j]; i++) gr->logp[j][i] = -nll[i];
    }
}

static int gpu_score(void *impl, int n, const pq_lm_group *groups) {
    gpu_lm *s = impl;
    int rows = 0;
    for (int gi = 0; gi < n; gi++) {
        const pq_lm_group *gr = &groups[gi];
        for (int j = 0; j < gr->n_cont; j++) {
            /* inputs: prefix + cont[0..len-2]; targets: the same shifted by one */
            int len = gr->n_prefix + gr->cont_len[j] - 1;
            if (len > s->T) return pq_fail("gpu scorer: %d tokens exceed the context %d", len, s->T);
            uint16_t *x = s->x + (size_t)rows * s->T, *y = s->y + (size_t)rows * s->T;
            memset(x, 0, sizeof(uint16_t) * s->T), memset(y, 0, sizeof(uint16_t) * s->T);
            for (int t = 0; t <= len; t++) {
                int32_t tok = t < gr->n_prefix ? gr->prefix[t] : gr->cont[j][t - gr->n_prefix];
                if (t < len) x[t] = (uint16_t)tok;
                if (t > 0) y[t - 1] = (uint16_t)tok;
            }
            s->pend_g[rows] = gi, s->pend_j[rows] = j;
            if (len > s->longest) s->longest = len;
            if (++rows == s->B) flush(s, rows, groups), rows = 0;
        }
    }
    flush(s, rows, groups);
    return 0;
}

static void gpu_free(void *impl) {
    gpu_lm *s = impl;
    if (!s) return;
    pq_gpu_model_free(s->g);
    free(s->x), free(s->y), free(s->nll), free(s->pend_g), free(s->pend_j);
    free(s);
}

int pq_gpu_lm_init(pq_lm *lm, const pq_model *m, int batch, pq_gpu_precision precision) {
    if (m->cfg.vocab > 65536) return pq_fail("gpu scorer: vocab %d does not fit 16-bit tokens", m->cfg.vocab);
    pq_gpu_model *g = pq_gpu_model_new(m, batch, m->cfg.ctx, precision, NULL);
    if (!g) return -1;
    gpu_lm *s = pq_calloc(1, sizeof *s);
    s->g = g, s->B = batch, s->T = m->cfg.ctx;
    size_t n = (size_t)batch * s->T;
    s->x = pq_malloc(sizeof(uint16_t) * n), s->y = pq_malloc(sizeof(uint16_t) * n);
    s->nll = pq_malloc(sizeof(double) * n);
    s->pend_g = pq_malloc(sizeof(int) * (size_t)batch), s->pend_j = pq_malloc(sizeof(int) * (size_t)batch);
    *lm = (pq_lm){.vocab_size = m->cfg.vocab, .max_len = m->cfg.ctx, .impl = s, .score = gpu_score, .free = gpu_free};
    return 0;
}
