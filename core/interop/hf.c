#include "interop/hf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "interop/safetensors.h"

static const struct {
    const char *pq, *hf;
} layer_names[] = {
    {"attn_norm", "input_layernorm"}, {"wq", "self_attn.q_proj"}, {"wk", "self_attn.k_proj"},
    {"wv", "self_attn.v_proj"},       {"wo", "self_attn.o_proj"}, {"mlp_norm", "post_attention_layernorm"},
    {"w_gate", "mlp.gate_proj"},      {"w_up", "mlp.up_proj"},    {"w_down", "mlp.down_proj"},
};

int pq_hf_name(const char *pq_name, char *out, size_t n) {
    if (!strcmp(pq_name, "tok_emb")) return snprintf(out, n, "model.embed_tokens.weight"), 0;
    if (!strcmp(pq_name, "final_norm")) return snprintf(out, n, "model.norm.weight"), 0;
    if (!strcmp(pq_name, "head")) return snprintf(out, n, "lm_head.weight"), 0;
    int l, used = 0;
    if (sscanf(pq_name, "layers.%d.%n", &l, &used) != 1 || !used) return -1;
    for (size_t i = 0; i < PQ_COUNT(layer_names); i++)
        if (!strcmp(pq_name + used, layer_names[i].pq)) return snprintf(out, n, "model.layers.%d.%s.weight", l, layer_names[i].hf), 0;
    return -1;
}

/* ---- config.json ---------------------------------------------------------------- */

static int get_int(const json_t *o, const char *path, const char *key, int required, int def, int *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required) return pq_fail("%s: missing \"%s\"", path, key);
        *out = def;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > (1 << 30))
        return pq_fail("%s: \"%s\" must be a positive integer", path, key);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_num(const json_t *o, const char *path, const char *key, double def, double *out) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return *out = def, 0;
    if (!json_is_number(v) || !(json_number_value(v) > 0)) return pq_fail("%s: \"%s\" must be a positive number", path, key);
    *out = json_number_value(v);
    return 0;
}

static int is_true(const json_t *o, const char *key) { return json_is_true(json_object_get(o, key)); }

static int check_architecture(const json_t *j, const char *path) {
    static const char *ok[] = {"LlamaForCausalLM", "MobileLLMForCausalLM"};
    json_t *archs = json_object_get(j, "architectures");
    const char *arch = json_string_value(json_array_get(archs, 0));
    if (!arch) {
        const char *type = json_string_value(json_object_get(j, "model_type"));
        if (type && (!strcmp(type, "llama") || !strcmp(type, "mobilellm"))) return 0;
        return pq_fail("%s: no \"architectures\" and model_type %s is not llama or mobilellm", path, type ? type : "missing");
    }
    for (size_t i = 0; i < PQ_COUNT(ok); i++)
        if (!strcmp(arch, ok[i])) return 0;
    return pq_fail("%s: architecture %s is not supported (LlamaForCausalLM, MobileLLMForCausalLM)", path, arch);
}

/* What a LLaMA forward would compute differently from ours: refused, not ignored. */
static int check_unsupported(const json_t *j, const char *path) {
    const char *act = json_string_value(json_object_get(j, "hidden_act"));
    if (act && strcmp(act, "silu")) return pq_fail("%s: hidden_act %s is not supported (silu)", path, act);
    if (is_true(j, "attention_bias") || is_true(j, "mlp_bias")) return pq_fail("%s: biases are not supported", path);
    if (is_true(j, "layer_sharing")) return pq_fail("%s: layer_sharing is not supported", path);
    return 0;
}

static int read_rope_scaling(const json_t *j, const char *path, pq_model_config *c) {
    json_t *rs = json_object_get(j, "rope_scaling");
    if (!rs || json_is_null(rs)) return 0;
    const char *type = json_string_value(json_object_get(rs, "rope_type"));
    if (!type) type = json_string_value(json_object_get(rs, "type"));
    if (!type || strcmp(type, "llama3"))
        return pq_fail("%s: rope_scaling type %s is not supported (llama3)", path, type ? type : "missing");
    double orig;
    if (get_num(rs, path, "factor", 0, &c->rope_llama3_factor) || get_num(rs, path, "low_freq_factor", 0, &c->rope_llama3_low) ||
        get_num(rs, path, "high_freq_factor", 0, &c->rope_llama3_high) ||
        get_num(rs, path, "original_max_position_embeddings", 0, &orig))
        return -1;
    if (!c->rope_llama3_factor || !c->rope_llama3_low || !c->rope_llama3_high || orig != floor(orig) || orig <= 0 ||
        orig > (1 << 30))
        return pq_fail("%s: rope_scaling llama3 needs factor, low_freq_factor, high_freq_factor, "
                       "original_max_position_embeddings", path);
    c->rope_llama3_orig_ctx = (int)orig;
    return 0;
}

