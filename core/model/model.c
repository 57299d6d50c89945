#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/rng.h"
#include "base/util.h"
#include "model/layers.h"

static const char *linear_names[PQ_LIN_COUNT] = {"wq", "wk", "wv", "wo", "w_gate", "w_up", "w_down"};

const char *pq_linear_name(pq_linear_id which) {
    return which >= 0 && which < PQ_LIN_COUNT ? linear_names[which] : "?";
}

/* Shapes of the pieces of one layer. */
typedef struct {
    int D, F, H, KV, hd, KVD, C; /* C = width of the fused q|k|v output */
} layer_shape;

static layer_shape shape_of(const pq_model_config *c) {
    layer_shape s;
    s.D = c->dim, s.F = c->ffn_dim, s.H = c->n_heads, s.KV = c->n_kv_heads, s.hd = c->dim / c->n_heads;
    s.KVD = s.KV * s.hd, s.C = s.D + 2 * s.KVD;
    return s;
}

static int64_t layer_linear_floats(layer_shape s) {
    return (int64_t)s.C * s.D + (int64_t)s.D * s.D + 2 * (int64_t)s.F * s.D + (int64_t)s.D * s.F;
}

/* Bytes of m->eff: one layer's hooked linears. */
static size_t eff_bytes(const pq_model *m) { return sizeof(float) * (size_t)layer_linear_floats(shape_of(&m->cfg)); }

/* Points p at the layer's pieces inside a buffer laid out as
 * [attn_norm? | wqkv | wo | mlp_norm? | wgu | wdown]; norms only if with_norms. */
static float *layout_layer(pq_layer_ptrs *p, float *at, layer_shape s, int with_norms) {
    memset(p, 0, sizeof *p);
    if (with_norms) p->attn_norm = at, at += s.D;
    p->wqkv = at, at += (int64_t)s.C * s.D;
    p->wo = at, at += (int64_t)s.D * s.D;
    if (with_norms) p->mlp_norm = at, at += s.D;
    p->wgu = at, at += 2 * (int64_t)s.F * s.D;
    p->wdown = at, at += (int64_t)s.D * s.F;
    return at;
}

static void add_tensor(pq_model *m, const char *name, float *param, float *grad, int64_t rows, int64_t cols) {
    pq_model_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->param = param, t->grad = grad;
    t->ndim = cols ? 2 : 1;
    t->dims[0] = rows, t->dims[1] = cols;
    t->numel = cols ? rows * cols : rows;
    t->is_matrix = cols != 0;
}

