#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/fsio.h"
#include "base/hash.h"
#include "base/manifest.h"
#include "base/progress.h"
#include "base/util.h"

int64_t pq_train_steps(const pq_train_config *t, int T) {
    int64_t per;
    if (__builtin_mul_overflow((int64_t)t->batch * t->grad_accum, (int64_t)T, &per)) per = INT64_MAX;
    int64_t steps = per > 0 ? t->tokens / per : 0;
    return steps == 0 && t->tokens > 0 ? 1 : steps;
}

/* A forward with targets (no gradients) of nb sequences: the mean loss. */
typedef double (*loss_fn)(void *ctx, const uint16_t *x, const uint16_t *y, int nb, int T);

static double cpu_loss(void *ctx, const uint16_t *x, const uint16_t *y, int nb, int T) {
    void **mc = ctx;
    return pq_model_forward(mc[0], mc[1], x, y, nb, T, 0, 0.0f);
}

static double gpu_loss(void *ctx, const uint16_t *x, const uint16_t *y, int nb, int T) {
    return pq_gpu_forward(ctx, x, y, nb, T, 0, 0.0f);
}

static double eval_loss_with(loss_fn fn, void *ctx, const pq_data_order *val, int64_t eval_tokens, int B, int T) {
    int64_t windows = eval_tokens / T;
    if (windows < 1) windows = 1;
    if (windows > val->n_chunks) windows = val->n_chunks;
    uint16_t *x = pq_malloc(sizeof(uint16_t) * (size_t)B * T), *y = pq_malloc(sizeof(uint16_t) * (size_t)B * T);
    /* Over MPI each rank evaluates its share of the batches and all gather the per-batch
     * sums, added in batch order below: the loss one process gets from these weights. */
    int64_t n_batches = (windows + B - 1) / B, first, end;
    pq_dist_split(n_batches, pq_dist_size(), pq_dist_rank(), &first, &end);
    double *batch_sum = pq_calloc((size_t)n_batches, sizeof(double));
    for (int64_t i = first; i < end; i++) {
        int64_t w = i * B;
        int nb = (int)PQ_MIN((int64_t)B, windows - w);
        for (int b = 0; b < nb; b++) pq_data_window(val, w + b, x + (size_t)b * T, y + (size_t)b * T);
        batch_sum[i] = fn(ctx, x, y, nb, T) * nb;
    }
    pq_dist_gather_f64(batch_sum, n_batches);
    double sum = 0.0;
    for (int64_t i = 0; i < n_batches; i++) sum += batch_sum[i];
    free(x), free(y), free(batch_sum);
    return sum / (double)windows;
}

double pq_eval_loss(pq_model *m, pq_acts *a, const pq_data_order *val, int64_t eval_tokens, int B, int T) {
    void *mc[2] = {m, a};
    return eval_loss_with(cpu_loss, mc, val, eval_tokens, B, T);
}

double pq_eval_loss_gpu(pq_gpu_model *g, const pq_data_order *val, int64_t eval_tokens, int B, int T) {
    return eval_loss_with(gpu_loss, g, val, eval_tokens, B, T);
}

void pq_train_log_free(pq_train_log *log) {
    free(log->train_loss), free(log->grad_norm), free(log->lr), free(log->val_step), free(log->val_loss);
    memset(log, 0, sizeof *log);
}

json_t *pq_train_log_to_json(const pq_train_log *log) {
    json_t *o = json_object(), *tl = json_array(), *gn = json_array(), *lr = json_array(), *val = json_array();
    for (int64_t i = 0; i < log->steps_done; i++) {
        json_array_append_new(tl, json_real(log->train_loss[i]));
        json_array_append_new(gn, json_real(log->grad_norm[i]));
        json_array_append_new(lr, json_real(log->lr[i]));
    }
    for (int i = 0; i < log->n_val; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "step", json_integer(log->val_step[i]));
        json_object_set_new(e, "loss", json_real(log->val_loss[i]));
        json_array_append_new(val, e);
    }
    json_object_set_new(o, "train_loss", tl);
    json_object_set_new(o, "grad_norm", gn);
    json_object_set_new(o, "lr", lr);
    json_object_set_new(o, "val", val);
    json_object_set_new(o, "steps", json_integer(log->steps_done));
    json_object_set_new(o, "total_steps", json_integer(log->total_steps));
    json_object_set_new(o, "tokens_per_step", json_integer(log->tokens_per_step));
    json_object_set_new(o, "tokens", json_integer(log->steps_done * log->tokens_per_step));
    json_object_set_new(o, "resumed_from", json_integer(log->resumed_from));
    if (log->n_val) json_object_set_new(o, "final_val_loss", json_real(log->val_loss[log->n_val - 1]));
    if (log->steps_done) json_object_set_new(o, "final_train_loss", json_real(log->train_loss[log->steps_done - 1]));
    return o;
}