static int read_config(const char *dir, int ctx_cap, pq_model_config *c) {
    char *path = pq_path_join(dir, "config.json");
    json_t *j = pq_file_exists(path) ? pq_json_read(path) : NULL;
    int rc = -1;
    memset(c, 0, sizeof *c);
    if (!j) {
        if (!pq_file_exists(path)) pq_fail("%s: missing", path);
        goto done;
    }
    int head_dim = 0;
    double theta, eps;
    if (check_architecture(j, path) || check_unsupported(j, path) || get_int(j, path, "hidden_size", 1, 0, &c->dim) ||
        get_int(j, path, "num_hidden_layers", 1, 0, &c->n_layers) ||
        get_int(j, path, "num_attention_heads", 1, 0, &c->n_heads) ||
        get_int(j, path, "num_key_value_heads", 0, c->n_heads, &c->n_kv_heads) ||
        get_int(j, path, "intermediate_size", 1, 0, &c->ffn_dim) || get_int(j, path, "vocab_size", 1, 0, &c->vocab) ||
        get_int(j, path, "max_position_embeddings", 1, 0, &c->ctx) || get_int(j, path, "head_dim", 0, 0, &head_dim) ||
        get_num(j, path, "rope_theta", PQ_ROPE_THETA, &theta) || get_num(j, path, "rms_norm_eps", 1e-6, &eps) ||
        read_rope_scaling(j, path, c))
        goto done;
    if (head_dim && head_dim * c->n_heads != c->dim) {
        pq_fail("%s: head_dim %d x %d heads != hidden_size %d (not supported)", path, head_dim, c->n_heads, c->dim);
        goto done;
    }
    /* The defaults stay implicit, so a pq model exported and imported again has the same config. */
    c->rope_theta = theta == PQ_ROPE_THETA ? 0 : theta;
    c->norm_eps = eps == 1e-5 ? 0 : eps;
    json_t *tie = json_object_get(j, "tie_word_embeddings");
    if (!tie) tie = json_object_get(j, "share_embedding"); /* MobileLLM's name */
    c->untied_head = !json_is_true(tie);
    if (ctx_cap > 0 && c->ctx > ctx_cap) c->ctx = ctx_cap;
    if (pq_model_config_check(c)) {
        pq_fail_prefix("%s", path);
        goto done;
    }
    rc = 0;
done:
    json_decref(j);
    free(path);
    return rc;
}

/* ---- tensors ----------------------------------------------------------------------- */

/* A tensor the model does not use is an error, unless it is known to be harmless. */
static int check_extra(const pq_st_set *s, const pq_model *m) {
    for (int i = 0; i < s->n; i++) {
        const char *n = s->t[i].name;
        size_t len = strlen(n);
        if ((len > 7 && !strcmp(n + len - 7, ".qcodes")) || (len > 7 && !strcmp(n + len - 7, ".qscale")) ||
            strstr(n, "rotary_emb.inv_freq") || (!m->cfg.untied_head && !strcmp(n, "lm_head.weight")))
            continue;
        int used = 0;
        char hf[128];
        for (int k = 0; k < m->n_tensors && !used; k++) used = !pq_hf_name(m->tensors[k].name, hf, sizeof hf) && !strcmp(hf, n);
        if (!used) return pq_fail("%s: tensor %s is not part of this LLaMA model (unsupported)", s->t[i].file, n);
    }
    return 0;
}

static int load_tensor(const pq_st_set *s, const char *dir, const pq_model_tensor *mt) {
    char hf[128];
    if (pq_hf_name(mt->name, hf, sizeof hf)) return pq_fail("%s: no Hugging Face name for %s", dir, mt->name);
    const pq_st_tensor *t = pq_st_find(s, hf);
    if (!t) return pq_fail("%s: tensor %s is missing (pq's %s)", dir, hf, mt->name);
    int same = t->ndim == mt->ndim && t->shape[0] == mt->dims[0] && (mt->ndim == 1 || t->shape[1] == mt->dims[1]);
    if (!same)
        return pq_fail("%s: tensor %s: shape [%lld%s%lld] (%d-D), expected [%lld, %lld] from config.json", t->file, hf,
                       (long long)t->shape[0], t->ndim > 1 ? ", " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL,
                       t->ndim, (long long)mt->dims[0], mt->ndim > 1 ? (long long)mt->dims[1] : 0LL);
    return pq_st_read_f32(t, mt->param);
}

