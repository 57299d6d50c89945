/* optim.h — AdamW over a generic list of parameter groups, global-norm
 * clipping and the learning-rate schedules (warmup + cosine, warmup-stable-decay).
 *
 * A parameter group is any float array with its gradient: the model's tensors
 * (pq_model_param_groups) and whatever else trains with them, e.g. QAT's
 * per-row scales. Each group has its own weight-decay switch and LR multiplier.
 * The update is decoupled weight decay (PyTorch AdamW):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr_g * (wd_g * p + (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps))
 * with lr_g = lr * lr_scale and wd_g = weight_decay if decay else 0. */
#ifndef PQ_OPTIM_H
#define PQ_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckpt.h"
#include "model/model.h"

typedef struct {
    char name[64];  /* unique; names the group's tensors in checkpoints */
    float *param, *grad;
    int64_t n;
    int decay;      /* 1 = apply weight decay (matrices), 0 = not (norms, scales) */
    float lr_scale; /* multiplies the scheduled LR (1 = as scheduled) */
} pq_param_group;

/* A group with lr_scale 1. */
pq_param_group pq_param_group_make(const char *name, float *param, float *grad, int64_t n, int decay);

/* Appends one group per model tensor (decay = is a matrix) to *groups (realloc'd). */
void pq_model_param_groups(pq_model *m, pq_param_group **groups, int *n_groups);

typedef struct {
    double lr, min_lr_ratio;
    int64_t warmup, total_steps;
    double weight_decay, beta1, beta2, eps, clip;
    int schedule;          /* pq_schedule (model/config.h); 0 = cosine */
    double decay_fraction; /* wsd only */
} pq_optim_config;

/* Linear warmup from lr/warmup to lr over `warmup` steps, then
 *   cosine: cosine to lr * min_lr_ratio at the last step (total_steps - 1);
 *   wsd:    lr until pq_wsd_decay_start, then linear to lr * min_lr_ratio at the last step.
 * step counts from 0. */
double pq_lr_at(const pq_optim_config *c, int64_t step);

/* The first step of a WSD run's decay: total_steps - round(decay_fraction * total_steps)
 * (at least one decay step). Every step before it runs at the same LR as in any longer WSD
 * run with the same warmup and peak, which is what lets one run branch into shorter ones. */
int64_t pq_wsd_decay_start(int64_t total_steps, double decay_fraction);

typedef struct {
    pq_optim_config cfg;
    int n_groups;
    pq_param_group *groups;
    float **m, **v; /* moments per group */
    int64_t t;      /* updates done */
} pq_adamw;

/* Copies the group list (not the arrays) and allocates zeroed moments. */
pq_adamw *pq_adamw_new(const pq_optim_config *cfg, const pq_param_group *groups, int n_groups);
void pq_adamw_free(pq_adamw *o);

/* Zeroes every group's gradient. */
void pq_groups_zero_grads(const pq_param_group *groups, int n_groups);
/* L2 norm of all gradients together (double accumulation in a fixed order). */
double pq_groups_grad_norm(const pq_param_group *groups, int n_groups);

/* One update at learning rate lr; gradients are multiplied by grad_mul first
 * (the clipping factor, 1 = none). */
void pq_adamw_step(pq_adamw *o, double lr, float grad_mul);

/* Clip factor for a global norm: min(1, clip / norm) (1 when clip == 0). */
float pq_clip_factor(double norm, double clip);

/* Checkpoint: "opt.m.<group>", "opt.v.<group>" tensors and meta "opt_t"; the tensors
 * refer to the moments (pq_ckpt_add_ref): save before the next step. */
void pq_adamw_to_ckpt(const pq_adamw *o, pq_ckpt *c);
int pq_adamw_from_ckpt(pq_adamw *o, const pq_ckpt *c, const char *what);

#endif