pq_model *pq_model_new(const pq_model_config *cfg) {
    if (pq_model_config_check(cfg)) pq_die("pq_model_new: %s", pq_error());
    pq_model *m = pq_calloc(1, sizeof *m);
    m->cfg = *cfg;
    layer_shape s = shape_of(cfg);
    int L = cfg->n_layers;
    int64_t per_layer = layer_linear_floats(s) + 2 * s.D;
    m->n_params = (int64_t)cfg->vocab * s.D * (cfg->untied_head ? 2 : 1) + per_layer * L + s.D;
    /* Zero pages from the kernel: gradients that are never written (eval, PTQ) never
     * become resident. */
    m->params = pq_pages_alloc(sizeof(float) * m->n_params);
    m->grads = pq_pages_alloc(sizeof(float) * m->n_params);
    m->w = pq_calloc(L, sizeof *m->w);
    m->g = pq_calloc(L, sizeof *m->g);
    m->tensors = pq_calloc(3 + 9 * (size_t)L, sizeof *m->tensors);

    float *p = m->params, *g = m->grads;
    m->tok_emb = p, m->g_tok_emb = g;
    add_tensor(m, "tok_emb", p, g, cfg->vocab, s.D);
    p += (int64_t)cfg->vocab * s.D, g += (int64_t)cfg->vocab * s.D;
    for (int l = 0; l < L; l++) {
        float *p_end = layout_layer(&m->w[l], p, s, 1);
        layout_layer(&m->g[l], g, s, 1);
        char name[48];
#define T(field, suffix, rows, cols)                                                              \
    snprintf(name, sizeof name, "layers.%d.%s", l, suffix);                                       \
    add_tensor(m, name, m->w[l].field, m->g[l].field, rows, cols);
        T(attn_norm, "attn_norm", s.D, 0)
        add_tensor(m, (snprintf(name, sizeof name, "layers.%d.wq", l), name), m->w[l].wqkv, m->g[l].wqkv, s.D, s.D);
        add_tensor(m, (snprintf(name, sizeof name, "layers.%d.wk", l), name), m->w[l].wqkv + (int64_t)s.D * s.D,
                   m->g[l].wqkv + (int64_t)s.D * s.D, s.KVD, s.D);
        add_tensor(m, (snprintf(name, sizeof name, "layers.%d.wv", l), name),
                   m->w[l].wqkv + (int64_t)(s.D + s.KVD) * s.D, m->g[l].wqkv + (int64_t)(s.D + s.KVD) * s.D, s.KVD,
                   s.D);
        T(wo, "wo", s.D, s.D)
        T(mlp_norm, "mlp_norm", s.D, 0)
        add_tensor(m, (snprintf(name, sizeof name, "layers.%d.w_gate", l), name), m->w[l].wgu, m->g[l].wgu, s.F, s.D);
        add_tensor(m, (snprintf(name, sizeof name, "layers.%d.w_up", l), name), m->w[l].wgu + (int64_t)s.F * s.D,
                   m->g[l].wgu + (int64_t)s.F * s.D, s.F, s.D);
        T(wdown, "w_down", s.D, s.F)
#undef T
        g += p_end - p;
        p = p_end;
    }
    m->final_norm = p, m->g_final_norm = g;
    add_tensor(m, "final_norm", p, g, s.D, 0);
    m->head = m->tok_emb, m->g_head = m->g_tok_emb;
    if (cfg->untied_head) { /* last, so that a tied model's layout is unchanged */
        m->head = p + s.D, m->g_head = g + s.D;
        add_tensor(m, "head", m->head, m->g_head, cfg->vocab, s.D);
    }
    m->eff_layer = -1;

    int half = s.hd / 2;
    m->rope_cos = pq_malloc(sizeof(float) * (size_t)cfg->ctx * half);
    m->rope_sin = pq_malloc(sizeof(float) * (size_t)cfg->ctx * half);
    pq_model_rope_tables(cfg, m->rope_cos, m->rope_sin);
    return m;
}

/* LLaMA-3 scaling (HF's _compute_llama3_parameters): long wavelengths are slowed by
 * factor, short ones kept, the band between interpolated. */
static double llama3_freq(const pq_model_config *c, double freq) {
    const double pi = 3.14159265358979323846;
    double low_wavelen = c->rope_llama3_orig_ctx / c->rope_llama3_low;
    double high_wavelen = c->rope_llama3_orig_ctx / c->rope_llama3_high;
    double wavelen = 2 * pi / freq;
    if (wavelen < high_wavelen) return freq;
    if (wavelen > low_wavelen) return freq / c->rope_llama3_factor;
    double smooth = (c->rope_llama3_orig_ctx / wavelen - c->rope_llama3_low) / (c->rope_llama3_high - c->rope_llama3_low);
    return (1 - smooth) * freq / c->rope_llama3_factor + smooth * freq;
}

void pq_model_rope_tables(const pq_model_config *c, float *cos_t, float *sin_t) {
    int hd = pq_head_dim(c), half = hd / 2;
    double theta = pq_model_rope_theta(c);
    if (c->rope_llama3_factor <= 0) {
        pq_rope_tables(cos_t, sin_t, c->ctx, hd, theta);
        return;
    }
    for (int i = 0; i < half; i++) {
        double freq = llama3_freq(c, pow(theta, -2.0 * i / hd));
        for (int p = 0; p < c->ctx; p++) {
            cos_t[(size_t)p * half + i] = (float)cos(p * freq);
            sin_t[(size_t)p * half + i] = (float)sin(p * freq);
        }
    }
}

void pq_model_free(pq_model *m) {
    if (!m) return;
    pq_pages_free(m->params, sizeof(float) * m->n_params), pq_pages_free(m->grads, sizeof(float) * m->n_params);
    pq_pages_free(m->eff, eff_bytes(m));
    free(m->w), free(m->g), free(m->tensors);
    free(m->rope_cos), free(m->rope_sin);
    free(m);
}

