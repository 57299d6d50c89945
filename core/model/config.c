#include "model/config.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/manifest.h"
#include "base/util.h"
#include "model/model.h"

pq_train_config pq_train_config_default(void) {
    pq_train_config t = {
        .batch = 8,
        .grad_accum = 1,
        .lr = 2e-3,
        .min_lr_ratio = 0.1,
        .schedule = PQ_SCHEDULE_COSINE,
        .decay_fraction = 0.2,
        .warmup = 10,
        .weight_decay = 0.1,
        .beta1 = 0.9,
        .beta2 = 0.95,
        .eps = 1e-8,
        .clip = 1.0,
        .seed = 1,
        .tokens = 0,
        .eval_interval = 0,
        .eval_tokens = 16384,
        .ckpt_interval = 50,
    };
    return t;
}

/* Overflow-checked int64_t arithmetic on sizes: a result that does not fit sets *over. */
static int64_t mul64(int64_t a, int64_t b, int *over) {
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) *over = 1;
    return r;
}

static int64_t add64(int64_t a, int64_t b, int *over) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) *over = 1;
    return r;
}

/* Every weight matrix (and the RoPE table) below PQ_MAX_MATRIX elements, all
 * parameters together below PQ_MAX_PARAMS. Called once the fields are within
 * their own bounds, but checked anyway: the bounds are what this proves. */
static int check_sizes(const pq_model_config *c) {
    const int64_t D = c->dim, F = c->ffn_dim, hd = c->dim / c->n_heads, KVD = (int64_t)c->n_kv_heads * hd;
    int over = 0;
    const struct {
        const char *what;
        int64_t elements;
    } matrices[] = {
        {"vocab x dim (tok_emb)", mul64(c->vocab, D, &over)},
        {"dim x dim (wq, wo)", mul64(D, D, &over)},
        {"ffn_dim x dim (w_gate, w_up, w_down)", mul64(F, D, &over)},
        {"ctx x head_dim (RoPE table)", mul64(c->ctx, hd, &over)},
    };
    for (size_t i = 0; i < PQ_COUNT(matrices); i++)
        if (over || matrices[i].elements > PQ_MAX_MATRIX)
            return pq_fail("%s has more than %lld elements", matrices[i].what, (long long)PQ_MAX_MATRIX);
    /* per layer: wq|wk|wv (D + 2 KVD) x D, wo D x D, gate|up 2F x D, down D x F, two norms D */
    int64_t layer = mul64(add64(D, mul64(2, KVD, &over), &over), D, &over);
    layer = add64(layer, mul64(D, D, &over), &over);
    layer = add64(layer, mul64(mul64(3, F, &over), D, &over), &over);
    layer = add64(layer, mul64(2, D, &over), &over);
    int64_t total = add64(mul64(c->vocab, D, &over), add64(mul64(layer, c->n_layers, &over), D, &over), &over);
    if (c->untied_head) total = add64(total, mul64(c->vocab, D, &over), &over);
    if (over || total > PQ_MAX_PARAMS)
        return pq_fail("%s%lld parameters exceed the limit of %lld", over ? "more than " : "",
                       over ? (long long)INT64_MAX : (long long)total, (long long)PQ_MAX_PARAMS);
    return 0;
}

double pq_model_rope_theta(const pq_model_config *c) { return c->rope_theta > 0 ? c->rope_theta : PQ_ROPE_THETA; }

float pq_model_norm_eps(const pq_model_config *c) { return c->norm_eps > 0 ? (float)c->norm_eps : PQ_RMS_EPS; }

/* The optional fields (0 = default): finite, in range, and LLaMA-3 scaling complete. */
static int check_optional(const pq_model_config *c) {
    if (!(c->rope_theta >= 0 && c->rope_theta < 1e12)) return pq_fail("rope_theta %g must be in [0, 1e12)", c->rope_theta);
    if (!(c->norm_eps >= 0 && c->norm_eps < 1)) return pq_fail("norm_eps %g must be in [0, 1)", c->norm_eps);
    if (c->untied_head != 0 && c->untied_head != 1) return pq_fail("untied_head must be 0 or 1");
    if (c->rope_llama3_factor == 0) return 0;
    if (!(c->rope_llama3_factor >= 1 && c->rope_llama3_factor < 1e6) || !(c->rope_llama3_low > 0) ||
        !(c->rope_llama3_high > c->rope_llama3_low && c->rope_llama3_high < 1e6) || c->rope_llama3_orig_ctx <= 0)
        return pq_fail("rope_llama3: need factor >= 1, 0 < low_freq_factor < high_freq_factor, original_ctx > 0");
    return 0;
}

