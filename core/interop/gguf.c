#include "interop/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "interop/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "quant/qexport.h"

enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9 };       /* gguf value types */
enum { G_F32 = 0, G_Q4_0 = 2, G_Q8_0 = 8 };                                       /* ggml tensor types */
#define ALIGN 32

/* ---- a growable byte buffer ---------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = pq_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); } /* x86-64 and aarch64: little-endian, as GGUF */
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, size_t n) { put_u64(b, n), put(b, s, n); }
static void kv_key(buf *b, const char *k, uint32_t type) { put_str(b, k, strlen(k)), put_u32(b, type); }
static void kv_u32(buf *b, int *n, const char *k, uint32_t v) { kv_key(b, k, T_U32), put_u32(b, v), (*n)++; }
static void kv_f32(buf *b, int *n, const char *k, float v) { kv_key(b, k, T_F32), put(b, &v, 4), (*n)++; }
static void kv_str(buf *b, int *n, const char *k, const char *v) { kv_key(b, k, T_STR), put_str(b, v, strlen(v)), (*n)++; }
static void kv_bool(buf *b, int *n, const char *k, int v) {
    uint8_t x = (uint8_t)!!v;
    kv_key(b, k, T_BOOL), put(b, &x, 1), (*n)++;
}

/* fp16 bits of f if f is exactly an fp16 number (the only case a block scale may take). */
static int f16_exact(float f, uint16_t *out) {
    if (!isfinite(f) || fabsf(f) > 65504.0f) return 0;
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    float a = fabsf(f);
    if (a >= 0x1p-14f) {
        int e;
        float man = ldexpf(frexpf(a, &e), 11); /* in [1024, 2048) */
        if (man != floorf(man)) return 0;
        *out = (uint16_t)(sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)((int)man - 1024));
    } else {
        float s = ldexpf(a, 24);
        if (s != floorf(s)) return 0;
        *out = (uint16_t)(sign | (uint16_t)s);
    }
    return pq_f16_to_f32(*out) == f;
}

/* ---- the tensors ------------------------------------------------------------------------ */

typedef struct {
    char name[64];
    int rows, cols; /* rows = 0: a vector of cols */
    int type;
    uint8_t *data; /* owned */
    size_t bytes;
} gtensor;

typedef struct {
    int levels;
    float level0, step;
    int storage_bits;
} qinfo;

/* The rows of a q or k projection, per head, from halves (i, i + hd/2) to pairs (2i, 2i + 1). */
static int permuted_row(int r, int hd) {
    int h = r / hd, j = r % hd, half = hd / 2;
    return h * hd + (j < half ? 2 * j : 2 * (j - half) + 1);
}

