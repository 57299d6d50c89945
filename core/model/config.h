/* config.h — a model's shape and a training run's settings, read from JSON.
 *
 * A config file (documented in README, "Training") is one JSON object:
 *   { "name": "s",                                 (optional, informational)
 *     "model": { "dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim", "vocab", "ctx",
 *                optional (imported models, core/interop): "rope_theta", "norm_eps", "untied_head",
 *                "rope_llama3": {"factor", "low_freq_factor", "high_freq_factor", "original_ctx"} },
 *     "train": { "batch", "grad_accum", "lr", "min_lr_ratio", "schedule", "decay_fraction", "warmup", "weight_decay",
 *                "beta1", "beta2", "eps", "clip", "seed", "tokens",
 *                "eval_interval", "eval_tokens", "ckpt_interval" } }
 * Unknown keys are errors (a typo must not silently fall back to a default). */
#ifndef PQ_CONFIG_H
#define PQ_CONFIG_H

#include <stdint.h>

#include <jansson.h>

typedef struct {
    int dim;        /* model width = n_heads * head_dim */
    int n_layers;
    int n_heads;
    int n_kv_heads; /* grouped-query attention: n_heads % n_kv_heads == 0 */
    int ffn_dim;    /* SwiGLU hidden width */
    int vocab;
    int ctx;        /* maximum sequence length (RoPE table size) */
    /* Optional fields, for imported checkpoints. Zero means today's default, so that a
     * config written without them (and every struct initialized without them) is the
     * same model bit for bit; pq_model_config_to_json writes them only when set. */
    double rope_theta;  /* 0: PQ_ROPE_THETA (10000) */
    double norm_eps;    /* 0: PQ_RMS_EPS (1e-5) */
    int untied_head;    /* 1: a separate output head [vocab, dim] ("head"); 0: tied to tok_emb */
    double rope_llama3_factor; /* > 0: LLaMA-3 RoPE frequency scaling with the three fields below */
    double rope_llama3_low, rope_llama3_high; /* low_freq_factor, high_freq_factor */
    int rope_llama3_orig_ctx;  /* original_max_position_embeddings */
} pq_model_config;

/* A config of the seven shape fields, the optional ones left at their defaults. */
#define PQ_MODEL_SHAPE(D, L, H, KV, F, V, C) \
    {.dim = (D), .n_layers = (L), .n_heads = (H), .n_kv_heads = (KV), .ffn_dim = (F), .vocab = (V), .ctx = (C)}

/* The effective values of the optional fields. */
double pq_model_rope_theta(const pq_model_config *c);
float pq_model_norm_eps(const pq_model_config *c);

/* LR schedule after the linear warmup: cosine to lr * min_lr_ratio at the last step, or
 * warmup-stable-decay (constant lr, then a linear decay to lr * min_lr_ratio over the last
 * decay_fraction of the steps). */
typedef enum { PQ_SCHEDULE_COSINE = 0, PQ_SCHEDULE_WSD = 1 } pq_schedule;

typedef struct {
    int batch;             /* sequences per micro-batch */
    int grad_accum;        /* micro-batches per optimizer step */
    double lr;             /* peak learning rate */
    double min_lr_ratio;   /* the schedule's floor as a fraction of lr */
    int schedule;          /* pq_schedule; JSON "cosine" or "wsd" */
    double decay_fraction; /* wsd: share of the steps in the final decay, in (0, 1] */
    int64_t warmup;        /* linear warmup, in optimizer steps */
    double weight_decay;   /* AdamW, applied to matrices only */
    double beta1, beta2, eps;
    double clip;           /* global gradient-norm clip; 0 = off */
    uint64_t seed;         /* init and data order */
    int64_t tokens;        /* token budget: steps = tokens / (batch * grad_accum * ctx) */
    int64_t eval_interval; /* validation every this many steps (0 = only at start and end) */
    int64_t eval_tokens;   /* validation tokens per evaluation */
    int64_t ckpt_interval; /* resumable checkpoint every this many steps (0 = never) */
} pq_train_config;

/* Defaults for the training fields (a file overrides any of them). */
pq_train_config pq_train_config_default(void);

/* Upper bounds of a config (README, "Training"). Far beyond any model this suite
 * trains on a CPU, and small enough that every size computed from a config
 * (parameter counts, buffer offsets, int row x column products) is far from
 * overflowing: a config outside them is refused, never allocated. */
#define PQ_MAX_WIDTH (1 << 20)                /* dim, ffn_dim, ctx */
#define PQ_MAX_LAYERS 4096                    /* n_layers */
#define PQ_MAX_VOCAB (1 << 24)                /* eval and generate hold token ids as int32 */
#define PQ_MAX_TRAIN_VOCAB 65536              /* the training forward reads tokens as uint16 */
#define PQ_MAX_MATRIX ((int64_t)INT32_MAX)    /* elements of one weight matrix or of the RoPE table */
#define PQ_MAX_PARAMS ((int64_t)1 << 34)      /* parameters in all (64 GiB of fp32, as much again for gradients) */
#define PQ_MAX_ACT_BYTES ((int64_t)1 << 36)   /* activation memory of one micro-batch (64 GiB) */

/* Validates shape constraints (head_dim even, heads divisible, ...) and the
 * bounds above, with overflow-checked arithmetic; -1 + pq_error() naming the
 * field. */
int pq_model_config_check(const pq_model_config *c);
int pq_train_config_check(const pq_train_config *t);

/* Parse the "model" / "train" objects; `what` names the source in errors. */
int pq_model_config_from_json(pq_model_config *c, const json_t *obj, const char *what);
int pq_train_config_from_json(pq_train_config *t, const json_t *obj, const char *what);
json_t *pq_model_config_to_json(const pq_model_config *c);
json_t *pq_train_config_to_json(const pq_train_config *t);

/* Reads a whole config file: both objects ("train" may be absent: defaults). */
int pq_config_load(const char *path, pq_model_config *m, pq_train_config *t, json_t **raw_out);

static inline int pq_head_dim(const pq_model_config *c) { return c->dim / c->n_heads; }

/* Parameter counts. Matrices inside the blocks are what QAT quantizes. */
typedef struct {
    int64_t embedding;     /* vocab x dim (tied with the output head) */
    int64_t head;          /* vocab x dim of an untied output head, else 0 (counted in total only) */
    int64_t non_embedding; /* blocks + final norm */
    int64_t block_linear;  /* q, k, v, o, gate, up, down of all layers */
    int64_t total;
} pq_param_counts;
pq_param_counts pq_model_param_counts(const pq_model_config *c);

/* Model FLOPs per trained token: 6 x (block linears + head) + causal attention
 * (QK^T and PV, forward + backward, averaged over positions of a ctx-long sequence). */
double pq_model_train_flops_per_token(const pq_model_config *c, int seq_len);

#endif