int pq_model_config_check(const pq_model_config *c) {
    if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->ffn_dim <= 0 || c->vocab <= 1 ||
        c->ctx <= 0)
        return pq_fail("dim, n_layers, n_heads, n_kv_heads, ffn_dim, ctx must be positive and vocab > 1");
    /* Each field against its own bound first, so that the message names the field. */
    const struct {
        const char *name;
        int value, max;
        const char *why;
    } bounds[] = {
        {"dim", c->dim, PQ_MAX_WIDTH, ""},          {"ffn_dim", c->ffn_dim, PQ_MAX_WIDTH, ""},
        {"ctx", c->ctx, PQ_MAX_WIDTH, ""},          {"n_layers", c->n_layers, PQ_MAX_LAYERS, ""},
        {"vocab", c->vocab, PQ_MAX_VOCAB, ""},
    };
    for (size_t i = 0; i < PQ_COUNT(bounds); i++)
        if (bounds[i].value > bounds[i].max)
            return pq_fail("%s %d exceeds the limit %d%s", bounds[i].name, bounds[i].value, bounds[i].max,
                           bounds[i].why);
    if (c->dim % c->n_heads)
        return pq_fail("dim %d is not a multiple of n_heads %d", c->dim, c->n_heads);
    if ((c->dim / c->n_heads) % 2)
        return pq_fail("head_dim %d must be even (RoPE rotates pairs)", c->dim / c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return pq_fail("n_heads %d is not a multiple of n_kv_heads %d", c->n_heads, c->n_kv_heads);
    if (check_optional(c)) return -1;
    return check_sizes(c);
}

int pq_train_config_check(const pq_train_config *t) {
    if (t->batch <= 0 || t->grad_accum <= 0) return pq_fail("train config: batch and grad_accum must be positive");
    if (!(t->lr >= 0) || !(t->min_lr_ratio >= 0 && t->min_lr_ratio <= 1))
        return pq_fail("train config: lr must be >= 0 and min_lr_ratio in [0, 1]");
    if (t->schedule != PQ_SCHEDULE_COSINE && t->schedule != PQ_SCHEDULE_WSD)
        return pq_fail("train config: schedule must be \"cosine\" or \"wsd\"");
    if (!(t->decay_fraction > 0 && t->decay_fraction <= 1)) return pq_fail("train config: decay_fraction must be in (0, 1]");
    if (!(t->beta1 >= 0 && t->beta1 < 1) || !(t->beta2 >= 0 && t->beta2 < 1) || !(t->eps > 0))
        return pq_fail("train config: beta1, beta2 must be in [0, 1) and eps > 0");
    if (!(t->weight_decay >= 0) || !(t->clip >= 0)) return pq_fail("train config: weight_decay and clip must be >= 0");
    if (t->warmup < 0 || t->tokens < 0 || t->eval_interval < 0 || t->eval_tokens < 0 || t->ckpt_interval < 0)
        return pq_fail("train config: warmup, tokens, eval_interval, eval_tokens, ckpt_interval must be >= 0");
    return 0;
}

/* One table drives parsing and printing, so the two can never disagree. */
typedef enum { F_INT, F_I64, F_U64, F_DBL, F_SCHED } field_type;
static const char *const schedule_names[] = {"cosine", "wsd"};
typedef struct {
    const char *key;
    field_type type;
    size_t offset;
} field;

#define MF(k) {#k, F_INT, offsetof(pq_model_config, k)}
static const field model_fields[] = {MF(dim), MF(n_layers), MF(n_heads), MF(n_kv_heads), MF(ffn_dim), MF(vocab), MF(ctx)};

#undef MF
static const field model_opt_fields[] = {
    {"rope_theta", F_DBL, offsetof(pq_model_config, rope_theta)},
    {"norm_eps", F_DBL, offsetof(pq_model_config, norm_eps)},
    {"untied_head", F_INT, offsetof(pq_model_config, untied_head)},
};
static const field llama3_fields[] = {
    {"factor", F_DBL, offsetof(pq_model_config, rope_llama3_factor)},
    {"low_freq_factor", F_DBL, offsetof(pq_model_config, rope_llama3_low)},
    {"high_freq_factor", F_DBL, offsetof(pq_model_config, rope_llama3_high)},
    {"original_ctx", F_INT, offsetof(pq_model_config, rope_llama3_orig_ctx)},
};

