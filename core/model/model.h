/* model.h — the MobileLLM/LLaMA-style decoder: parameters, forward, backward.
 *
 *   x = tok_emb[tokens]
 *   per layer: x += Wo . attn(rope(Wq . rms(x)), rope(Wk . rms(x)), Wv . rms(x))
 *              x += Wdown . (silu(Wgate . rms(x)) * (Wup . rms(x)))
 *   logits = rms(x) . head^T         (head = tok_emb, tied, unless cfg.untied_head)
 * RMSNorm eps 1e-5 with a learned gain, RoPE theta 10000 (rotate_half pairing),
 * causal grouped-query attention, SwiGLU, no biases. Imported models may set
 * another eps and theta, LLaMA-3 RoPE scaling and an untied head (config.h).
 *
 * Tensors (names used in checkpoints, shapes [rows, cols], W[out, in]):
 *   tok_emb [vocab, dim]             final_norm [dim]       head [vocab, dim] (untied only, last)
 *   layers.L.attn_norm [dim]         layers.L.mlp_norm [dim]
 *   layers.L.wq [n_heads*hd, dim]    layers.L.wk, .wv [n_kv_heads*hd, dim]
 *   layers.L.wo [dim, dim]           layers.L.w_gate, .w_up [ffn, dim]   layers.L.w_down [dim, ffn]
 * All parameters live in one buffer (and their gradients in a second one with
 * the same layout); wq|wk|wv and w_gate|w_up are adjacent so each pair/triple
 * is one fused sgemm.
 *
 * ---------------------------------------------------------------------------
 * THE QAT HOOK (how quantization-aware training plugs in)
 *
 * Every linear layer inside the blocks (q, k, v, o, gate, up, down) reads its
 * weight through an optional pq_weight_hook. Embedding, head and norms never do.
 *
 *   forward(ctx, layer, which, W, rows, cols, W_eff)
 *       fill W_eff[rows, cols] (the weight the matmul will use, e.g. alpha * q(W/alpha))
 *       from the latent weight W[rows, cols].
 *   backward(ctx, layer, which, W, rows, cols, dW_eff, dW)
 *       given dL/dW_eff, ACCUMULATE dL/dW into dW (e.g. the STE: dW += dW_eff * mask)
 *       and accumulate the hook's own gradients (e.g. per-row scales) inside ctx.
 *
 * When a hook is installed (pq_model_set_hook) the model plans, once, a buffer
 * of effective weights and one of their gradients (block linears only). Then:
 *   pq_model_refresh_weights(m)  calls forward for all 7 x n_layers linears;
 *       call it after the latent weights change (the trainer does, once per
 *       optimizer step, not per micro-batch) and before any forward.
 *   pq_model_backward()          accumulates dL/dW_eff (over micro-batches).
 *   pq_model_finish_grads(m)     calls backward for every linear, once per step,
 *       turning the summed dL/dW_eff into dL/dW (STE gradients are linear in
 *       dL/dW_eff, so summing first is exact), then clears dL/dW_eff.
 * Without a hook W_eff aliases W and dW_eff aliases dW: zero overhead, and the
 * refresh/finish calls are no-ops. The hook's own parameters (scales) join the
 * optimizer as extra pq_param_groups (train/optim.h); the trainer zeroes their
 * gradients together with the model's at the start of each step.
 * ------------------------------------------------------------------------- */
#ifndef PQ_MODEL_H
#define PQ_MODEL_H

#include <stdint.h>

#include "base/ckpt.h"
#include "model/config.h"

#define PQ_RMS_EPS 1e-5f
#define PQ_ROPE_THETA 10000.0

typedef enum { PQ_LIN_Q, PQ_LIN_K, PQ_LIN_V, PQ_LIN_O, PQ_LIN_GATE, PQ_LIN_UP, PQ_LIN_DOWN, PQ_LIN_COUNT } pq_linear_id;
/* "wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down" */
const char *pq_linear_name(pq_linear_id which);

typedef struct {
    void *ctx;
    void (*forward)(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, float *W_eff);
    void (*backward)(void *ctx, int layer, pq_linear_id which, const float *W, int rows, int cols, const float *dW_eff,
                     float *dW);
} pq_weight_hook;

/* One named tensor: a view into the parameter buffer and the gradient buffer. */
typedef struct {
    char name[48];
    float *param, *grad;
    int64_t numel;
    int ndim;
    int64_t dims[2];
    int is_matrix; /* 2-D (gets weight decay) */
} pq_model_tensor;

typedef struct {
    float *attn_norm, *wqkv, *wo, *mlp_norm, *wgu, *wdown;
} pq_layer_ptrs;

typedef struct {
    pq_model_config cfg;
    int64_t n_params;
    float *params, *grads;           /* one buffer each, same layout */
    float *tok_emb, *final_norm;     /* views into params */
    float *g_tok_emb, *g_final_norm; /* views into grads */
    float *head, *g_head;            /* output head: == tok_emb, g_tok_emb when tied */
    pq_layer_ptrs *w, *g;            /* per layer, latent weights and their grads */
    /* what the matmuls use: == w/g without a hook, else views into eff/geff */
    pq_layer_ptrs *we, *ge;
    float *eff, *geff; /* effective weights and their grads (NULL without a hook) */
    const pq_weight_hook *hook;
    int n_tensors;
    pq_model_tensor *tensors;
    float *rope_cos, *rope_sin; /* [ctx, hd/2] */
} pq_model;