/* Q4_0 / Q8_0 of one linear if its levels are d·k exactly; 0 and a reason otherwise. */
static int try_blocks(gtensor *g, const float *W, const uint8_t *codes, const float *alpha, const qinfo *qi,
                      int (*perm)(int, int), int hd, char *reason, size_t rn) {
    int kmax = qi->storage_bits <= 4 ? 7 : 127, type = qi->storage_bits <= 4 ? G_Q4_0 : G_Q8_0;
    size_t block = type == G_Q4_0 ? 18 : 34;
    int m = 0; /* levels·m integers */
    for (int mm = 1; mm <= 2 && !m; mm++) {
        int ok = 1;
        for (int c = 0; c < qi->levels && ok; c++) {
            float v = (qi->level0 + (float)c * qi->step) * (float)mm;
            ok = v == floorf(v) && v >= -kmax - 1 && v <= kmax;
        }
        if (ok) m = mm;
    }
    if (!m) return snprintf(reason, rn, "levels are not integer multiples of one step in [%d, %d]", -kmax - 1, kmax), 0;
    if (g->cols % 32) return snprintf(reason, rn, "row length %d is not a multiple of 32", g->cols), 0;
    size_t nb = (size_t)g->cols / 32;
    uint8_t *out = pq_calloc((size_t)g->rows * nb, block);
    for (int r = 0; r < g->rows; r++) {
        int dst = perm ? perm(r, hd) : r;
        uint16_t dbits;
        float d = alpha[r] / (float)m; /* w = α·v = (α/m)·(v·m) */
        if (!f16_exact(d, &dbits)) {
            free(out);
            return snprintf(reason, rn, "row %d's scale %.9g is not an fp16 number", r, d), 0;
        }
        const float df = pq_f16_to_f32(dbits);
        for (size_t b = 0; b < nb; b++) {
            uint8_t *blk = out + ((size_t)dst * nb + b) * block;
            memcpy(blk, &dbits, 2);
            for (int i = 0; i < 32; i++) {
                size_t at = (size_t)r * g->cols + b * 32 + i;
                int k = (int)lrintf((qi->level0 + (float)codes[at] * qi->step) * (float)m);
                if ((float)k * df != W[at]) { /* what llama.cpp computes must be our weight, bit for bit */
                    free(out);
                    return snprintf(reason, rn, "weight %zu is not d*k exactly", at), 0;
                }
                if (type == G_Q8_0) {
                    blk[2 + i] = (uint8_t)(int8_t)k;
                } else {
                    uint8_t q = (uint8_t)(k + 8);
                    blk[2 + (i & 15)] |= (uint8_t)(i < 16 ? q : q << 4);
                }
            }
        }
    }
    g->type = type, g->data = out, g->bytes = (size_t)g->rows * nb * block;
    return 1;
}

static void f32_tensor(gtensor *g, const float *W, int (*perm)(int, int), int hd) {
    int rows = g->rows ? g->rows : 1;
    g->type = G_F32, g->bytes = sizeof(float) * (size_t)rows * g->cols;
    g->data = pq_malloc(g->bytes);
    for (int r = 0; r < rows; r++)
        memcpy(g->data + sizeof(float) * (size_t)(perm ? perm(r, hd) : r) * g->cols, W + (size_t)r * g->cols,
               sizeof(float) * g->cols);
}

static const struct {
    const char *pq, *gguf;
} names[] = {{"attn_norm", "attn_norm"}, {"wq", "attn_q"},      {"wk", "attn_k"},   {"wv", "attn_v"},    {"wo", "attn_output"},
             {"mlp_norm", "ffn_norm"},   {"w_gate", "ffn_gate"}, {"w_up", "ffn_up"}, {"w_down", "ffn_down"}};

static int gguf_name(const char *pq, char *out, size_t n) {
    if (!strcmp(pq, "tok_emb")) return snprintf(out, n, "token_embd.weight"), 0;
    if (!strcmp(pq, "final_norm")) return snprintf(out, n, "output_norm.weight"), 0;
    if (!strcmp(pq, "head")) return snprintf(out, n, "output.weight"), 0;
    int l, used = 0;
    if (sscanf(pq, "layers.%d.%n", &l, &used) == 1 && used)
        for (size_t i = 0; i < PQ_COUNT(names); i++)
            if (!strcmp(pq + used, names[i].pq)) return snprintf(out, n, "blk.%d.%s.weight", l, names[i].gguf), 0;
    return -1;
}