static const field train_fields[] = {
    {"batch", F_INT, offsetof(pq_train_config, batch)},
    {"grad_accum", F_INT, offsetof(pq_train_config, grad_accum)},
    {"lr", F_DBL, offsetof(pq_train_config, lr)},
    {"min_lr_ratio", F_DBL, offsetof(pq_train_config, min_lr_ratio)},
    {"schedule", F_SCHED, offsetof(pq_train_config, schedule)},
    {"decay_fraction", F_DBL, offsetof(pq_train_config, decay_fraction)},
    {"warmup", F_I64, offsetof(pq_train_config, warmup)},
    {"weight_decay", F_DBL, offsetof(pq_train_config, weight_decay)},
    {"beta1", F_DBL, offsetof(pq_train_config, beta1)},
    {"beta2", F_DBL, offsetof(pq_train_config, beta2)},
    {"eps", F_DBL, offsetof(pq_train_config, eps)},
    {"clip", F_DBL, offsetof(pq_train_config, clip)},
    {"seed", F_U64, offsetof(pq_train_config, seed)},
    {"tokens", F_I64, offsetof(pq_train_config, tokens)},
    {"eval_interval", F_I64, offsetof(pq_train_config, eval_interval)},
    {"eval_tokens", F_I64, offsetof(pq_train_config, eval_tokens)},
    {"ckpt_interval", F_I64, offsetof(pq_train_config, ckpt_interval)},
};

static int parse_fields(void *dst, const field *fields, size_t nf, const json_t *obj, const char *what, int all_required) {
    if (!json_is_object(obj)) return pq_fail("%s: expected a JSON object", what);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        size_t i;
        for (i = 0; i < nf; i++)
            if (!strcmp(fields[i].key, key)) break;
        if (i == nf) return pq_fail("%s: unknown key \"%s\"", what, key);
        char *p = (char *)dst + fields[i].offset;
        if (fields[i].type == F_SCHED) {
            const char *name = json_string_value(val);
            int k = -1;
            for (int n = 0; name && n < (int)PQ_COUNT(schedule_names); n++)
                if (!strcmp(name, schedule_names[n])) k = n;
            if (k < 0) return pq_fail("%s: \"%s\" must be \"cosine\" or \"wsd\"", what, key);
            *(int *)p = k;
            continue;
        }
        if (fields[i].type == F_DBL) {
            if (!json_is_number(val)) return pq_fail("%s: \"%s\" must be a number", what, key);
            *(double *)p = json_number_value(val);
            continue;
        }
        /* Integers may be written 1e6 in JSON (a real) as long as they are whole; a real is
         * range-checked before it is converted (out of range, the conversion is undefined). */
        double d = json_number_value(val);
        int64_t v = json_integer_value(val);
        if (json_is_real(val)) {
            if (!(d >= 0 && d < 9223372036854775808.0) || d != floor(d))
                return pq_fail("%s: \"%s\" must be a non-negative integer, got %g", what, key, d);
            v = (int64_t)d;
        }
        if (!json_is_number(val) || v < 0) return pq_fail("%s: \"%s\" must be a non-negative integer", what, key);
        if (fields[i].type == F_INT) {
            if (v > INT_MAX) return pq_fail("%s: \"%s\" %lld is too large (at most %d)", what, key, (long long)v, INT_MAX);
            *(int *)p = (int)v;
        } else if (fields[i].type == F_I64) {
            *(int64_t *)p = v;
        } else {
            *(uint64_t *)p = (uint64_t)v;
        }
    }
    if (all_required)
        for (size_t i = 0; i < nf; i++)
            if (!json_object_get(obj, fields[i].key)) return pq_fail("%s: missing \"%s\"", what, fields[i].key);
    return 0;
}

static json_t *fields_to_json(const void *src, const field *fields, size_t nf) {
    json_t *o = json_object();
    for (size_t i = 0; i < nf; i++) {
        const char *p = (const char *)src + fields[i].offset;
        json_t *v = fields[i].type == F_SCHED ? json_string(schedule_names[*(const int *)p])
                    : fields[i].type == F_INT ? json_integer(*(const int *)p)
                    : fields[i].type == F_I64 ? json_integer(*(const int64_t *)p)
                    : fields[i].type == F_U64 ? json_integer((json_int_t) * (const uint64_t *)p)
                                              : json_real(*(const double *)p);
        json_object_set_new(o, fields[i].key, v);
    }
    return o;
}

/* The required fields, then the optional ones (moved out of a shallow copy, so that an
 * unknown key is still an error). */