pq_model *pq_hf_import(const char *dir, int ctx_cap) {
    pq_model_config cfg;
    if (read_config(dir, ctx_cap, &cfg)) return NULL;
    pq_st_set s = {0};
    if (pq_st_open_dir(&s, dir)) {
        pq_st_free(&s);
        return NULL;
    }
    pq_model *m = pq_model_new(&cfg);
    int rc = check_extra(&s, m);
    for (int i = 0; !rc && i < m->n_tensors; i++) rc = load_tensor(&s, dir, &m->tensors[i]);
    pq_st_free(&s);
    if (rc) {
        pq_model_free(m);
        return NULL;
    }
    return m;
}

/* ---- export ------------------------------------------------------------------------ */

static json_t *hf_config(const pq_model_config *c, const json_t *quant) {
    json_t *j = json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:s, s:b, s:b, s:s}",
                          "architectures", "LlamaForCausalLM", "model_type", "llama", "hidden_size", c->dim,
                          "num_hidden_layers", c->n_layers, "num_attention_heads", c->n_heads, "num_key_value_heads",
                          c->n_kv_heads, "intermediate_size", c->ffn_dim, "vocab_size", c->vocab,
                          "max_position_embeddings", c->ctx, "rope_theta", pq_model_rope_theta(c), "rms_norm_eps",
                          c->norm_eps > 0 ? c->norm_eps : 1e-5, "tie_word_embeddings", !c->untied_head, "hidden_act",
                          "silu", "attention_bias", 0, "mlp_bias", 0, "torch_dtype", "float32");
    if (c->rope_llama3_factor > 0)
        json_object_set_new(j, "rope_scaling",
                            json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor", c->rope_llama3_factor,
                                      "low_freq_factor", c->rope_llama3_low, "high_freq_factor", c->rope_llama3_high,
                                      "original_max_position_embeddings", c->rope_llama3_orig_ctx));
    if (quant) {
        json_t *q = json_deep_copy(quant);
        json_object_set_new(q, "quant_method", json_string("paretoq"));
        json_object_set_new(j, "quantization_config", q);
    }
    return j;
}

int pq_hf_export(const pq_ckpt *c, const char *what, const char *dir) {
    pq_model_config cfg;
    if (pq_model_config_from_ckpt(&cfg, c, what)) return -1;
    pq_model *m = pq_model_new(&cfg); /* for the tensor list and shapes */
    pq_st_out *out = pq_calloc((size_t)c->count + 1, sizeof *out);
    char(*names)[160] = pq_calloc((size_t)c->count + 1, sizeof *names);
    int n = 0, rc = 0;
    for (int i = 0; i < m->n_tensors && !rc; i++) {
        const pq_model_tensor *t = &m->tensors[i];
        const void *d = pq_ckpt_expect(c, t->name, PQ_F32, t->numel);
        if (!d) {
            rc = pq_fail_prefix("%s", what);
            break;
        }
        pq_hf_name(t->name, names[n], sizeof names[n]);
        out[n] = (pq_st_out){names[n], "F32", t->ndim, {t->dims[0], t->dims[1]}, d};
        char hf[160];
        snprintf(hf, sizeof hf, "%s", names[n++]);
        /* the quantized form beside it: codes and scales */
        static const char *const sfx[] = {".qcodes", ".qscale"};
        for (int k = 0; k < 2 && !rc; k++) {
            char qn[96];
            snprintf(qn, sizeof qn, "%s%s", t->name, sfx[k]);
            const pq_tensor *q = pq_ckpt_find(c, qn);
            if (!q) continue;
            if ((q->dtype != PQ_U8 && q->dtype != PQ_F32) || q->ndim > 2) {
                rc = pq_fail("%s: tensor %s: unexpected dtype or shape", what, qn);
                break;
            }
            snprintf(names[n], sizeof names[n], "%.140s%s", hf, sfx[k]);
            out[n] = (pq_st_out){names[n], q->dtype == PQ_U8 ? "U8" : "F32", q->ndim, {q->dims[0], q->ndim > 1 ? q->dims[1] : 0},
                                 q->data};
            n++;
        }
    }
    if (!rc) {
        char *cp = pq_path_join(dir, "config.json"), *wp = pq_path_join(dir, "model.safetensors");
        json_t *j = hf_config(&cfg, json_object_get(c->meta, "quant"));
        json_t *meta = json_pack("{s:s}", "format", "pt");
        rc = pq_mkdirs(dir) || pq_st_write(wp, out, n, meta) || pq_json_write(j, cp);
        json_decref(j), json_decref(meta);
        free(cp), free(wp);
    }
    free(out), free(names);
    pq_model_free(m);
    return rc ? -1 : 0;
}