/* ---- state checkpoint ------------------------------------------------------ */

typedef struct {
    const pq_trainer_spec *spec;
    pq_adamw *opt;
    pq_train_log *log;
    char *path;
    double t_start, eval_seconds; /* this process: start, time spent in validation */
    pq_gpu_model *gpu;            /* NULL on the CPU */
    int n_model_groups;           /* the optimizer's groups before the extra ones */
} run_state;

/* The AdamW moments of the model's groups (the first n_tensors: one per tensor,
 * which tile the parameter buffer) as flat buffers in the parameter layout. */
static void moments_flat(pq_adamw *o, const pq_model *m, float *fm, float *fv, int to_flat) {
    for (int i = 0; i < m->n_tensors; i++) {
        const pq_model_tensor *t = &m->tensors[i];
        size_t off = (size_t)(t->param - m->params), bytes = sizeof(float) * (size_t)t->numel;
        if (to_flat) memcpy(fm + off, o->m[i], bytes), memcpy(fv + off, o->v[i], bytes);
        else memcpy(o->m[i], fm + off, bytes), memcpy(o->v[i], fv + off, bytes);
    }
}

static void gpu_upload_state(run_state *rs) {
    pq_model *m = rs->spec->model;
    float *fm = pq_malloc(sizeof(float) * (size_t)m->n_params), *fv = pq_malloc(sizeof(float) * (size_t)m->n_params);
    moments_flat(rs->opt, m, fm, fv, 1);
    pq_gpu_set_params(rs->gpu, m->params);
    pq_gpu_set_moments(rs->gpu, fm, fv);
    free(fm), free(fv);
    const pq_gpu_weight_hook *h = rs->spec->gpu_hook;
    int k = rs->n_model_groups; /* the hook's parameters are the first extra group when trained */
    if (h) pq_gpu_set_extra(rs->gpu, h->host_extra, h->extra_trained ? rs->opt->m[k] : NULL, h->extra_trained ? rs->opt->v[k] : NULL);
}

/* The GPU's parameters and moments back into the host model and optimizer. */
static void gpu_download_state(run_state *rs) {
    if (!rs->gpu) return;
    pq_model *m = rs->spec->model;
    float *fm = pq_malloc(sizeof(float) * (size_t)m->n_params), *fv = pq_malloc(sizeof(float) * (size_t)m->n_params);
    pq_gpu_get_params(rs->gpu, m->params);
    pq_gpu_get_moments(rs->gpu, fm, fv);
    moments_flat(rs->opt, m, fm, fv, 0);
    free(fm), free(fv);
    const pq_gpu_weight_hook *h = rs->spec->gpu_hook;
    int k = rs->n_model_groups;
    if (h) pq_gpu_get_extra(rs->gpu, h->host_extra, h->extra_trained ? rs->opt->m[k] : NULL, h->extra_trained ? rs->opt->v[k] : NULL);
}

/* pq_adamw_step's update on the GPU (the step count and bias corrections stay here). */
static void gpu_adamw_step(pq_gpu_model *g, pq_adamw *o, double lr, float grad_mul) {
    o->t++;
    const pq_optim_config *c = &o->cfg;
    pq_gpu_adamw_args a = {.lr = (float)lr, .beta1 = (float)c->beta1, .beta2 = (float)c->beta2, .eps = (float)c->eps,
                           .weight_decay = (float)c->weight_decay, .bc1 = (float)(1.0 - pow(c->beta1, (double)o->t)),
                           .bc2 = (float)(1.0 - pow(c->beta2, (double)o->t)), .grad_mul = grad_mul};
    pq_gpu_adamw_step(g, &a);
}

/* Over MPI ranks (base/dist.h): every rank ends the step holding the fixed-order sum of
 * all ranks' gradients and losses, so all of them take the same optimizer step. */
