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
 * When a hook is installed (pq_model_set_hook) the model allocates ONE layer's
 * worth of effective weights (m->eff), not a copy of every layer's: each layer's
 * are made by the hook's forward when a forward or backward reaches that layer
 * (and kept while the next call is for the same layer), so QAT costs the
 * memory of training plus one layer. Their gradients dL/dW_eff accumulate in
 * the latent gradient buffer itself (the block linears' dW is otherwise unused
 * until the hook's backward writes it). Then:
 *   pq_model_refresh_weights(m)  forgets the effective weights made so far and
 *       calls the hook's refresh (if any); call it after the latent weights or the
 *       hook's parameters change (the trainer does, once per optimizer step) and
 *       before any forward or any read of the hook's state.
 *   pq_model_backward()          accumulates dL/dW_eff into dW (over micro-batches).
 *   pq_model_finish_grads(m)     once per step: for every linear, takes the summed
 *       dL/dW_eff out of dW (into m->eff), clears dW and calls the hook's backward,
 *       which turns it into dL/dW (STE gradients are linear in dL/dW_eff, so
 *       summing first is exact). The arithmetic is that of a full-size dL/dW_eff
 *       buffer: the same sums in the same order.
 * Without a hook the matmuls read W and write dW directly: zero overhead, and the
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
    /* Optional (NULL: none): brings the hook's own state that follows W (a scale
     * computed from W) up to date; the effective weights are made later, lazily. */
    void (*refresh)(void *ctx);
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
    /* Under a hook: one layer's effective weights (NULL without a hook), their views
     * (norms: the latent ones), and the layer they hold now (-1: none). */
    float *eff;
    pq_layer_ptrs eff_w;
    int eff_layer;
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

/* Install (or with NULL remove) the QAT hook; allocates the one-layer effective-weight buffer once. */
void pq_model_set_hook(pq_model *m, const pq_weight_hook *hook);
/* Floats of every layer's block linears back to back, and layer l's views into such a
 * buffer at base (norms NULL): the layout of the GPU's effective weights (gpu/gpu.h). */
int64_t pq_model_eff_floats(const pq_model_config *cfg);
void pq_model_eff_layout(const pq_model_config *cfg, int layer, float *base, pq_layer_ptrs *out);
void pq_model_refresh_weights(pq_model *m);
void pq_model_finish_grads(pq_model *m);
/* Gives the pages of the gradients and the effective weights back to the kernel
 * (they read as zero after): their contents are dead between optimizer steps
 * (zeroed and remade at the next one), so a checkpoint written there need not
 * find them resident. */
void pq_model_release_scratch(pq_model *m);
/* Zeroes the model's gradients (dL/dW_eff too: it accumulates in them). */
void pq_model_zero_grads(pq_model *m);

/* What a pq_acts keeps of a forward:
 *   PQ_ACTS_TRAIN      every layer's activations, for pq_model_backward (the default);
 *   PQ_ACTS_RECOMPUTE  every layer's input (the residual stream) and one layer's
 *                      activations: the backward recomputes each layer's forward but
 *                      the last's from its input first (up to the down projection: about
 *                      a quarter more arithmetic in the layers, the same bits);
 *                      activation memory grows with depth by B*T*dim floats a layer;
 *   PQ_ACTS_FORWARD    one layer's activations reused layer after layer and the head:
 *                      forward only (no targets with for_backward, no backward);
 *   PQ_ACTS_LAYER      one layer's activations, no head: pq_model_layer_forward only. */
typedef enum { PQ_ACTS_TRAIN, PQ_ACTS_RECOMPUTE, PQ_ACTS_FORWARD, PQ_ACTS_LAYER } pq_acts_mode;

/* Activation memory for micro-batches of up to B sequences of up to T tokens,
 * planned once. Per-layer lists have n_layers entries; where one layer's buffer
 * is reused, every entry points to it. */
typedef struct {
    int B, T;
    pq_acts_mode mode;
    float *buf;
    size_t n_floats;
    float **res, **xn1, **rstd1, **qkv, **att, **atty, **res_mid, **xn2, **rstd2, **gu, **h;
    float *xf, *rstdf, *logits; /* logits[B*T, vocab] (NULL in PQ_ACTS_LAYER) */
    /* backward scratch (NULL unless TRAIN or RECOMPUTE) */
    float *dres, *dxn, *dqkv, *datty, *dgu, *dh, *dscores;
    int last_B, last_T, has_grad; /* what the last forward saw */
} pq_acts;

/* 0 if the activations of (B, T) micro-batches fit PQ_MAX_ACT_BYTES (sized with
 * overflow-checked arithmetic), else -1 + pq_error() "batch B x T tokens: ...". */
int pq_acts_check(const pq_model_config *cfg, int B, int T);
/* Bytes of that plan (SIZE_MAX if it overflows): for planning a run's memory. */
size_t pq_acts_bytes(const pq_model_config *cfg, int B, int T);
size_t pq_acts_bytes_mode(const pq_model_config *cfg, int B, int T, pq_acts_mode mode);
/* Dies on a plan pq_acts_check refuses: check first where B and T come from input. */
pq_acts *pq_acts_new(const pq_model_config *cfg, int B, int T); /* PQ_ACTS_TRAIN */
pq_acts *pq_acts_new_mode(const pq_model_config *cfg, int B, int T, pq_acts_mode mode);
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

/* Layer by layer (GPTQ): x[N, dim] = tok_emb[tokens] (N tokens, each < vocab) ... */
void pq_model_embed(const pq_model *m, const uint16_t *tokens, int N, float *x);
/* ... then layer l on x [B*T, dim] (a sequence's T rows together), with the layer's
 * current effective weights: its activations (inputs of the linears: xn1, atty,
 * xn2, h) land in a's entries for l, and with update the layer's output replaces x
 * (without, x is left alone). The same arithmetic as pq_model_forward's layer l. */
void pq_model_layer_forward(pq_model *m, pq_acts *a, int layer, float *x, int B, int T, int update);

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