/* RoPE tables cos/sin[ctx, hd/2] for this config (theta, LLaMA-3 scaling); with the
 * defaults exactly pq_rope_tables(.., PQ_ROPE_THETA). */
void pq_model_rope_tables(const pq_model_config *c, float *cos_t, float *sin_t);

/* Allocates a model with zero parameters (config must pass pq_model_config_check). */
pq_model *pq_model_new(const pq_model_config *cfg);
void pq_model_free(pq_model *m);
/* Deterministic init from (seed, "init" streams): N(0, 0.02) matrices, residual
 * output projections (wo, w_down) scaled by 1/sqrt(2 n_layers), norm gains 1. */
void pq_model_init(pq_model *m, uint64_t seed);

const pq_model_tensor *pq_model_find_tensor(const pq_model *m, const char *name);
/* The latent weight of a block linear as [rows, cols] (and its gradient). */
float *pq_model_linear(pq_model *m, int layer, pq_linear_id which, int *rows, int *cols, float **grad);

/* Install (or with NULL remove) the QAT hook; plans the effective-weight buffers once. */
void pq_model_set_hook(pq_model *m, const pq_weight_hook *hook);
void pq_model_refresh_weights(pq_model *m);
void pq_model_finish_grads(pq_model *m);
/* Gives the pages of the gradients and the effective weights and their gradients
 * back to the kernel (they read as zero after): their contents are dead between
 * optimizer steps (zeroed and refreshed at the next one), so a checkpoint written
 * there need not find them resident. */
void pq_model_release_scratch(pq_model *m);
/* Zeroes the model's gradients (and the effective-weight gradients). */
void pq_model_zero_grads(pq_model *m);

/* Activation memory for micro-batches of up to B sequences of up to T tokens,
 * planned once. */
typedef struct {
    int B, T;
    float *buf;
    size_t n_floats;
    float **res, **xn1, **rstd1, **qkv, **att, **atty, **res_mid, **xn2, **rstd2, **gu, **h;
    float *xf, *rstdf, *logits; /* logits[B*T, vocab] */
    /* backward scratch */
    float *dres, *dxn, *dqkv, *datty, *dgu, *dh, *dscores;
    int last_B, last_T, has_grad; /* what the last forward saw */
} pq_acts;

/* 0 if the activations of (B, T) micro-batches fit PQ_MAX_ACT_BYTES (sized with
 * overflow-checked arithmetic), else -1 + pq_error() "batch B x T tokens: ...". */
int pq_acts_check(const pq_model_config *cfg, int B, int T);
/* Bytes of that plan (SIZE_MAX if it overflows): for planning a run's memory. */
size_t pq_acts_bytes(const pq_model_config *cfg, int B, int T);
/* Dies on a plan pq_acts_check refuses: check first where B and T come from input. */
pq_acts *pq_acts_new(const pq_model_config *cfg, int B, int T);
void pq_acts_free(pq_acts *a);

/* Forward of B sequences of T tokens (tokens[b*T + t], every token < vocab).
 * If targets is NULL, a->logits holds the logits [B*T, vocab] afterwards and
 * the return value is 0. Otherwise returns the MEAN cross-entropy over the B*T
 * positions and, if for_backward, leaves in a->logits the gradient of
 * grad_scale * (SUM of losses) (the trainer passes 1/(tokens per step)).
 * Uses the effective weights: with a hook, call pq_model_refresh_weights first. */
double pq_model_forward(pq_model *m, pq_acts *a, const uint16_t *tokens, const uint16_t *targets, int B, int T,
                        int for_backward, float grad_scale);
/* Backward of the last forward (which had targets and for_backward=1):
 * ACCUMULATES into the model's gradients (dW_eff under a hook). */
void pq_model_backward(pq_model *m, pq_acts *a, const uint16_t *tokens);

/* Convenience for evaluation: logits_out[T, vocab] for one sequence (T <= a->T). */
void pq_model_logits(pq_model *m, pq_acts *a, const uint16_t *tokens, int T, float *logits_out);

/* Adds every parameter tensor (by name) and meta.model = config to a checkpoint. */
void pq_model_to_ckpt(const pq_model *m, pq_ckpt *c);
/* The same by reference (pq_ckpt_add_ref): no copy; save c before m changes or goes. */
void pq_model_to_ckpt_ref(const pq_model *m, pq_ckpt *c);
/* Reads the model config a checkpoint records in its metadata ("model"); errors name `what`. */
int pq_model_config_from_ckpt(pq_model_config *cfg, const pq_ckpt *c, const char *what);
/* Copies the parameters from a checkpoint whose tensors match this model. */
int pq_model_from_ckpt(pq_model *m, const pq_ckpt *c, const char *what);
/* The same, handing each tensor's memory back as soon as it is copied (so loading
 * costs the model plus one tensor, not twice the model): c's model tensors are left
 * empty (0 elements); its metadata and other tensors stay. */
int pq_model_take_ckpt(pq_model *m, pq_ckpt *c, const char *what);
/* Writes path (model.ckpt format: meta {"kind": "model", "model": config, ...extra_meta}). */
int pq_model_save(const pq_model *m, const char *path, const json_t *extra_meta);
/* Loads a model.ckpt (config from its metadata); NULL + pq_error(). */
pq_model *pq_model_load(const char *path);

#endif
