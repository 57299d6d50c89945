#include "train/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/manifest.h"
#include "base/util.h"

pq_param_group pq_param_group_make(const char *name, float *param, float *grad, int64_t n, int decay) {
    pq_param_group g;
    memset(&g, 0, sizeof g);
    snprintf(g.name, sizeof g.name, "%s", name);
    g.param = param, g.grad = grad, g.n = n, g.decay = decay, g.lr_scale = 1.0f;
    return g;
}

void pq_model_param_groups(pq_model *m, pq_param_group **groups, int *n_groups) {
    *groups = pq_realloc(*groups, sizeof(pq_param_group) * (size_t)(*n_groups + m->n_tensors));
    for (int i = 0; i < m->n_tensors; i++) {
        pq_model_tensor *t = &m->tensors[i];
        (*groups)[(*n_groups)++] = pq_param_group_make(t->name, t->param, t->grad, t->numel, t->is_matrix);
    }
}

int64_t pq_wsd_decay_start(int64_t total_steps, double decay_fraction) {
    int64_t decay = llround(decay_fraction * (double)total_steps);
    if (decay < 1) decay = 1;
    return total_steps > decay ? total_steps - decay : 0;
}

double pq_lr_at(const pq_optim_config *c, int64_t step) {
    if (c->warmup > 0 && step < c->warmup) return c->lr * (double)(step + 1) / (double)c->warmup;
    double min_lr = c->lr * c->min_lr_ratio;
    if (c->schedule == PQ_SCHEDULE_WSD) {
        /* Stable at lr, then linear: the first decay step is already below lr, the last is min_lr. */
        int64_t start = pq_wsd_decay_start(c->total_steps, c->decay_fraction);
        if (start < c->warmup) start = c->warmup;
        if (step < start) return c->lr;
        int64_t span = c->total_steps - start;
        double progress = span > 0 ? (double)(step - start + 1) / (double)span : 1.0;
        if (progress > 1) progress = 1;
        return c->lr + (min_lr - c->lr) * progress;
    }
    int64_t span = c->total_steps - c->warmup;
    if (span <= 1) return c->lr;
    double progress = (double)(step - c->warmup) / (double)(span - 1);
    if (progress > 1) progress = 1;
    return min_lr + 0.5 * (c->lr - min_lr) * (1.0 + cos(M_PI * progress));
}

pq_adamw *pq_adamw_new(const pq_optim_config *cfg, const pq_param_group *groups, int n_groups) {
    pq_adamw *o = pq_calloc(1, sizeof *o);
    o->cfg = *cfg;
    o->n_groups = n_groups;
    o->groups = pq_malloc(sizeof *groups * (size_t)(n_groups > 0 ? n_groups : 1));
    memcpy(o->groups, groups, sizeof *groups * (size_t)n_groups);
    o->m = pq_calloc(n_groups > 0 ? n_groups : 1, sizeof(float *));
    o->v = pq_calloc(n_groups > 0 ? n_groups : 1, sizeof(float *));
    for (int i = 0; i < n_groups; i++) {
        o->m[i] = pq_aligned_alloc(sizeof(float) * (size_t)groups[i].n);
        o->v[i] = pq_aligned_alloc(sizeof(float) * (size_t)groups[i].n);
        memset(o->m[i], 0, sizeof(float) * (size_t)groups[i].n);
        memset(o->v[i], 0, sizeof(float) * (size_t)groups[i].n);
    }
    return o;
}

void pq_adamw_free(pq_adamw *o) {
    if (!o) return;
    for (int i = 0; i < o->n_groups; i++) free(o->m[i]), free(o->v[i]);
    free(o->m), free(o->v), free(o->groups);
    free(o);
}

void pq_groups_zero_grads(const pq_param_group *groups, int n_groups) {
    for (int i = 0; i < n_groups; i++) memset(groups[i].grad, 0, sizeof(float) * (size_t)groups[i].n);
}

/* Fixed chunks summed in order: the same total for any thread count. */
#define NORM_CHUNK 16384