static double sum_over_ranks(const pq_trainer_spec *sp, double loss) {
    pq_dist_sum_f32(sp->model->grads, sp->model->n_params);
    for (int i = 0; i < sp->n_extra; i++) pq_dist_sum_f32(sp->extra[i].grad, sp->extra[i].n);
    return pq_dist_sum_f64(loss);
}

/* Mean loss of one optimizer step's micro-batches; gradients accumulated (model, or GPU).
 * Over K ranks, rank r takes its contiguous share of the step's grad_accum x batch
 * sequences (pq_dist_split), cut into micro-batches where one process cuts them: the step
 * sees the same sequences as one process, their gradients summed in another grouping. */
static double step_gradients(run_state *rs, pq_acts *a, pq_data_order *order, int64_t s, uint16_t *x, uint16_t *y,
                             float grad_scale) {
    const pq_trainer_spec *sp = rs->spec;
    pq_model *m = sp->model;
    int B = sp->train.batch, accum = sp->train.grad_accum, T = a->T;
    double loss = 0.0;
    if (rs->gpu) {
        pq_gpu_refresh_weights(rs->gpu);
        pq_gpu_zero_grads(rs->gpu);
    } else {
        pq_model_refresh_weights(m);
        pq_model_zero_grads(m);
        pq_groups_zero_grads(sp->extra, sp->n_extra);
    }
    int64_t per_step = (int64_t)accum * B, q, end;
    pq_dist_split(per_step, pq_dist_size(), pq_dist_rank(), &q, &end); /* [0, per_step) without MPI */
    while (q < end) {
        int nb = (int)PQ_MIN(B - q % B, end - q);
        pq_data_train_batch(order, s * per_step + q, nb, x, y);
        double l;
        if (rs->gpu) {
            l = pq_gpu_forward(rs->gpu, x, y, nb, T, 1, grad_scale);
            pq_gpu_backward(rs->gpu, x);
        } else {
            l = pq_model_forward(m, a, x, y, nb, T, 1, grad_scale);
            pq_model_backward(m, a, x);
        }
        loss += nb == B ? l : l * nb / B; /* a micro-batch's share of the step's mean */
        q += nb;
    }
    if (rs->gpu) pq_gpu_finish_grads(rs->gpu);
    else pq_model_finish_grads(m);
    if (pq_dist_size() > 1) loss = sum_over_ranks(sp, loss);
    return loss / accum;
}

static double validation_loss(run_state *rs, pq_acts *a, const pq_data_order *val) {
    const pq_trainer_spec *sp = rs->spec;
    int B = sp->train.batch, T = a->T;
    if (rs->gpu) {
        pq_gpu_refresh_weights(rs->gpu);
        return pq_eval_loss_gpu(rs->gpu, val, sp->train.eval_tokens, B, T);
    }
    pq_model_refresh_weights(sp->model);
    return pq_eval_loss(sp->model, a, val, sp->train.eval_tokens, B, T);
}

static int save_state(run_state *rs) {
    if (pq_dist_rank() != 0) return 0; /* over MPI, rank 0 writes: the ranks hold the same state */
    const pq_trainer_spec *sp = rs->spec;
    pq_train_log *log = rs->log;
    gpu_download_state(rs);
    pq_ckpt *c = pq_ckpt_new();
    json_object_set_new(c->meta, "kind", json_string(sp->kind));
    json_object_set_new(c->meta, "state", json_string("train"));
    json_object_set_new(c->meta, "step", json_integer(log->steps_done));
    json_object_set_new(c->meta, "total_steps", json_integer(log->total_steps));
    if (pq_dist_size() > 1) json_object_set_new(c->meta, "world_size", json_integer(pq_dist_size()));
    if (sp->identity) {
        char *canon = pq_json_canonical(sp->identity);
        json_object_set_new(c->meta, "identity", json_string(canon));
        free(canon);
    }
    pq_ckpt_set_tokenizer_hash(c->meta, pq_tokens_tokenizer_hash(sp->train_data));
    /* The state is written from the live buffers (by reference, streamed: ckpt.h), and
     * the gradients, dead until the next step zeroes them, leave the resident set
     * meanwhile: saving costs no memory beyond training. */
    if (!rs->gpu) pq_model_release_scratch(sp->model);
    pq_model_to_ckpt_ref(sp->model, c);
    char name[96];
    for (int i = 0; i < sp->n_extra; i++) {
        snprintf(name, sizeof name, "extra.%s", sp->extra[i].name);
        pq_ckpt_add_f32(c, name, sp->extra[i].param, sp->extra[i].n);
    }
    pq_adamw_to_ckpt(rs->opt, c);
    if (log->steps_done) {
        pq_ckpt_add_f32(c, "log.train_loss", log->train_loss, log->steps_done);
        pq_ckpt_add_f32(c, "log.grad_norm", log->grad_norm, log->steps_done);
        pq_ckpt_add_f32(c, "log.lr", log->lr, log->steps_done);
    }
    if (log->n_val) {
        int64_t dims[1] = {log->n_val};
        pq_ckpt_add(c, "log.val_step", PQ_I64, 1, dims, log->val_step);
        pq_ckpt_add_f32(c, "log.val_loss", log->val_loss, log->n_val);
    }
    if (sp->save_state) sp->save_state(sp->state_ctx, c);
    /* Level 1: float weights barely compress; speed matters more here. */
    int rc = pq_ckpt_save(c, rs->path, 1);
    pq_ckpt_free(c);
    return rc;
}