/* One model tensor: quantized linears in blocks when exact, everything else F32. */
static int build_tensor(gtensor *g, const pq_ckpt *c, const char *what, const pq_model_tensor *t, const qinfo *qi,
                        int hd, json_t *rep) {
    gguf_name(t->name, g->name, sizeof g->name);
    g->rows = t->ndim == 2 ? (int)t->dims[0] : 0, g->cols = (int)(t->ndim == 2 ? t->dims[1] : t->dims[0]);
    const float *W = pq_ckpt_expect(c, t->name, PQ_F32, t->numel);
    if (!W) return pq_fail_prefix("%s", what);
    size_t len = strlen(t->name);
    int is_qk = len > 3 && (!strcmp(t->name + len - 3, ".wq") || !strcmp(t->name + len - 3, ".wk"));
    int (*perm)(int, int) = is_qk ? permuted_row : NULL;
    char qn[96], reason[160] = "";
    snprintf(qn, sizeof qn, "%s.qcodes", t->name);
    const pq_tensor *pc = pq_ckpt_find(c, qn);
    json_t *row = json_pack("{s:s}", "name", g->name);
    if (pc && qi) {
        snprintf(qn, sizeof qn, "%s.qscale", t->name);
        const float *alpha = pq_ckpt_expect(c, qn, PQ_F32, g->rows);
        if (!alpha) return json_decref(row), pq_fail_prefix("%s", what);
        uint8_t *codes = pq_malloc((size_t)g->rows * g->cols);
        pq_qunpack(pc->data, g->rows, g->cols, qi->storage_bits, codes);
        int ok = try_blocks(g, W, codes, alpha, qi, perm, hd, reason, sizeof reason);
        free(codes);
        if (!ok) json_object_set_new(row, "reason", json_string(reason));
    }
    if (!g->data) f32_tensor(g, W, perm, hd);
    json_object_set_new(row, "type", json_string(g->type == G_Q4_0 ? "Q4_0" : g->type == G_Q8_0 ? "Q8_0" : "F32"));
    json_array_append_new(rep, row);
    return 0;
}

/* ---- tokenizer: pq-bpe -> GPT-2 byte-level strings ------------------------------------ */

static void byte_to_unicode(char table[256][4]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int cp = printable ? b : 256 + n++;
        if (cp < 0x80) table[b][0] = (char)cp, table[b][1] = 0;
        else table[b][0] = (char)(0xC0 | cp >> 6), table[b][1] = (char)(0x80 | (cp & 0x3F)), table[b][2] = 0;
    }
}

static int put_tokenizer(buf *b, int *nkv, const char *path, int vocab) {
    FILE *f = fopen(path, "r");
    if (!f) return pq_fail("%s: cannot open", path);
    int ver, v, bos, eos, nm;
    if (fscanf(f, "pq-bpe %d vocab %d bos %d eos %d merges %d", &ver, &v, &bos, &eos, &nm) != 5 || ver != 1 || bos != 256 ||
        eos != 257 || nm < 0 || nm != v - 258) {
        fclose(f);
        return pq_fail("%s: not a pq-bpe 1 tokenizer file", path);
    }
    if (v > vocab) {
        fclose(f);
        return pq_fail("%s: vocab %d is larger than the model's %d", path, v, vocab);
    }
    char **tok = pq_calloc((size_t)vocab, sizeof *tok), tab[256][4];
    int32_t(*mg)[2] = pq_malloc(sizeof *mg * (size_t)(nm ? nm : 1));
    byte_to_unicode(tab);
    for (int i = 0; i < 256; i++) tok[i] = pq_strdup(tab[i]);
    tok[256] = pq_strdup("<|bos|>"), tok[257] = pq_strdup("<|eos|>");
    int rc = 0;
    for (int i = 0; i < nm && !rc; i++) {
        if (fscanf(f, "%d %d", &mg[i][0], &mg[i][1]) != 2 || mg[i][0] < 0 || mg[i][1] < 0 || mg[i][0] >= 258 + i ||
            mg[i][1] >= 258 + i || mg[i][0] == 256 || mg[i][0] == 257 || mg[i][1] == 256 || mg[i][1] == 257) {
            rc = pq_fail("%s: merge %d is malformed", path, i);
            break;
        }
        size_t la = strlen(tok[mg[i][0]]), lb = strlen(tok[mg[i][1]]);
        tok[258 + i] = pq_malloc(la + lb + 1);
        memcpy(tok[258 + i], tok[mg[i][0]], la), memcpy(tok[258 + i] + la, tok[mg[i][1]], lb + 1);
    }
    fclose(f);
    char pad[32];
    for (int i = v; i < vocab; i++) snprintf(pad, sizeof pad, "[PAD%d]", i), tok[i] = pq_strdup(pad);
    if (!rc) {
        kv_str(b, nkv, "tokenizer.ggml.model", "gpt2");
        kv_str(b, nkv, "tokenizer.ggml.pre", "gpt-2");
        kv_key(b, "tokenizer.ggml.tokens", T_ARR), put_u32(b, T_STR), put_u64(b, (uint64_t)vocab), (*nkv)++;
        for (int i = 0; i < vocab; i++) put_str(b, tok[i], strlen(tok[i]));
        kv_key(b, "tokenizer.ggml.token_type", T_ARR), put_u32(b, T_I32), put_u64(b, (uint64_t)vocab), (*nkv)++;
        for (int i = 0; i < vocab; i++) put_u32(b, i == 256 || i == 257 ? 3u : i >= v ? 5u : 1u); /* control, unused, normal */
        kv_key(b, "tokenizer.ggml.merges", T_ARR), put_u32(b, T_STR), put_u64(b, (uint64_t)nm), (*nkv)++;
        for (int i = 0; i < nm; i++) {
            size_t la = strlen(tok[mg[i][0]]), lb = strlen(tok[mg[i][1]]);
            put_u64(b, la + 1 + lb), put(b, tok[mg[i][0]], la), put(b, " ", 1), put(b, tok[mg[i][1]], lb);
        }
        kv_u32(b, nkv, "tokenizer.ggml.bos_token_id", 256);
        kv_u32(b, nkv, "tokenizer.ggml.eos_token_id", 257);
        kv_bool(b, nkv, "tokenizer.ggml.add_bos_token", 1);
    }
    for (int i = 0; i < vocab; i++) free(tok[i]);
    free(tok), free(mg);
    return rc;
}