void pq_model_init(pq_model *m, uint64_t seed) {
    double resid_scale = 1.0 / sqrt(2.0 * m->cfg.n_layers);
    for (int i = 0; i < m->n_tensors; i++) {
        pq_model_tensor *t = &m->tensors[i];
        if (!t->is_matrix) {
            for (int64_t j = 0; j < t->numel; j++) t->param[j] = 1.0f;
            continue;
        }
        double std = 0.02;
        size_t len = strlen(t->name);
        if ((len >= 3 && !strcmp(t->name + len - 3, ".wo")) || (len >= 7 && !strcmp(t->name + len - 7, ".w_down")))
            std *= resid_scale;
        /* The stream is named by tensor, so adding a tensor never shifts another's init. */
        uint64_t stream = pq_rng_stream_id("init", pq_fnv1a64(t->name, strlen(t->name)));
        for (int64_t j = 0; j < t->numel; j++) t->param[j] = (float)(std * pq_rng_normal(seed, stream, (uint64_t)j));
    }
}

const pq_model_tensor *pq_model_find_tensor(const pq_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

/* Offset (in floats) of a linear inside its fused matrix (wqkv or wgu; 0 for wo, wdown), and its shape. */
static int64_t linear_offset(layer_shape s, pq_linear_id which, int *rows, int *cols) {
    switch (which) {
    case PQ_LIN_Q: *rows = s.D, *cols = s.D; return 0;
    case PQ_LIN_K: *rows = s.KVD, *cols = s.D; return (int64_t)s.D * s.D;
    case PQ_LIN_V: *rows = s.KVD, *cols = s.D; return (int64_t)(s.D + s.KVD) * s.D;
    case PQ_LIN_GATE: *rows = s.F, *cols = s.D; return 0;
    case PQ_LIN_UP: *rows = s.F, *cols = s.D; return (int64_t)s.F * s.D;
    case PQ_LIN_O: *rows = s.D, *cols = s.D; return 0;
    case PQ_LIN_DOWN: *rows = s.D, *cols = s.F; return 0;
    default: pq_die("bad linear id %d", (int)which);
    }
}

static float *linear_in(const pq_layer_ptrs *p, layer_shape s, pq_linear_id which, int *rows, int *cols) {
    int64_t off = linear_offset(s, which, rows, cols);
    switch (which) {
    case PQ_LIN_Q: case PQ_LIN_K: case PQ_LIN_V: return p->wqkv + off;
    case PQ_LIN_O: return p->wo;
    case PQ_LIN_GATE: case PQ_LIN_UP: return p->wgu + off;
    default: return p->wdown;
    }
}

float *pq_model_linear(pq_model *m, int layer, pq_linear_id which, int *rows, int *cols, float **grad) {
    layer_shape s = shape_of(&m->cfg);
    if (grad) *grad = linear_in(&m->g[layer], s, which, rows, cols);
    return linear_in(&m->w[layer], s, which, rows, cols);
}

int64_t pq_model_eff_floats(const pq_model_config *cfg) { return layer_linear_floats(shape_of(cfg)) * cfg->n_layers; }

void pq_model_eff_layout(const pq_model_config *cfg, int layer, float *base, pq_layer_ptrs *out) {
    layer_shape s = shape_of(cfg);
    layout_layer(out, base + layer_linear_floats(s) * layer, s, 0);
}

void pq_model_set_hook(pq_model *m, const pq_weight_hook *hook) {
    m->hook = hook;
    m->eff_layer = -1;
    if (!hook) {
        pq_pages_free(m->eff, eff_bytes(m));
        m->eff = NULL;
        return;
    }
    if (!m->eff) m->eff = pq_pages_alloc(eff_bytes(m));
    layout_layer(&m->eff_w, m->eff, shape_of(&m->cfg), 0);
}

/* The weights layer l's matmuls use: the latent ones, or under a hook the effective
 * ones, made by the hook's forward into m->eff unless it holds layer l's already
 * (a forward ends, and the backward starts, at the last layer: made once for both). */
static const pq_layer_ptrs *layer_weights(pq_model *m, int l) {
    if (!m->hook) return &m->w[l];
    pq_layer_ptrs *e = &m->eff_w;
    e->attn_norm = m->w[l].attn_norm, e->mlp_norm = m->w[l].mlp_norm; /* norms are never hooked */
    if (m->eff_layer == l) return e;
    layer_shape s = shape_of(&m->cfg);
    for (int k = 0; k < PQ_LIN_COUNT; k++) {
        int rows, cols;
        const float *W = linear_in(&m->w[l], s, k, &rows, &cols);
        m->hook->forward(m->hook->ctx, l, k, W, rows, cols, linear_in(e, s, k, &rows, &cols));
    }
    m->eff_layer = l;
    return e;
}

void pq_model_refresh_weights(pq_model *m) {
    m->eff_layer = -1;
    if (m->hook && m->hook->refresh) m->hook->refresh(m->hook->ctx);
}

/* Each linear's dL/dW_eff, summed in dW over the step's micro-batches, moves to m->eff
 * (at the offset it has in a layer, as the hook always sees it) so that the hook's
 * backward can accumulate dL/dW into the cleared dW. */
void pq_model_finish_grads(pq_model *m) {
    if (!m->hook) return;
    layer_shape s = shape_of(&m->cfg);
    m->eff_layer = -1; /* m->eff is scratch here */
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int k = 0; k < PQ_LIN_COUNT; k++) {
            int rows, cols;
            const float *W = linear_in(&m->w[l], s, k, &rows, &cols);
            float *dW = linear_in(&m->g[l], s, k, &rows, &cols);
            float *dWe = linear_in(&m->eff_w, s, k, &rows, &cols);
            memcpy(dWe, dW, sizeof(float) * (size_t)rows * cols);
            memset(dW, 0, sizeof(float) * (size_t)rows * cols);
            m->hook->backward(m->hook->ctx, l, k, W, rows, cols, dWe, dW);
        }
}