/* ---- identities ----------------------------------------------------------------- */

#define PQ_DIFF_MAX 640

static int cmp_keys(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* A value as a person reads it: reals in the fewest digits that give them back (0.003,
 * not 0.0030000000000000001), anything else as compact JSON; "absent" for none. */
static char *describe(const json_t *v) {
    if (!v) return pq_strdup("absent");
    if (!json_is_real(v)) return pq_json_canonical(v);
    char buf[64];
    double d = json_real_value(v);
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, d);
        if (strtod(buf, NULL) == d) break;
    }
    return pq_strdup(buf);
}

/* Writes the first difference between a recorded identity and a requested one
 * (keys in sorted order, objects recursed into) as "train.tokens: 2048 recorded,
 * 4096 requested" and returns 1; 0 (and "") if they are equal. */
static int first_difference(const json_t *recorded, const json_t *requested, const char *path, char *out, size_t n) {
    *out = '\0';
    if (recorded && requested && json_equal((json_t *)recorded, (json_t *)requested)) return 0;
    if (json_is_object(recorded) && json_is_object(requested)) {
        size_t nk = 0, cap = json_object_size(recorded) + json_object_size(requested);
        const char **keys = pq_malloc(sizeof *keys * (cap ? cap : 1));
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)recorded, k, v) keys[nk++] = k;
        json_object_foreach((json_t *)requested, k, v) if (!json_object_get(recorded, k)) keys[nk++] = k;
        qsort(keys, nk, sizeof *keys, cmp_keys);
        int found = 0;
        for (size_t i = 0; i < nk && !found; i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", keys[i]);
            found = first_difference(json_object_get(recorded, keys[i]), json_object_get(requested, keys[i]), sub, out, n);
        }
        free(keys);
        if (found) return 1;
    }
    char *a = describe(recorded), *b = describe(requested);
    snprintf(out, n, "%s: %.200s recorded, %.200s requested", *path ? path : "identity", a, b);
    free(a), free(b);
    return 1;
}

int pq_run_finished(const char *out_dir, const json_t *identity) {
    char *results = pq_path_join(out_dir, "results.json"), *model = pq_path_join(out_dir, "model.ckpt");
    int rc = 0;
    if (pq_file_exists(results) && pq_file_exists(model)) {
        json_t *doc = pq_json_read(results);
        const json_t *recorded = json_object_get(doc, "identity");
        if (doc && !recorded) recorded = json_object_get(json_object_get(doc, "manifest"), "config");
        char diff[PQ_DIFF_MAX];
        if (!doc)
            rc = -1;
        else if (!recorded)
            rc = pq_fail("%s: records no config or inputs to compare with; use another output directory (or remove it "
                         "to start over)",
                         results);
        else if (first_difference(recorded, identity, "", diff, sizeof diff))
            rc = pq_fail("%s is a finished run of a different config or inputs (%s); use another output directory (or "
                         "remove it to start over)",
                         out_dir, diff);
        else
            rc = 1;
        json_decref(doc);
    }
    free(results), free(model);
    return rc;
}

