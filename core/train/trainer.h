/* trainer.h — the training loop shared by `pq pretrain` and `pq qat`.
 *
 * pq_train() trains spec->model in place for spec->train.tokens tokens:
 *   per optimizer step s (0-based):
 *     refresh effective weights (QAT hook forward, once per step)
 *     zero all gradients (model + extra groups)
 *     grad_accum micro-batches: forward, backward (data = f(seed, s, micro))
 *     hook backward (dW_eff -> dW, scales), global-norm clip, AdamW at lr(s)
 *     validation loss every eval_interval steps (and at step 0 and at the end)
 *     state checkpoint every ckpt_interval steps and at the end
 * Checkpoint/resume: with out_dir set, "<out_dir>/state.ckpt" holds the model,
 * the extra groups, the AdamW moments, the step, the loss curves and the
 * tokenizer of the training data (train/data.h: PQ_CKPT_TOKENIZER_KEY). If it
 * exists when pq_train() starts (and its identity matches) training continues
 * from it; the result is bitwise identical to an uninterrupted run because
 * nothing else carries state: data order is a pure function of (seed, step).
 * A finished run leaves a state at the last step, so rerunning is a no-op.
 * Under mpirun (base/dist.h) each of K ranks runs a contiguous share of every step's
 * grad_accum x batch sequences, the ranks add their gradients in a fixed order and take
 * the same step; rank 0 writes the state. Bitwise reproducible for a given K; across K
 * the sums group differently (equal within float rounding). */
#ifndef PQ_TRAINER_H
#define PQ_TRAINER_H

#include <stdint.h>

#include <jansson.h>

#include "base/ckpt.h"
#include "gpu/gpu.h"
#include "model/config.h"
#include "model/model.h"
#include "train/data.h"
#include "train/optim.h"

typedef struct {
    const char *kind;    /* "pretrain", "qat", ...: progress label, stored in the state */
    const char *out_dir; /* where state.ckpt lives; NULL = no checkpoints */
    pq_model *model;     /* initialized or loaded; trained in place */
    pq_train_config train;
    int seq_len; /* T, <= model ctx (0 = ctx) */
    const pq_token_stream *train_data;
    const pq_token_stream *val_data; /* NULL = no validation */
    const pq_weight_hook *hook;      /* NULL = plain full-precision training */
    pq_param_group *extra;           /* trained with the model (e.g. QAT scales); saved by name */
    int n_extra;
    /* Must equal the stored one to resume (e.g. {config, inputs}); NULL = no check. */
    const json_t *identity;
    /* Optional: more state for the checkpoint (beyond the extra groups' arrays). */
    void (*save_state)(void *ctx, pq_ckpt *c);
    int (*load_state)(void *ctx, const pq_ckpt *c);
    void *state_ctx;
    /* Optional: stop after this many steps in this process (tests simulate a crash); 0 = off. */
    int64_t stop_after_steps;
    /* Optional: at each of these steps (0 < step < total) the state is also copied to
     * "<out_dir>/state-<step>.ckpt", which outlives the run (branch points for others). */
    const int64_t *keep_steps;
    int n_keep_steps;
    /* Optional: a state file of another run (its state-<step>.ckpt) to start from when
     * out_dir holds no state yet. The other run must have trained this same model on the
     * same data with the same settings, apart from tokens, decay_fraction, min_lr_ratio
     * and ckpt_interval, and its LR at every step before the branch point must equal this
     * run's schedule there (a WSD run branched inside its stable phase): then the result is
     * bitwise identical to training this run from scratch. */
    const char *branch_from;
    /* Where the steps run (gpu/gpu.h). On cuda the model, gradients and AdamW moments
     * live on the GPU and come back to the host for every state checkpoint and at the
     * end. A hooked run (QAT) on cuda also needs gpu_hook, the same hook on device
     * pointers; its parameters (host_extra) are then the one extra group, if trained. */
    pq_device device;
    pq_gpu_precision precision;
    const pq_gpu_weight_hook *gpu_hook;
    /* 1: keep only each layer's input over a micro-batch and recompute the layer's
     * activations in the backward (model.h, PQ_ACTS_RECOMPUTE): activation memory of one
     * layer plus the residual stream instead of every layer's, for about a quarter more
     * arithmetic in the layers. The same bits either way, so it is not part of the
     * identity: a run may resume with or without it. The CPU's: cuda ignores it. */
    int recompute;
} pq_trainer_spec;

typedef struct {
    int64_t total_steps, steps_done, tokens_per_step;
    int64_t resumed_from; /* step the run resumed at (0 = fresh) */
    float *train_loss;    /* [steps_done] mean loss of each step */
    float *grad_norm;     /* [steps_done] before clipping */
    float *lr;            /* [steps_done] */
    int n_val;
    int64_t *val_step; /* steps completed when evaluated */
    float *val_loss;
    double seconds;        /* wall time of the steps done in this process (with validation) */
    double train_seconds;  /* the part of it spent training (validation excluded) */
    double tokens_per_sec; /* tokens trained in this process / train_seconds (0 if none) */
} pq_train_log;

/* 0 on success, -1 + pq_error() (bad data, corrupt or mismatched state, non-finite loss). */
int pq_train(const pq_trainer_spec *spec, pq_train_log *log);
void pq_train_log_free(pq_train_log *log);
/* {"train_loss": [...], "grad_norm": [...], "lr": [...], "val": [{"step", "loss"}...], ...} */
json_t *pq_train_log_to_json(const pq_train_log *log);

/* Mean validation loss over the first eval_tokens/T windows of val (at least one),
 * batches of B; uses the model's current effective weights. */
double pq_eval_loss(pq_model *m, pq_acts *a, const pq_data_order *val, int64_t eval_tokens, int B, int T);
/* The same on the GPU, with g's current (effective) weights. */
double pq_eval_loss_gpu(pq_gpu_model *g, const pq_data_order *val, int64_t eval_tokens, int B, int T);

/* Steps a token budget buys: tokens / (batch * grad_accum * T) (at least 1 if tokens > 0). */
int64_t pq_train_steps(const pq_train_config *t, int T);

/* Whether out_dir holds a finished run (results.json and model.ckpt) of exactly
 * this identity, checked as a resumed state's is: 1 if it does (nothing to do),
 * 0 if the run is not finished, -1 + pq_error() if it is finished but recorded
 * another identity (results.json's "identity", else its manifest's "config"),
 * naming the directory, the first field that differs and both values. */
int pq_run_finished(const char *out_dir, const json_t *identity);

#endif