void pq_model_release_scratch(pq_model *m) {
    pq_pages_release(m->grads, sizeof(float) * m->n_params);
    if (m->eff) pq_pages_release(m->eff, eff_bytes(m)), m->eff_layer = -1;
}

void pq_model_zero_grads(pq_model *m) { memset(m->grads, 0, sizeof(float) * m->n_params); }

/* ---- activations ---------------------------------------------------------- */

/* Size arithmetic that saturates at SIZE_MAX instead of wrapping: a plan too
 * large to represent counts as SIZE_MAX floats, which pq_acts_check refuses. */
static size_t sat_mul(size_t a, size_t b) {
    size_t r;
    return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

static size_t sat_add(size_t a, size_t b) {
    size_t r;
    return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}

/* Reserves n floats (rounded up to 64 bytes) at *off; the pointer into buf, or NULL when only counting. */
static float *take(float *buf, size_t *off, size_t n) {
    size_t at = *off;
    *off = sat_add(*off, sat_add(n, 15) & ~(size_t)15);
    return buf ? buf + at : NULL;
}

/* Lays out the activations of a (B, T) micro-batch in buf as mode keeps them; returns
 * the floats needed. Called once with buf = NULL to size the buffer (SIZE_MAX if that
 * overflows), then with the buffer. A list entry past what the mode keeps points to
 * entry 0 (one layer's buffer, reused). */
static size_t plan_acts(pq_acts *a, const pq_model_config *cfg, int B, int T, pq_acts_mode mode, float *buf) {
    layer_shape s = shape_of(cfg);
    size_t N = sat_mul((size_t)B, (size_t)T), off = 0;
    size_t ND = sat_mul(N, (size_t)s.D), NC = sat_mul(N, (size_t)s.C), NF = sat_mul(N, (size_t)s.F);
    size_t TT = sat_mul((size_t)T, (size_t)T);
    const int L = cfg->n_layers, n_res = mode == PQ_ACTS_TRAIN || mode == PQ_ACTS_RECOMPUTE ? L + 1 : 1;
    const int n_slots = mode == PQ_ACTS_TRAIN ? L : 1;
    for (int l = 0; l <= L; l++) a->res[l] = l < n_res ? take(buf, &off, ND) : a->res[0];
    for (int l = 0; l < L; l++) {
        if (l >= n_slots) {
            a->xn1[l] = a->xn1[0], a->rstd1[l] = a->rstd1[0], a->qkv[l] = a->qkv[0], a->att[l] = a->att[0];
            a->atty[l] = a->atty[0], a->res_mid[l] = a->res_mid[0], a->xn2[l] = a->xn2[0], a->rstd2[l] = a->rstd2[0];
            a->gu[l] = a->gu[0], a->h[l] = a->h[0];
            continue;
        }
        a->xn1[l] = take(buf, &off, ND);
        a->rstd1[l] = take(buf, &off, N);
        a->qkv[l] = take(buf, &off, NC);
        a->att[l] = take(buf, &off, sat_mul(sat_mul((size_t)B, (size_t)s.H), TT));
        a->atty[l] = take(buf, &off, ND);
        a->res_mid[l] = take(buf, &off, ND);
        a->xn2[l] = take(buf, &off, ND);
        a->rstd2[l] = take(buf, &off, N);
        a->gu[l] = take(buf, &off, sat_mul(2, NF));
        a->h[l] = take(buf, &off, NF);
    }
    a->xf = a->rstdf = a->logits = NULL;
    a->dres = a->dxn = a->datty = a->dqkv = a->dgu = a->dh = a->dscores = NULL;
    if (mode == PQ_ACTS_LAYER) return off;
    a->xf = take(buf, &off, ND);
    a->rstdf = take(buf, &off, N);
    a->logits = take(buf, &off, sat_mul(N, (size_t)cfg->vocab));
    if (mode == PQ_ACTS_FORWARD) return off;
    /* backward scratch, shared by all layers */
    a->dres = take(buf, &off, ND);
    a->dxn = take(buf, &off, ND);
    a->datty = take(buf, &off, ND);
    a->dqkv = take(buf, &off, NC);
    a->dgu = take(buf, &off, sat_mul(2, NF));
    a->dh = take(buf, &off, NF);
    a->dscores = take(buf, &off, TT);
    return off;
}

static void acts_free_lists(pq_acts *a) {
    free(a->res), free(a->xn1), free(a->rstd1), free(a->qkv), free(a->att), free(a->atty);
    free(a->res_mid), free(a->xn2), free(a->rstd2), free(a->gu), free(a->h);
}

static void acts_alloc_lists(pq_acts *a, int L) {
    a->res = pq_calloc((size_t)L + 1, sizeof(float *));
    float ***lists[] = {&a->xn1, &a->rstd1, &a->qkv, &a->att, &a->atty, &a->res_mid, &a->xn2, &a->rstd2, &a->gu, &a->h};
    for (size_t i = 0; i < PQ_COUNT(lists); i++) *lists[i] = pq_calloc((size_t)L, sizeof(float *));
}

/* Floats of the activations of B sequences of T tokens; SIZE_MAX if that overflows. */
static size_t acts_floats(const pq_model_config *cfg, int B, int T, pq_acts_mode mode) {
    pq_acts a = {0};
    acts_alloc_lists(&a, cfg->n_layers);
    size_t floats = plan_acts(&a, cfg, B, T, mode, NULL);
    acts_free_lists(&a);
    return floats;
}

int pq_acts_check(const pq_model_config *cfg, int B, int T) {
    if (B <= 0 || T <= 0) return pq_fail("batch %d x %d tokens: both must be positive", B, T);
    if ((int64_t)B * T > INT32_MAX) return pq_fail("batch %d x %d tokens: more than 2^31 - 1 positions", B, T);
    if (cfg->vocab > PQ_MAX_TRAIN_VOCAB) /* an imported LLaMA-3: pq eval and pq generate score it, training cannot */
        return pq_fail("vocab %d: the training forward reads tokens as uint16 (at most %d)", cfg->vocab, PQ_MAX_TRAIN_VOCAB);
    size_t floats = acts_floats(cfg, B, T, PQ_ACTS_TRAIN);
    const size_t limit = (size_t)(PQ_MAX_ACT_BYTES / (int64_t)sizeof(float));
    if (floats == SIZE_MAX)
        return pq_fail("batch %d x %d tokens: the activations' size overflows (limit %lld GiB)", B, T,
                       (long long)(PQ_MAX_ACT_BYTES >> 30));
    if (floats > limit)
        return pq_fail("batch %d x %d tokens: the activations need %.1f GiB, more than the limit of %lld GiB", B, T,
                       floats * (double)sizeof(float) / (1 << 30), (long long)(PQ_MAX_ACT_BYTES >> 30));
    return 0;
}

size_t pq_acts_bytes_mode(const pq_model_config *cfg, int B, int T, pq_acts_mode mode) {
    if (B <= 0 || T <= 0) return 0;
    size_t floats = acts_floats(cfg, B, T, mode);
    return floats == SIZE_MAX ? SIZE_MAX : sat_mul(floats, sizeof(float));
}

size_t pq_acts_bytes(const pq_model_config *cfg, int B, int T) { return pq_acts_bytes_mode(cfg, B, T, PQ_ACTS_TRAIN); }

pq_acts *pq_acts_new_mode(const pq_model_config *cfg, int B, int T, pq_acts_mode mode) {
    /* the TRAIN plan is the largest: within the limit, every mode is */
    if (pq_acts_check(cfg, B, T)) pq_die("pq_acts_new: %s", pq_error());
    pq_acts *a = pq_calloc(1, sizeof *a);
    a->B = B, a->T = T, a->mode = mode;
    acts_alloc_lists(a, cfg->n_layers);
    a->n_floats = plan_acts(a, cfg, B, T, mode, NULL);
    a->buf = pq_aligned_alloc(sizeof(float) * a->n_floats);
    memset(a->buf, 0, sizeof(float) * a->n_floats);
    plan_acts(a, cfg, B, T, mode, a->buf);
    return a;
}

pq_acts *pq_acts_new(const pq_model_config *cfg, int B, int T) { return pq_acts_new_mode(cfg, B, T, PQ_ACTS_TRAIN); }

void pq_acts_free(pq_acts *a) {
    if (!a) return;
    free(a->buf);
    acts_free_lists(a);
    free(a);
}

/* ---- forward / backward ----------------------------------------------------- */

/* Layer l of a (B, T) micro-batch from x_in into x_out (which may be x_in: x_in is read
 * only before x_out is written), saving its activations in a's entries for l. Without
 * with_output it stops once those are saved (the backward's recomputation). */
static void layer_forward(pq_model *m, pq_acts *a, int l, const float *x_in, float *x_out, int B, int T, int with_output) {
    layer_shape s = shape_of(&m->cfg);
    const int N = B * T;
    const float eps = pq_model_norm_eps(&m->cfg);
    const pq_layer_ptrs *w = layer_weights(m, l);
    pq_rmsnorm_forward(a->xn1[l], a->rstd1[l], x_in, w->attn_norm, N, s.D, eps);
    pq_linear_forward(a->qkv[l], a->xn1[l], w->wqkv, N, s.D, s.C, 0);
    pq_rope_apply(a->qkv[l], s.C, B, T, s.H, s.hd, m->rope_cos, m->rope_sin, 0);
    pq_rope_apply(a->qkv[l] + s.D, s.C, B, T, s.KV, s.hd, m->rope_cos, m->rope_sin, 0);
    pq_attention_forward(a->atty[l], a->att[l], a->qkv[l], B, T, s.H, s.KV, s.hd);
    memcpy(a->res_mid[l], x_in, sizeof(float) * (size_t)N * s.D);
    pq_linear_forward(a->res_mid[l], a->atty[l], w->wo, N, s.D, s.D, 1);
    pq_rmsnorm_forward(a->xn2[l], a->rstd2[l], a->res_mid[l], w->mlp_norm, N, s.D, eps);
    pq_linear_forward(a->gu[l], a->xn2[l], w->wgu, N, s.D, 2 * s.F, 0);
    pq_swiglu_forward(a->h[l], a->gu[l], N, s.F);
    if (!with_output) return;
    memcpy(x_out, a->res_mid[l], sizeof(float) * (size_t)N * s.D);
    pq_linear_forward(x_out, a->h[l], w->wdown, N, s.F, s.D, 1);
}

void pq_model_embed(const pq_model *m, const uint16_t *tokens, int N, float *x) {
    const int D = m->cfg.dim;
    for (int n = 0; n < N; n++) {
        if (tokens[n] >= m->cfg.vocab) pq_die("pq_model_forward: token %u >= vocab %d", tokens[n], m->cfg.vocab);
        memcpy(x + (size_t)n * D, m->tok_emb + (size_t)tokens[n] * D, sizeof(float) * D);
    }
}

void pq_model_layer_forward(pq_model *m, pq_acts *a, int layer, float *x, int B, int T, int update) {
    if (B > a->B || T > a->T || T > m->cfg.ctx || layer < 0 || layer >= m->cfg.n_layers)
        pq_die("pq_model_layer_forward: layer %d, B=%d T=%d exceed the plan (%d, %d)", layer, B, T, a->B, a->T);
    layer_forward(m, a, layer, x, x, B, T, update);
    a->has_grad = 0;
}

double pq_model_forward(pq_model *m, pq_acts *a, const uint16_t *tokens, const uint16_t *targets, int B, int T,
                        int for_backward, float grad_scale) {
    const pq_model_config *c = &m->cfg;
    layer_shape s = shape_of(c);
    if (B > a->B || T > a->T || T > c->ctx) pq_die("pq_model_forward: B=%d T=%d exceed the plan (%d, %d)", B, T, a->B, a->T);
    if (!a->logits || (for_backward && targets && !a->dres))
        pq_die("pq_model_forward: these activations (mode %d) cannot hold a %s", (int)a->mode,
               a->logits ? "backward" : "forward to logits");
    int N = B * T, V = c->vocab;
    pq_model_embed(m, tokens, N, a->res[0]);
    for (int l = 0; l < c->n_layers; l++) layer_forward(m, a, l, a->res[l], a->res[l + 1], B, T, 1);
    pq_rmsnorm_forward(a->xf, a->rstdf, a->res[c->n_layers], m->final_norm, N, s.D, pq_model_norm_eps(c));
    pq_linear_forward(a->logits, a->xf, m->head, N, s.D, V, 0);
    a->last_B = B, a->last_T = T, a->has_grad = 0;
    if (!targets) return 0.0;
    for (int n = 0; n < N; n++)
        if (targets[n] >= V) pq_die("pq_model_forward: target %u >= vocab %d", targets[n], V);
    double sum = pq_cross_entropy(a->logits, targets, N, V, grad_scale, for_backward);
    a->has_grad = for_backward;
    return sum / N;
}

void pq_model_backward(pq_model *m, pq_acts *a, const uint16_t *tokens) {
    const pq_model_config *c = &m->cfg;
    layer_shape s = shape_of(c);
    if (!a->has_grad) pq_die("pq_model_backward: the last forward did not prepare gradients");
    int B = a->last_B, T = a->last_T, N = B * T, V = c->vocab;
    size_t ND = (size_t)N * s.D;
    /* head (the embedding, when tied) and final norm */
    pq_linear_backward(a->dxn, m->g_head, a->logits, a->xf, m->head, N, s.D, V, 0);
    memset(a->dres, 0, sizeof(float) * ND);
    pq_rmsnorm_backward(a->dres, m->g_final_norm, a->dxn, a->res[c->n_layers], m->final_norm, a->rstdf, N, s.D);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        /* the layer's activations again, from its saved input (the same arithmetic); the
         * last layer's are still those the forward left in the one layer's buffer */
        if (a->mode == PQ_ACTS_RECOMPUTE && l < c->n_layers - 1) layer_forward(m, a, l, a->res[l], NULL, B, T, 0);
        const pq_layer_ptrs *w = layer_weights(m, l);
        pq_layer_ptrs *g = &m->g[l]; /* dW, or under a hook dL/dW_eff (pq_model_finish_grads) */
        /* MLP: res[l+1] = res_mid + h Wdown^T */
        pq_linear_backward(a->dh, g->wdown, a->dres, a->h[l], w->wdown, N, s.F, s.D, 0);
        pq_swiglu_backward(a->dgu, a->dh, a->gu[l], N, s.F);
        pq_linear_backward(a->dxn, g->wgu, a->dgu, a->xn2[l], w->wgu, N, s.D, 2 * s.F, 0);
        pq_rmsnorm_backward(a->dres, g->mlp_norm, a->dxn, a->res_mid[l], w->mlp_norm, a->rstd2[l], N, s.D);
        /* attention: res_mid = res[l] + atty Wo^T */
        pq_linear_backward(a->datty, g->wo, a->dres, a->atty[l], w->wo, N, s.D, s.D, 0);
        pq_attention_backward(a->dqkv, a->datty, a->att[l], a->qkv[l], a->dscores, B, T, s.H, s.KV, s.hd);
        pq_rope_apply(a->dqkv, s.C, B, T, s.H, s.hd, m->rope_cos, m->rope_sin, 1);
        pq_rope_apply(a->dqkv + s.D, s.C, B, T, s.KV, s.hd, m->rope_cos, m->rope_sin, 1);
        pq_linear_backward(a->dxn, g->wqkv, a->dqkv, a->xn1[l], w->wqkv, N, s.D, s.C, 0);
        pq_rmsnorm_backward(a->dres, g->attn_norm, a->dxn, a->res[l], w->attn_norm, a->rstd1[l], N, s.D);
    }
    /* embedding rows, in token order (rows repeat: a fixed order keeps it deterministic) */
    for (int n = 0; n < N; n++) {
        float *dst = m->g_tok_emb + (size_t)tokens[n] * s.D;
        const float *src = a->dres + (size_t)n * s.D;
        for (int i = 0; i < s.D; i++) dst[i] += src[i];
    }
    a->has_grad = 0;
}