static int copy_f32(const pq_ckpt *c, const char *name, float *dst, int64_t n, const char *path) {
    if (n == 0) return 0;
    const void *d = pq_ckpt_expect(c, name, PQ_F32, n);
    if (!d) {
        char err[1024];
        snprintf(err, sizeof err, "%s", pq_error());
        return pq_fail("%s: %s", path, err);
    }
    memcpy(dst, d, sizeof(float) * (size_t)n);
    return 0;
}

/* The stored identity minus what a branch may change (its budget and what only shapes
 * the schedule's tail or the checkpoint cadence), canonical. */
static char *branch_identity(const char *canon) {
    json_error_t err;
    json_t *id = canon ? json_loads(canon, 0, &err) : NULL;
    if (!id) return NULL;
    json_t *train = json_object_get(id, "train");
    static const char *const free_keys[] = {"tokens", "decay_fraction", "min_lr_ratio", "ckpt_interval"};
    for (size_t i = 0; i < PQ_COUNT(free_keys); i++) json_object_del(train, free_keys[i]);
    json_object_del(id, "branch");
    char *out = pq_json_canonical(id);
    json_decref(id);
    return out;
}

/* A branch point must be a state this run would have reached itself: same identity up to
 * branch_identity, and the same LR at every step before it. */
static int branch_compatible(run_state *rs, const pq_ckpt *c, const char *path, int64_t s) {
    const pq_trainer_spec *sp = rs->spec;
    char *mine_canon = sp->identity ? pq_json_canonical(sp->identity) : NULL;
    char *mine = branch_identity(mine_canon), *theirs = branch_identity(json_string_value(json_object_get(c->meta, "identity")));
    int same = mine && theirs && !strcmp(mine, theirs);
    free(mine_canon), free(mine), free(theirs);
    if (!same)
        return pq_fail("%s: cannot branch from it: it trained another model, on other data or with other settings", path);
    if (s < 0 || s >= rs->log->total_steps)
        return pq_fail("%s: branch point step %lld is not before this run's last step %lld", path, (long long)s,
                       (long long)rs->log->total_steps);
    const float *lr = s ? pq_ckpt_expect(c, "log.lr", PQ_F32, s) : NULL;
    if (s && !lr) return pq_fail_prefix("%s", path);
    for (int64_t k = 0; k < s; k++)
        if (lr[k] != (float)pq_lr_at(&rs->opt->cfg, k))
            return pq_fail("%s: cannot branch at step %lld: its LR at step %lld was %g, this run's schedule has %g there "
                           "(branch inside the stable phase of a WSD run)",
                           path, (long long)s, (long long)k, (double)lr[k], pq_lr_at(&rs->opt->cfg, k));
    return 0;
}

static int load_state_from(run_state *rs, const char *path, int branch);
static int load_state(run_state *rs) { return load_state_from(rs, rs->path, 0); }