/* llama.cpp's rope_freqs: the factor each of the hd/2 frequencies is divided by. */
static void rope_freqs(const pq_model_config *c, float *out) {
    const double pi = 3.14159265358979323846;
    int hd = pq_head_dim(c);
    for (int i = 0; i < hd / 2; i++) {
        double freq = pow(pq_model_rope_theta(c), -2.0 * i / hd), wl = 2 * pi / freq;
        double lo = c->rope_llama3_orig_ctx / c->rope_llama3_low, hi = c->rope_llama3_orig_ctx / c->rope_llama3_high;
        double smooth = (c->rope_llama3_orig_ctx / wl - c->rope_llama3_low) / (c->rope_llama3_high - c->rope_llama3_low);
        out[i] = (float)(wl < hi ? 1.0 : wl > lo ? c->rope_llama3_factor : 1.0 / ((1 - smooth) / c->rope_llama3_factor + smooth));
    }
}

/* ---- the file ------------------------------------------------------------------------- */

static int read_qinfo(const pq_ckpt *c, const char *what, qinfo *qi) {
    json_t *q = json_object_get(c->meta, "quant");
    if (!q) return 0;
    qi->levels = (int)json_integer_value(json_object_get(q, "levels"));
    qi->level0 = (float)json_number_value(json_object_get(q, "level0"));
    qi->step = (float)json_number_value(json_object_get(q, "level_step"));
    qi->storage_bits = (int)json_integer_value(json_object_get(q, "storage_bits"));
    if (qi->levels < 2 || qi->levels > 256 || qi->storage_bits < 1 || qi->storage_bits > 8 || !(qi->step > 0))
        return pq_fail("%s: metadata \"quant\" lacks levels, level0, level_step or storage_bits", what);
    return 1;
}