void pq_model_logits(pq_model *m, pq_acts *a, const uint16_t *tokens, int T, float *logits_out) {
    pq_model_forward(m, a, tokens, NULL, 1, T, 0, 0.0f);
    memcpy(logits_out, a->logits, sizeof(float) * (size_t)T * m->cfg.vocab);
}

/* ---- checkpoints -------------------------------------------------------------- */

static void model_to_ckpt(const pq_model *m, pq_ckpt *c, int by_reference) {
    for (int i = 0; i < m->n_tensors; i++) {
        const pq_model_tensor *t = &m->tensors[i];
        if (by_reference) pq_ckpt_add_ref(c, t->name, PQ_F32, t->ndim, t->dims, t->param);
        else pq_ckpt_add(c, t->name, PQ_F32, t->ndim, t->dims, t->param);
    }
    json_object_set_new(c->meta, "model", pq_model_config_to_json(&m->cfg));
}

void pq_model_to_ckpt(const pq_model *m, pq_ckpt *c) { model_to_ckpt(m, c, 0); }
void pq_model_to_ckpt_ref(const pq_model *m, pq_ckpt *c) { model_to_ckpt(m, c, 1); }

/* take (pq_model_take_ckpt, whose c is not const): each of c's tensors is emptied
 * once copied. */