static int load_state_from(run_state *rs, const char *path, int branch) {
    const pq_trainer_spec *sp = rs->spec;
    pq_train_log *log = rs->log;
    pq_ckpt *c = pq_ckpt_load(path);
    if (!c) return -1;
    int rc = -1;
    json_t *kind = json_object_get(c->meta, "kind"), *step = json_object_get(c->meta, "step");
    if (!json_is_string(kind) || strcmp(json_string_value(kind), sp->kind) || !json_is_integer(step)) {
        pq_fail("%s: not a %s training state", path, sp->kind);
        goto out;
    }
    if (branch && branch_compatible(rs, c, path, json_integer_value(step))) goto out;
    if (!branch && sp->identity) {
        char *canon = pq_json_canonical(sp->identity);
        const char *stored = json_string_value(json_object_get(c->meta, "identity"));
        int same = stored && !strcmp(stored, canon);
        free(canon);
        if (!same) {
            json_t *recorded = stored ? json_loads(stored, JSON_DECODE_ANY, NULL) : NULL;
            char diff[PQ_DIFF_MAX];
            first_difference(recorded, sp->identity, "", diff, sizeof diff);
            json_decref(recorded);
            pq_fail("%s: was written by a run with a different config or inputs (%s); use another output directory "
                    "(or remove it to start over)",
                    path, diff);
            goto out;
        }
    }
    int64_t s = json_integer_value(step);
    if (s < 0 || s > log->total_steps) {
        pq_fail("%s: step %lld outside 0..%lld", path, (long long)s, (long long)log->total_steps);
        goto out;
    }
    if (pq_model_from_ckpt(sp->model, c, path) || pq_adamw_from_ckpt(rs->opt, c, path)) goto out;
    char name[96];
    for (int i = 0; i < sp->n_extra; i++) {
        snprintf(name, sizeof name, "extra.%s", sp->extra[i].name);
        if (copy_f32(c, name, sp->extra[i].param, sp->extra[i].n, path)) goto out;
    }
    if (copy_f32(c, "log.train_loss", log->train_loss, s, path) || copy_f32(c, "log.grad_norm", log->grad_norm, s, path) ||
        copy_f32(c, "log.lr", log->lr, s, path))
        goto out;
    const pq_tensor *vs = pq_ckpt_find(c, "log.val_step");
    if (vs) {
        const void *d = pq_ckpt_expect(c, "log.val_step", PQ_I64, vs->numel);
        if (!d || vs->numel > log->total_steps + 2 || copy_f32(c, "log.val_loss", log->val_loss, vs->numel, path)) {
            pq_fail("%s: malformed validation log", path);
            goto out;
        }
        memcpy(log->val_step, d, sizeof(int64_t) * (size_t)vs->numel);
        log->n_val = (int)vs->numel;
    }
    if (sp->load_state && sp->load_state(sp->state_ctx, c)) goto out;
    json_int_t ranks = json_integer_value(json_object_get(c->meta, "world_size"));
    if ((ranks > 1 ? ranks : 1) != pq_dist_size() && pq_dist_rank() == 0)
        fprintf(stderr, "%s: note: written by %lld MPI ranks, resumed on %d: the remaining steps sum the same gradients "
                "in another grouping (equal within float rounding, not bitwise, to an uninterrupted run)\n",
                path, (long long)(ranks > 1 ? ranks : 1), pq_dist_size());
    log->steps_done = s;
    log->resumed_from = s;
    rc = 0;
out:
    pq_ckpt_free(c);
    return rc;
}

/* A kept step: the state is saved as usual and copied to state-<step>.ckpt (temp + rename). */
static int is_kept_step(const pq_trainer_spec *sp, int64_t step) {
    for (int i = 0; i < sp->n_keep_steps; i++)
        if (sp->keep_steps[i] == step) return 1;
    return 0;
}

static int keep_state(run_state *rs, int64_t step) {
    if (pq_dist_rank() != 0) return 0;
    if (save_state(rs)) return -1;
    char name[64];
    snprintf(name, sizeof name, "state-%lld.ckpt", (long long)step);
    char *dst = pq_path_join(rs->spec->out_dir, name);
    size_t n;
    char *bytes = pq_read_file(rs->path, &n);
    int rc = bytes ? pq_write_file_atomic(dst, bytes, n) : -1;
    free(bytes), free(dst);
    return rc;
}

/* ---- the loop -------------------------------------------------------------------- */

/* Over MPI, every rank must start from the same state: the run directory is read by each
 * (a filesystem they all see), and a rank that found another state would silently train
 * another model. One hash of the weights (and the hook's parameters) and the step. */
static int ranks_agree(run_state *rs) {
    const pq_trainer_spec *sp = rs->spec;
    if (sp->device == PQ_DEVICE_CUDA) return pq_fail("%s: --device cuda does not run over MPI ranks yet", sp->kind);
    pq_sha256 *h = pq_sha256_begin();
    pq_sha256_update(h, sp->model->params, sizeof(float) * (size_t)sp->model->n_params);
    for (int i = 0; i < sp->n_extra; i++) pq_sha256_update(h, sp->extra[i].param, sizeof(float) * (size_t)sp->extra[i].n);
    uint8_t raw[32];
    pq_sha256_end(h, raw, NULL);
    uint64_t weights;
    memcpy(&weights, raw, sizeof weights);
    if (pq_dist_agree((uint64_t)rs->log->steps_done, "the step to start from") ||
        pq_dist_agree(weights, "the starting weights"))
        return pq_fail_prefix("%s: %s must be on a filesystem every rank sees", sp->kind,
                              sp->out_dir ? sp->out_dir : "the run directory");
    return 0;
}

static void record_val(pq_train_log *log, int64_t step, double loss) {
    log->val_step[log->n_val] = step;
    log->val_loss[log->n_val] = (float)loss;
    log->n_val++;
}