double pq_groups_grad_norm(const pq_param_group *groups, int n_groups) {
    double total = 0.0;
    for (int gi = 0; gi < n_groups; gi++) {
        const float *g = groups[gi].grad;
        int64_t n = groups[gi].n, n_chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
        double *part = pq_malloc(sizeof(double) * (size_t)(n_chunks > 0 ? n_chunks : 1));
        int nt = n > 4 * NORM_CHUNK ? pq_threads() : 1;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t c = 0; c < n_chunks; c++) {
            int64_t lo = c * NORM_CHUNK, hi = PQ_MIN(n, lo + NORM_CHUNK);
            float s = 0.0f; /* a float partial over 16K values, then double: fast and ample */
            double acc = 0.0;
            for (int64_t i = lo; i < hi; i += 256) {
                s = 0.0f;
                int64_t e = PQ_MIN(hi, i + 256);
#pragma omp simd reduction(+ : s)
                for (int64_t j = i; j < e; j++) s += g[j] * g[j];
                acc += s;
            }
            part[c] = acc;
        }
        for (int64_t c = 0; c < n_chunks; c++) total += part[c];
        free(part);
    }
    return sqrt(total);
}

float pq_clip_factor(double norm, double clip) {
    if (clip <= 0 || !(norm > clip)) return 1.0f;
    return (float)(clip / norm);
}

void pq_adamw_step(pq_adamw *o, double lr, float grad_mul) {
    o->t++;
    const pq_optim_config *c = &o->cfg;
    float b1 = (float)c->beta1, b2 = (float)c->beta2, eps = (float)c->eps;
    float bc1 = (float)(1.0 - pow(c->beta1, (double)o->t)), bc2 = (float)(1.0 - pow(c->beta2, (double)o->t));
    for (int gi = 0; gi < o->n_groups; gi++) {
        pq_param_group *g = &o->groups[gi];
        float glr = (float)(lr * g->lr_scale), wd = g->decay ? (float)c->weight_decay : 0.0f;
        float *p = g->param, *m = o->m[gi], *v = o->v[gi];
        const float *gr = g->grad;
        int64_t n = g->n;
        int nt = n > 65536 ? pq_threads() : 1;
#pragma omp parallel for simd schedule(static) num_threads(nt)
        for (int64_t i = 0; i < n; i++) {
            float gi_ = gr[i] * grad_mul;
            float mi = b1 * m[i] + (1.0f - b1) * gi_;
            float vi = b2 * v[i] + (1.0f - b2) * gi_ * gi_;
            m[i] = mi, v[i] = vi;
            float mhat = mi / bc1, vhat = vi / bc2;
            p[i] -= glr * (wd * p[i] + mhat / (sqrtf(vhat) + eps));
        }
    }
}

void pq_adamw_to_ckpt(const pq_adamw *o, pq_ckpt *c) {
    char name[80];
    /* By reference: the state is saved at once, and a copy would cost 8 bytes a parameter. */
    for (int i = 0; i < o->n_groups; i++) {
        int64_t n = o->groups[i].n;
        snprintf(name, sizeof name, "opt.m.%s", o->groups[i].name);
        pq_ckpt_add_ref(c, name, PQ_F32, 1, &n, o->m[i]);
        snprintf(name, sizeof name, "opt.v.%s", o->groups[i].name);
        pq_ckpt_add_ref(c, name, PQ_F32, 1, &n, o->v[i]);
    }
    json_object_set_new(c->meta, "opt_t", json_integer(o->t));
}

int pq_adamw_from_ckpt(pq_adamw *o, const pq_ckpt *c, const char *what) {
    char name[80], err[1024];
    for (int i = 0; i < o->n_groups; i++) {
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "opt.%c.%s", k ? 'v' : 'm', o->groups[i].name);
            const void *d = pq_ckpt_expect(c, name, PQ_F32, o->groups[i].n);
            if (!d) {
                snprintf(err, sizeof err, "%s", pq_error());
                return pq_fail("%s: %s", what, err);
            }
            memcpy(k ? o->v[i] : o->m[i], d, sizeof(float) * (size_t)o->groups[i].n);
        }
    }
    json_t *t = json_object_get(c->meta, "opt_t");
    if (!json_is_integer(t)) return pq_fail("%s: metadata lacks the optimizer step \"opt_t\"", what);
    o->t = json_integer_value(t);
    return 0;
}