static int params_from_ckpt(pq_model *m, const pq_ckpt *c, const char *what, int take) {
    for (int i = 0; i < m->n_tensors; i++) {
        const pq_model_tensor *t = &m->tensors[i];
        const void *d = pq_ckpt_expect(c, t->name, PQ_F32, t->numel);
        if (!d) return pq_fail_prefix("%s", what);
        memcpy(t->param, d, sizeof(float) * t->numel);
        if (!take) continue;
        pq_tensor *ct = (pq_tensor *)pq_ckpt_find(c, t->name);
        if (!ct->borrowed) free(ct->data);
        ct->data = NULL, ct->numel = 0, ct->ndim = 1, ct->dims[0] = 0;
    }
    return 0;
}

int pq_model_from_ckpt(pq_model *m, const pq_ckpt *c, const char *what) { return params_from_ckpt(m, c, what, 0); }
int pq_model_take_ckpt(pq_model *m, pq_ckpt *c, const char *what) { return params_from_ckpt(m, c, what, 1); }

int pq_model_save(const pq_model *m, const char *path, const json_t *extra_meta) {
    pq_ckpt *c = pq_ckpt_new();
    if (extra_meta) json_object_update(c->meta, (json_t *)extra_meta);
    json_object_set_new(c->meta, "kind", json_string("model"));
    pq_model_to_ckpt_ref(m, c);
    int rc = pq_ckpt_save(c, path, 0);
    pq_ckpt_free(c);
    return rc;
}

int pq_model_config_from_ckpt(pq_model_config *cfg, const pq_ckpt *c, const char *what) {
    json_t *mo = json_object_get(c->meta, "model");
    if (!mo) return pq_fail("%s: no model config in the checkpoint metadata", what);
    char field[1100];
    snprintf(field, sizeof field, "%s: metadata \"model\"", what);
    return pq_model_config_from_json(cfg, mo, field);
}

pq_model *pq_model_load(const char *path) {
    pq_ckpt *c = pq_ckpt_load(path);
    if (!c) return NULL;
    pq_model_config cfg;
    if (pq_model_config_from_ckpt(&cfg, c, path)) {
        pq_ckpt_free(c);
        return NULL;
    }
    pq_model *m = pq_model_new(&cfg);
    if (pq_model_take_ckpt(m, c, path)) {
        pq_model_free(m);
        m = NULL;
    }
    pq_ckpt_free(c);
    return m;
}