int pq_model_config_from_json(pq_model_config *c, const json_t *obj, const char *what) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(obj)) return pq_fail("%s: expected a JSON object", what);
    json_t *req = json_copy((json_t *)obj), *opt = json_object();
    const char *opt_keys[] = {"rope_theta", "norm_eps", "untied_head"};
    for (size_t i = 0; i < PQ_COUNT(opt_keys); i++) {
        json_t *v = json_object_get(req, opt_keys[i]);
        if (v) json_object_set(opt, opt_keys[i], v), json_object_del(req, opt_keys[i]);
    }
    json_t *l3 = json_incref(json_object_get(req, "rope_llama3"));
    json_object_del(req, "rope_llama3");
    int rc = parse_fields(c, model_fields, PQ_COUNT(model_fields), req, what, 1) ||
             parse_fields(c, model_opt_fields, PQ_COUNT(model_opt_fields), opt, what, 0) ||
             (l3 && parse_fields(c, llama3_fields, PQ_COUNT(llama3_fields), l3, what, 1));
    json_decref(req), json_decref(opt), json_decref(l3);
    if (rc) return -1;
    if (pq_model_config_check(c)) return pq_fail_prefix("%s", what);
    return 0;
}

int pq_train_config_from_json(pq_train_config *t, const json_t *obj, const char *what) {
    *t = pq_train_config_default();
    if (parse_fields(t, train_fields, PQ_COUNT(train_fields), obj, what, 0)) return -1;
    if (pq_train_config_check(t)) return pq_fail_prefix("%s", what);
    return 0;
}

/* Optional fields only when set: a default config's JSON (and every hash of it) is as before. */
json_t *pq_model_config_to_json(const pq_model_config *c) {
    json_t *o = fields_to_json(c, model_fields, PQ_COUNT(model_fields));
    if (c->rope_theta) json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    if (c->norm_eps) json_object_set_new(o, "norm_eps", json_real(c->norm_eps));
    if (c->untied_head) json_object_set_new(o, "untied_head", json_integer(c->untied_head));
    if (c->rope_llama3_factor) json_object_set_new(o, "rope_llama3", fields_to_json(c, llama3_fields, PQ_COUNT(llama3_fields)));
    return o;
}

json_t *pq_train_config_to_json(const pq_train_config *t) {
    return fields_to_json(t, train_fields, PQ_COUNT(train_fields));
}

int pq_config_load(const char *path, pq_model_config *m, pq_train_config *t, json_t **raw_out) {
    json_t *root = pq_json_read(path);
    if (!root) return -1;
    char what[1100];
    if (!json_is_object(root)) {
        json_decref(root);
        return pq_fail("%s: expected a JSON object with \"model\" and \"train\"", path);
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "model") && strcmp(key, "train") && strcmp(key, "name") && strcmp(key, "comment")) {
            pq_fail("%s: unknown key \"%s\" (expected model, train, name, comment)", path, key); /* key is root's */
            json_decref(root);
            return -1;
        }
    }
    snprintf(what, sizeof what, "%s: model", path);
    json_t *mo = json_object_get(root, "model");
    if (!mo) {
        json_decref(root);
        return pq_fail("%s: missing \"model\"", path);
    }
    if (pq_model_config_from_json(m, mo, what)) {
        json_decref(root);
        return -1;
    }
    snprintf(what, sizeof what, "%s: train", path);
    json_t *to = json_object_get(root, "train");
    if (t) {
        if (to ? pq_train_config_from_json(t, to, what) : (*t = pq_train_config_default(), 0)) {
            json_decref(root);
            return -1;
        }
        /* A micro-batch of batch sequences of ctx tokens must fit in memory too. */
        if (pq_acts_check(m, t->batch, m->ctx)) {
            char err[1024];
            snprintf(err, sizeof err, "%s", pq_error());
            json_decref(root);
            return pq_fail("%s: %s", what, err);
        }
    }
    if (raw_out)
        *raw_out = root;
    else
        json_decref(root);
    return 0;
}

pq_param_counts pq_model_param_counts(const pq_model_config *c) {
    pq_param_counts p;
    int64_t D = c->dim, F = c->ffn_dim, KVD = (int64_t)c->n_kv_heads * pq_head_dim(c);
    int64_t per_layer_linear = D * D + 2 * KVD * D + D * D + 3 * D * F;
    p.embedding = (int64_t)c->vocab * D;
    p.block_linear = per_layer_linear * c->n_layers;
    p.non_embedding = p.block_linear + 2 * D * c->n_layers + D;
    p.head = c->untied_head ? p.embedding : 0;
    p.total = p.embedding + p.non_embedding + p.head;
    return p;
}

double pq_model_train_flops_per_token(const pq_model_config *c, int seq_len) {
    pq_param_counts p = pq_model_param_counts(c);
    double matmul = 6.0 * (double)(p.block_linear + p.embedding);
    /* QK^T and PV: 2 x 2 x dim FLOPs per attended key, x3 for forward + backward;
     * a causal sequence of length T attends to (T+1)/2 keys on average. */
    double attn = 12.0 * c->n_layers * (double)c->dim * (seq_len + 1) / 2.0;
    return matmul + attn;
}