int pq_gguf_export(const pq_ckpt *c, const char *what, const char *tokenizer, const char *path, json_t **report) {
    pq_model_config cfg;
    if (pq_model_config_from_ckpt(&cfg, c, what)) return -1;
    qinfo qi;
    int quantized = read_qinfo(c, what, &qi);
    if (quantized < 0) return -1;
    pq_model *m = pq_model_new(&cfg);
    int nt = m->n_tensors + (cfg.rope_llama3_factor > 0), rc = 0;
    gtensor *g = pq_calloc((size_t)nt, sizeof *g);
    json_t *rep = json_array();
    for (int i = 0; i < m->n_tensors && !rc; i++)
        rc = build_tensor(&g[i], c, what, &m->tensors[i], quantized ? &qi : NULL, pq_head_dim(&cfg), rep);
    if (cfg.rope_llama3_factor > 0) {
        gtensor *r = &g[nt - 1];
        snprintf(r->name, sizeof r->name, "rope_freqs.weight");
        r->cols = pq_head_dim(&cfg) / 2, r->type = G_F32, r->bytes = sizeof(float) * r->cols;
        r->data = pq_malloc(r->bytes);
        rope_freqs(&cfg, (float *)r->data);
    }
    buf kv = {0}, out = {0};
    int nkv = 0;
    if (!rc) {
        kv_str(&kv, &nkv, "general.architecture", "llama");
        kv_str(&kv, &nkv, "general.name", "paretoq");
        kv_u32(&kv, &nkv, "general.alignment", ALIGN);
        kv_u32(&kv, &nkv, "llama.context_length", (uint32_t)cfg.ctx);
        kv_u32(&kv, &nkv, "llama.embedding_length", (uint32_t)cfg.dim);
        kv_u32(&kv, &nkv, "llama.block_count", (uint32_t)cfg.n_layers);
        kv_u32(&kv, &nkv, "llama.feed_forward_length", (uint32_t)cfg.ffn_dim);
        kv_u32(&kv, &nkv, "llama.attention.head_count", (uint32_t)cfg.n_heads);
        kv_u32(&kv, &nkv, "llama.attention.head_count_kv", (uint32_t)cfg.n_kv_heads);
        kv_u32(&kv, &nkv, "llama.rope.dimension_count", (uint32_t)pq_head_dim(&cfg));
        kv_f32(&kv, &nkv, "llama.rope.freq_base", (float)pq_model_rope_theta(&cfg));
        kv_f32(&kv, &nkv, "llama.attention.layer_norm_rms_epsilon", pq_model_norm_eps(&cfg));
        kv_u32(&kv, &nkv, "llama.vocab_size", (uint32_t)cfg.vocab);
        if (tokenizer) rc = put_tokenizer(&kv, &nkv, tokenizer, cfg.vocab);
    }
    if (!rc) {
        put(&out, "GGUF", 4), put_u32(&out, 3), put_u64(&out, (uint64_t)nt), put_u64(&out, (uint64_t)nkv);
        put(&out, kv.p, kv.n);
        uint64_t off = 0;
        for (int i = 0; i < nt; i++) { /* tensor infos: dims innermost first */
            put_str(&out, g[i].name, strlen(g[i].name));
            put_u32(&out, g[i].rows ? 2 : 1), put_u64(&out, (uint64_t)g[i].cols);
            if (g[i].rows) put_u64(&out, (uint64_t)g[i].rows);
            put_u32(&out, (uint32_t)g[i].type), put_u64(&out, off);
            off += (g[i].bytes + ALIGN - 1) / ALIGN * ALIGN;
        }
        static const uint8_t zeros[ALIGN];
        put(&out, zeros, (ALIGN - out.n % ALIGN) % ALIGN);
        for (int i = 0; i < nt; i++) put(&out, g[i].data, g[i].bytes), put(&out, zeros, (ALIGN - g[i].bytes % ALIGN) % ALIGN);
        rc = pq_write_file_atomic(path, out.p, out.n);
    }
    for (int i = 0; i < nt; i++) free(g[i].data);
    free(g), free(kv.p), free(out.p);
    pq_model_free(m);
    if (!rc && report) *report = json_pack("{s:o}", "tensors", rep);
    else json_decref(rep);
    return rc ? -1 : 0;
}