int pq_train(const pq_trainer_spec *sp, pq_train_log *log) {
    memset(log, 0, sizeof *log);
    pq_model *m = sp->model;
    const pq_train_config *tc = &sp->train;
    int T = sp->seq_len ? sp->seq_len : m->cfg.ctx, B = tc->batch, accum = tc->grad_accum;
    if (T > m->cfg.ctx) return pq_fail("%s: sequence length %d exceeds the model context %d", sp->kind, T, m->cfg.ctx);
    if (pq_train_config_check(tc) || pq_acts_check(&m->cfg, B, T)) return -1;
    int64_t tokens_per_step;
    if (__builtin_mul_overflow((int64_t)B * accum, (int64_t)T, &tokens_per_step))
        return pq_fail("%s: batch %d x grad_accum %d x %d tokens overflows", sp->kind, B, accum, T);
    if (sp->train_data->vocab > m->cfg.vocab)
        return pq_fail("%s: tokens from a vocab of %d do not fit the model vocab %d", sp->train_data->desc, sp->train_data->vocab,
                       m->cfg.vocab);
    if (sp->val_data && sp->val_data->vocab > m->cfg.vocab)
        return pq_fail("%s: tokens from a vocab of %d do not fit the model vocab %d", sp->val_data->desc, sp->val_data->vocab,
                       m->cfg.vocab);
    pq_set_threads(pq_threads()); /* OpenBLAS follows PQ_THREADS */

    log->tokens_per_step = tokens_per_step;
    log->total_steps = pq_train_steps(tc, T);
    int64_t total = log->total_steps, max_val = total + 2;
    log->train_loss = pq_calloc((size_t)total + 1, sizeof(float));
    log->grad_norm = pq_calloc((size_t)total + 1, sizeof(float));
    log->lr = pq_calloc((size_t)total + 1, sizeof(float));
    log->val_step = pq_calloc((size_t)max_val, sizeof(int64_t));
    log->val_loss = pq_calloc((size_t)max_val, sizeof(float));

    pq_param_group *groups = NULL;
    int n_groups = 0;
    pq_model_param_groups(m, &groups, &n_groups);
    const int n_model_groups = n_groups;
    groups = pq_realloc(groups, sizeof *groups * (size_t)(n_groups + sp->n_extra));
    for (int i = 0; i < sp->n_extra; i++) groups[n_groups++] = sp->extra[i];
    pq_optim_config oc = {.lr = tc->lr, .min_lr_ratio = tc->min_lr_ratio, .warmup = tc->warmup, .total_steps = total,
                          .weight_decay = tc->weight_decay, .beta1 = tc->beta1, .beta2 = tc->beta2, .eps = tc->eps,
                          .clip = tc->clip, .schedule = tc->schedule, .decay_fraction = tc->decay_fraction};
    pq_adamw *opt = pq_adamw_new(&oc, groups, n_groups);

    int rc = -1;
    pq_data_order train_order, val_order;
    int have_val = 0;
    pq_acts *a = NULL;
    uint16_t *x = NULL, *y = NULL;
    run_state rs = {.spec = sp, .opt = opt, .log = log, .path = sp->out_dir ? pq_path_join(sp->out_dir, "state.ckpt") : NULL,
                    .t_start = pq_now(), .n_model_groups = n_model_groups};
    if (pq_data_order_init(&train_order, sp->train_data, T, tc->seed)) goto out_groups;
    if (sp->val_data) {
        if (pq_data_order_init(&val_order, sp->val_data, T, tc->seed)) goto out_train_order;
        have_val = 1;
    }
    pq_model_set_hook(m, sp->hook);
    a = pq_acts_new_mode(&m->cfg, B, T, sp->recompute ? PQ_ACTS_RECOMPUTE : PQ_ACTS_TRAIN);
    x = pq_malloc(sizeof(uint16_t) * (size_t)B * T);
    y = pq_malloc(sizeof(uint16_t) * (size_t)B * T);

    int resumed = 0;
    /* A branch starts as this run's own state, written before the first step: from then on
     * it is an ordinary resume (and a kill at any point resumes the same way). */
    if (rs.path && sp->branch_from && !pq_file_exists(rs.path)) {
        if (load_state_from(&rs, sp->branch_from, 1) || save_state(&rs)) goto out;
        resumed = pq_dist_rank() != 0; /* rank 0 reads back the copy it wrote, below */
    }
    if (!resumed && rs.path && pq_file_exists(rs.path)) {
        if (load_state(&rs)) goto out;
        resumed = 1;
    }
    if (pq_dist_size() > 1 && ranks_agree(&rs)) goto out;
    if (sp->device == PQ_DEVICE_CUDA) {
        /* the GPU trains the model and, with a hook, the hook's parameters: nothing else */
        const pq_gpu_weight_hook *h = sp->gpu_hook;
        int trained_extra = h && h->extra_trained && h->n_extra;
        if ((sp->hook != NULL) != (h != NULL) || sp->n_extra != trained_extra ||
            (trained_extra && (sp->extra[0].param != h->host_extra || sp->extra[0].n != h->n_extra))) {
            pq_fail("%s: --device cuda: this run's weight hook or extra parameters have no GPU counterpart", sp->kind);
            goto out;
        }
        if (!(rs.gpu = pq_gpu_model_new(m, B, T, sp->precision, h))) goto out;
        gpu_upload_state(&rs);
    }
    if (!resumed && have_val) record_val(log, 0, validation_loss(&rs, a, &val_order));

    pq_progress prog;
    pq_progress_begin(&prog, sp->kind, total, "tok");
    prog.enabled &= pq_dist_rank() == 0; /* one progress line per run, not one per rank */
    double t0 = pq_now();
    rs.t_start = t0, rs.eval_seconds = 0;
    int64_t start = log->steps_done, done_here = 0;
    float grad_scale = 1.0f / (float)log->tokens_per_step;
    for (int64_t s = start; s < total; s++) {
        double loss = step_gradients(&rs, a, &train_order, s, x, y, grad_scale);
        double norm = rs.gpu ? pq_gpu_grad_norm(rs.gpu) : pq_groups_grad_norm(groups, n_groups);
        if (!isfinite(loss) || !isfinite(norm)) {
            pq_fail("%s: loss %g, gradient norm %g at step %lld: training diverged (lower lr?)", sp->kind, loss, norm,
                    (long long)s);
            goto out;
        }
        double lr = pq_lr_at(&oc, s);
        if (rs.gpu) gpu_adamw_step(rs.gpu, opt, lr, pq_clip_factor(norm, tc->clip));
        else pq_adamw_step(opt, lr, pq_clip_factor(norm, tc->clip));
        log->train_loss[s] = (float)loss;
        log->grad_norm[s] = (float)norm;
        log->lr[s] = (float)lr;
        log->steps_done = s + 1;
        done_here++;
        if (have_val && ((tc->eval_interval && (s + 1) % tc->eval_interval == 0) || s + 1 == total)) {
            double te = pq_now();
            record_val(log, s + 1, validation_loss(&rs, a, &val_order));
            rs.eval_seconds += pq_now() - te;
        }
        pq_progress_update(&prog, s + 1, (s + 1) * log->tokens_per_step, "loss %.4f", loss);
        if (rs.path && tc->ckpt_interval && (s + 1) % tc->ckpt_interval == 0 && s + 1 < total && save_state(&rs))
            goto out;
        if (rs.path && s + 1 < total && is_kept_step(sp, s + 1) && keep_state(&rs, s + 1)) goto out;
        if (sp->stop_after_steps && done_here >= sp->stop_after_steps) break;
    }
    log->seconds = pq_now() - t0;
    /* Training speed of this process's steps: validation passes are not training. (Timing
     * stays out of the state file, which is bitwise reproducible.) */
    log->train_seconds = log->seconds - rs.eval_seconds;
    log->tokens_per_sec = log->train_seconds > 0 && done_here > 0
                              ? (double)(done_here * log->tokens_per_step) / log->train_seconds
                              : 0;
    pq_progress_end(&prog);
    if (rs.path && log->steps_done == total && done_here > 0 && save_state(&rs)) goto out;
    if (rs.path && log->steps_done == total && !pq_file_exists(rs.path) && save_state(&rs)) goto out;
    gpu_download_state(&rs);
    pq_model_refresh_weights(m);
    rc = 0;
out:
    pq_gpu_model_free(rs.gpu);
    free(x), free(y);
    pq_acts_free(a);
    if (have_val) pq_data_order_free(&val_order);
out_train_order:
    pq_data_order_free(&train_order);
out_groups:
    free(rs.path);
    pq_adamw_free(opt);
    free(groups);
    if (rc) {
        char err[1024];
        snprintf(err, sizeof err, "%s", pq_error());
        pq_train_log_free(log);
        pq_fail("%s", err);
    }
    return rc;
}
