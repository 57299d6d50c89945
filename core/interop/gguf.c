#include "interop/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/fsio.h"
#include "base/util.h"
#include "data/hf_bpe.h"
#include "data/spm.h"
#include "interop/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "quant/qexport.h"

enum { T_U32 = 4, T_I32 = 5, T_F32 = 6, T_BOOL = 7, T_STR = 8, T_ARR = 9 };       /* gguf value types */
enum { G_F32 = 0, G_Q4_0 = 2, G_Q8_0 = 8, G_Q2_K = 10, G_TQ1_0 = 34, G_TQ2_0 = 35 }; /* ggml tensor types */
#define ALIGN 32

/* ---- the byte stream (little-endian values into a pq_buf) -------------------------------- */

static void put_u32(pq_buf *b, uint32_t v) { pq_buf_put(b, &v, 4); } /* x86-64 and aarch64: little-endian, as GGUF */
static void put_u64(pq_buf *b, uint64_t v) { pq_buf_put(b, &v, 8); }
static void put_str(pq_buf *b, const char *s, size_t n) { put_u64(b, n), pq_buf_put(b, s, n); }
static void kv_key(pq_buf *b, const char *k, uint32_t type) { put_str(b, k, strlen(k)), put_u32(b, type); }
static void kv_u32(pq_buf *b, int *n, const char *k, uint32_t v) { kv_key(b, k, T_U32), put_u32(b, v), (*n)++; }
static void kv_f32(pq_buf *b, int *n, const char *k, float v) { kv_key(b, k, T_F32), pq_buf_put(b, &v, 4), (*n)++; }
static void kv_str(pq_buf *b, int *n, const char *k, const char *v) { kv_key(b, k, T_STR), put_str(b, v, strlen(v)), (*n)++; }
static void kv_bool(pq_buf *b, int *n, const char *k, int v) {
    uint8_t x = (uint8_t)!!v;
    kv_key(b, k, T_BOOL), pq_buf_put(b, &x, 1), (*n)++;
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

/* One quantized linear as pq's forward holds it: W[r][i] = alpha[r]·(level0 + codes[r][i]·step). */
typedef struct {
    const float *W, *alpha;
    const uint8_t *codes;
    const qinfo *qi;
    int rows, cols;
} qlinear;

/* The value of code c in row r, computed as the forward computes it. */
static float level_value(const qlinear *q, int r, int c) { return q->alpha[r] * (q->qi->level0 + (float)c * q->qi->step); }
static int same_bits(float a, float b) { return !memcmp(&a, &b, sizeof a); }

/* The rows of a q or k projection, per head, from halves (i, i + hd/2) to pairs (2i, 2i + 1). */
static int permuted_row(int r, int hd) {
    int h = r / hd, j = r % hd, half = hd / 2;
    return h * hd + (j < half ? 2 * j : 2 * (j - half) + 1);
}

/* A row packer writes row r's blocks to out (zeroed) if what llama.cpp's dequantize_row_<type>
 * computes from them is W's row bit for bit; else returns 0 and says why. */
typedef int (*row_packer)(const qlinear *q, int r, uint8_t *out, char *reason, size_t rn);

/* Q4_0 (block 32: fp16 d, 16 bytes of nibbles q, w = (q − 8)·d) and Q8_0 (block 32: fp16 d,
 * 32 int8 k, w = k·d): every level an integer multiple k of d = α/m, m a power of two (SEQ's
 * half-step levels: m = 2^b, k odd). */
static int pack_q4_q8(const qlinear *q, int r, uint8_t *out, char *reason, size_t rn, int is_q8) {
    const qinfo *qi = q->qi;
    int kmax = is_q8 ? 127 : 7, m = 0; /* levels·m integers */
    for (int mm = 1; mm <= 256 && !m; mm *= 2) {
        int ok = 1;
        for (int c = 0; c < qi->levels && ok; c++) {
            float v = (qi->level0 + (float)c * qi->step) * (float)mm;
            ok = v == floorf(v) && v >= -kmax - 1 && v <= kmax;
        }
        if (ok) m = mm;
    }
    if (!m) return snprintf(reason, rn, "levels are not integer multiples of one step in [%d, %d]", -kmax - 1, kmax), 0;
    uint16_t dbits;
    float d = q->alpha[r] / (float)m; /* w = α·v = (α/m)·(v·m) */
    if (!f16_exact(d, &dbits)) return snprintf(reason, rn, "row %d's scale %.9g is not an fp16 number", r, d), 0;
    const float df = pq_f16_to_f32(dbits);
    size_t block = is_q8 ? 34 : 18;
    for (int b = 0; b < q->cols / 32; b++) {
        uint8_t *blk = out + (size_t)b * block;
        memcpy(blk, &dbits, 2);
        for (int i = 0; i < 32; i++) {
            size_t at = (size_t)r * q->cols + (size_t)b * 32 + i;
            int k = (int)lrintf((qi->level0 + (float)q->codes[at] * qi->step) * (float)m);
            if (!same_bits((float)k * df, q->W[at])) return snprintf(reason, rn, "weight %zu is not d*k exactly", at), 0;
            if (is_q8) blk[2 + i] = (uint8_t)(int8_t)k;
            else blk[2 + (i & 15)] |= (uint8_t)(i < 16 ? k + 8 : (k + 8) << 4);
        }
    }
    return 1;
}
static int pack_q4_0(const qlinear *q, int r, uint8_t *out, char *reason, size_t rn) { return pack_q4_q8(q, r, out, reason, rn, 0); }
static int pack_q8_0(const qlinear *q, int r, uint8_t *out, char *reason, size_t rn) { return pack_q4_q8(q, r, out, reason, rn, 1); }

/* The ternary types: w = (t − 1)·d with a trit t in {0, 1, 2} and one fp16 d per 256 weights,
 * so the row's three levels must be exactly −d, +0 and d (ternary LSQ, SEQ, absmean, minmax
 * at 1.58 bits all are, times α), d = the value of code 2, an fp16 number; the trit of each
 * weight is its code, and (t − 1)·d must be the weight. */
static int ternary_row(const qlinear *q, int r, uint16_t *dbits, char *reason, size_t rn) {
    if (q->qi->levels != 3) return snprintf(reason, rn, "%d levels, not 3", q->qi->levels), 0;
    float d = level_value(q, r, 2);
    if (!same_bits(level_value(q, r, 0), -d) || !same_bits(level_value(q, r, 1), 0.0f))
        return snprintf(reason, rn, "row %d's levels are not -d, 0, d", r), 0;
    if (!f16_exact(d, dbits)) return snprintf(reason, rn, "row %d's scale %.9g is not an fp16 number", r, d), 0;
    const float df = pq_f16_to_f32(*dbits);
    for (int i = 0; i < q->cols; i++) {
        size_t at = (size_t)r * q->cols + i;
        if (!same_bits((float)((int)q->codes[at] - 1) * df, q->W[at])) return snprintf(reason, rn, "weight %zu is not (t-1)*d exactly", at), 0;
    }
    return 1;
}

/* ggml's 2-bit layout of 256 weights in 64 bytes (TQ2_0's qs, Q2_K's qs): weight
 * 128j + 32n + m is bits 2n..2n+1 of qs[32j + m]. qs must be zeroed. */
static void put_2bit(uint8_t *qs, int e, int c) { qs[(e / 128) * 32 + e % 32] |= (uint8_t)(c << (2 * ((e % 128) / 32))); }

/* TQ2_0 (block 256: qs[64], fp16 d): the trits in put_2bit's layout. */
static int pack_tq2_0(const qlinear *q, int r, uint8_t *out, char *reason, size_t rn) {
    uint16_t dbits;
    if (!ternary_row(q, r, &dbits, reason, rn)) return 0;
    const uint8_t *t = q->codes + (size_t)r * q->cols;
    for (int b = 0; b < q->cols / 256; b++) {
        uint8_t *blk = out + (size_t)b * 66;
        for (int e = 0; e < 256; e++) put_2bit(blk, e, t[b * 256 + e]);
        memcpy(blk + 64, &dbits, 2);
    }
    return 1;
}

/* Five trits t0..t4 (t0 most significant) as llama.cpp's TQ1_0 byte: the base-3 number scaled
 * to 256/243, rounded up, so that trit n is ((byte·3^n mod 256)·3) >> 8. */
static uint8_t trit_byte(const uint8_t *t, int stride, int n) {
    unsigned v = 0;
    for (int i = 0; i < 5; i++) v = v * 3 + (i < n ? t[i * stride] : 0);
    return (uint8_t)((v * 256 + 242) / 243);
}

/* TQ1_0 (block 256: qs[48], qh[4], fp16 d): qs[m] (m < 32) holds weights m + 32n, n = 0..4;
 * qs[32 + m] (m < 16) weights 160 + m + 16n; qh[j] weights 240 + j + 4n, n = 0..3. */
static int pack_tq1_0(const qlinear *q, int r, uint8_t *out, char *reason, size_t rn) {
    uint16_t dbits;
    if (!ternary_row(q, r, &dbits, reason, rn)) return 0;
    const uint8_t *t = q->codes + (size_t)r * q->cols;
    for (int b = 0; b < q->cols / 256; b++) {
        uint8_t *blk = out + (size_t)b * 54;
        const uint8_t *x = t + (size_t)b * 256;
        for (int m = 0; m < 32; m++) blk[m] = trit_byte(x + m, 32, 5);
        for (int m = 0; m < 16; m++) blk[32 + m] = trit_byte(x + 160 + m, 16, 5);
        for (int j = 0; j < 4; j++) blk[48 + j] = trit_byte(x + 240 + j, 4, 4);
        memcpy(blk + 52, &dbits, 2);
    }
    return 1;
}

/* fp16 d and 4-bit s with d·s == v exactly (s = 0 for v = 0); 0 if there is none. */
static int f16_times_nibble(float v, uint16_t *dbits, int *s) {
    if (v == 0.0f) return *dbits = 0, *s = 0, 1;
    for (int k = 1; k <= 15; k++)
        if (f16_exact(v / (float)k, dbits) && pq_f16_to_f32(*dbits) * (float)k == v) return *s = k, 1;
    return 0;
}

/* Q2_K (block 256: scales[16], qs[64], fp16 d, fp16 dmin): weight e is
 * d·sc·q − dmin·mn with q in put_2bit's layout of qs and (sc, mn) the low and high nibble
 * of scales[e/16]. Up to 4 levels, equally spaced, the lowest ≤ 0: the row's step v1 − v0
 * must be d·sc and −v0 be dmin·mn exactly (SEQ 2-bit: {±0.25, ±0.75}·α = (α/2)·q − (α/4)·3,
 * exact when α is an fp16 number). */
static int pack_q2_k(const qlinear *q, int r, uint8_t *out, char *reason, size_t rn) {
    if (q->qi->levels > 4) return snprintf(reason, rn, "%d levels, more than 4", q->qi->levels), 0;
    float v0 = level_value(q, r, 0), step = level_value(q, r, 1) - v0, ml = -v0;
    uint16_t db, mb;
    int sc, mn;
    if (!(ml >= 0.0f)) return snprintf(reason, rn, "row %d's lowest level %.9g is positive", r, v0), 0;
    if (!f16_times_nibble(step, &db, &sc) || sc == 0)
        return snprintf(reason, rn, "row %d's step %.9g is not an fp16 number times 1..15", r, step), 0;
    if (!f16_times_nibble(ml, &mb, &mn)) return snprintf(reason, rn, "row %d's offset %.9g is not an fp16 number times 0..15", r, ml), 0;
    const float dl = pq_f16_to_f32(db) * (float)sc, mlf = pq_f16_to_f32(mb) * (float)mn;
    for (int b = 0; b < q->cols / 256; b++) {
        uint8_t *blk = out + (size_t)b * 84;
        memset(blk, sc | mn << 4, 16);
        for (int e = 0; e < 256; e++) {
            size_t at = (size_t)r * q->cols + (size_t)b * 256 + e;
            int c = q->codes[at];
            if (!same_bits(dl * (float)c - mlf, q->W[at])) return snprintf(reason, rn, "weight %zu is not d*q - m exactly", at), 0;
            put_2bit(blk + 16, e, c);
        }
        memcpy(blk + 80, &db, 2), memcpy(blk + 82, &mb, 2);
    }
    return 1;
}

static const struct {
    int type;
    const char *name;
    int block;        /* weights per block */
    size_t bytes;     /* bytes per block */
    row_packer pack;
} gtypes[] = {
    {G_TQ1_0, "TQ1_0", 256, 54, pack_tq1_0}, {G_TQ2_0, "TQ2_0", 256, 66, pack_tq2_0}, {G_Q2_K, "Q2_K", 256, 84, pack_q2_k},
    {G_Q4_0, "Q4_0", 32, 18, pack_q4_0},     {G_Q8_0, "Q8_0", 32, 34, pack_q8_0},
};

static const char *type_name(int type) {
    for (size_t i = 0; i < PQ_COUNT(gtypes); i++)
        if (gtypes[i].type == type) return gtypes[i].name;
    return "F32";
}

/* The linear in block type gtypes[k] if every row packs exactly; else 0 and the reason. */
static int try_type(gtensor *g, const qlinear *q, size_t k, int (*perm)(int, int), int hd, char *reason, size_t rn) {
    if (q->cols % gtypes[k].block) return snprintf(reason, rn, "row length %d is not a multiple of %d", q->cols, gtypes[k].block), 0;
    size_t row_bytes = (size_t)(q->cols / gtypes[k].block) * gtypes[k].bytes;
    uint8_t *out = pq_calloc((size_t)q->rows, row_bytes);
    for (int r = 0; r < q->rows; r++)
        if (!gtypes[k].pack(q, r, out + (size_t)(perm ? perm(r, hd) : r) * row_bytes, reason, rn)) {
            free(out);
            return 0;
        }
    g->type = gtypes[k].type, g->data = out, g->bytes = (size_t)q->rows * row_bytes;
    return 1;
}

/* The block types to try, most compact first: ternary in TQ1_0/TQ2_0 (as asked), up to 4
 * levels in Q2_K, up to 16 in Q4_0, then Q8_0. */
static int candidates(const qinfo *qi, int ternary_type, int *out) {
    int n = 0;
    if (qi->levels == 3) out[n++] = ternary_type;
    if (qi->levels <= 4) out[n++] = G_Q2_K;
    if (qi->levels <= 16) out[n++] = G_Q4_0;
    out[n++] = G_Q8_0;
    return n;
}

/* The first candidate that holds the linear exactly; the reasons of those that do not, in
 * `reason` ("TQ2_0: ...; Q2_K: ..."). 0 when none does. */
static int try_blocks(gtensor *g, const qlinear *q, int ternary_type, int (*perm)(int, int), int hd, char *reason, size_t rn) {
    int cand[4], n = candidates(q->qi, ternary_type, cand);
    size_t used = 0;
    reason[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t k = 0;
        while (gtypes[k].type != cand[i]) k++;
        char why[200];
        if (try_type(g, q, k, perm, hd, why, sizeof why)) return 1;
        if (used < rn) used += (size_t)snprintf(reason + used, rn - used, "%s%s: %s", used ? "; " : "", gtypes[k].name, why);
    }
    return 0;
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
                        int ternary_type, int hd, json_t *rep) {
    gguf_name(t->name, g->name, sizeof g->name);
    g->rows = t->ndim == 2 ? (int)t->dims[0] : 0, g->cols = (int)(t->ndim == 2 ? t->dims[1] : t->dims[0]);
    const float *W = pq_ckpt_expect(c, t->name, PQ_F32, t->numel);
    if (!W) return pq_fail_prefix("%s", what);
    size_t len = strlen(t->name);
    int is_qk = len > 3 && (!strcmp(t->name + len - 3, ".wq") || !strcmp(t->name + len - 3, ".wk"));
    int (*perm)(int, int) = is_qk ? permuted_row : NULL;
    char qn[96], reason[640] = "";
    snprintf(qn, sizeof qn, "%s.qcodes", t->name);
    const pq_tensor *pc = pq_ckpt_find(c, qn);
    json_t *row = json_pack("{s:s}", "name", g->name);
    if (pc && qi) {
        snprintf(qn, sizeof qn, "%s.qscale", t->name);
        const float *alpha = pq_ckpt_expect(c, qn, PQ_F32, g->rows);
        if (!alpha) return json_decref(row), pq_fail_prefix("%s", what);
        uint8_t *codes = pq_malloc((size_t)g->rows * g->cols);
        pq_qunpack(pc->data, g->rows, g->cols, qi->storage_bits, codes);
        qlinear q = {.W = W, .alpha = alpha, .codes = codes, .qi = qi, .rows = g->rows, .cols = g->cols};
        try_blocks(g, &q, ternary_type, perm, hd, reason, sizeof reason);
        free(codes);
        if (reason[0]) json_object_set_new(row, "reason", json_string(reason));
    }
    if (!g->data) f32_tensor(g, W, perm, hd);
    json_object_set_new(row, "type", json_string(type_name(g->type)));
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

static int put_tokenizer(pq_buf *b, int *nkv, const char *path, int vocab) {
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
            put_u64(b, la + 1 + lb), pq_buf_put(b, tok[mg[i][0]], la);
            pq_buf_put(b, " ", 1), pq_buf_put(b, tok[mg[i][1]], lb);
        }
        kv_u32(b, nkv, "tokenizer.ggml.bos_token_id", 256);
        kv_u32(b, nkv, "tokenizer.ggml.eos_token_id", 257);
        kv_bool(b, nkv, "tokenizer.ggml.add_bos_token", 1);
    }
    for (int i = 0; i < vocab; i++) free(tok[i]);
    free(tok), free(mg);
    return rc;
}

/* ---- tokenizer: a model's own (tokenizer.json byte-level BPE, SentencePiece) --------- */

/* tokenizer.ggml.tokens and token_type: tok[i] (len[i] bytes) of type[i], ids the
 * tokenizer leaves unused padded to the model's vocab as unused [PADi]. */
static void put_vocab(pq_buf *b, int *nkv, char **tok, const size_t *len, const int32_t *type, int vocab) {
    char pad[32];
    kv_key(b, "tokenizer.ggml.tokens", T_ARR), put_u32(b, T_STR), put_u64(b, (uint64_t)vocab), (*nkv)++;
    for (int i = 0; i < vocab; i++) {
        if (tok[i]) put_str(b, tok[i], len[i]);
        else snprintf(pad, sizeof pad, "[PAD%d]", i), put_str(b, pad, strlen(pad));
    }
    kv_key(b, "tokenizer.ggml.token_type", T_ARR), put_u32(b, T_I32), put_u64(b, (uint64_t)vocab), (*nkv)++;
    for (int i = 0; i < vocab; i++) put_u32(b, tok[i] ? (uint32_t)type[i] : 5u); /* 5: unused */
}

static void put_special_ids(pq_buf *b, int *nkv, int32_t bos, int32_t eos) {
    if (bos >= 0) kv_u32(b, nkv, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) kv_u32(b, nkv, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    kv_bool(b, nkv, "tokenizer.ggml.add_bos_token", bos >= 0);
}

/* A tokenizer.json's tokens by id: vocab keys (normal, or byte for a char-level
 * file's <0xXX> with byte_fallback, unknown for its unk_token), added tokens
 * (control if special, else user-defined). */
static void hf_tokens(const json_t *j, int char_level, char **tok, size_t *len, int32_t *type) {
    const json_t *model = json_object_get(j, "model"), *v;
    const char *key, *unk = json_string_value(json_object_get(model, "unk_token"));
    int fallback = char_level && json_is_true(json_object_get(model, "byte_fallback"));
    size_t i;
    json_object_foreach((json_t *)json_object_get(model, "vocab"), key, v) {
        json_int_t id = json_integer_value(v);
        int byte = fallback && strlen(key) == 6 && !strncmp(key, "<0x", 3) && key[5] == '>';
        free(tok[id]), tok[id] = pq_strdup(key), len[id] = strlen(key);
        type[id] = unk && !strcmp(key, unk) ? 2 : byte ? 6 : 1; /* unknown, byte, normal */
    }
    json_array_foreach(json_object_get(j, "added_tokens"), i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        const char *c = json_string_value(json_object_get(v, "content"));
        free(tok[id]), tok[id] = pq_strdup(c), len[id] = strlen(c);
        type[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4; /* control, user-defined */
    }
}

/* Merge i as "a b", whichever way the file writes it. */
static void merge_text(const json_t *m, const char **a, const char **b, char **pair) {
    *pair = NULL;
    if (json_is_string(m)) {
        *pair = pq_strdup(json_string_value(m));
        char *sp = strchr(*pair, ' ');
        *sp = 0, *a = *pair, *b = sp + 1; /* the parser checked: one space */
    } else
        *a = json_string_value(json_array_get(m, 0)), *b = json_string_value(json_array_get(m, 1));
}

/* A tokenizer.json as llama.cpp reads it. Byte-level: its gpt2 model (the vocab
 * strings are already in GPT-2's byte alphabet; merges "a b" by rank; the
 * pre-tokenizer llama.cpp names as pq_hf_bpe_gguf_pre says). SentencePiece-style:
 * its llama model, whose BPE merges the adjacent pair whose concatenation scores
 * highest: a token's score is minus the rank of the first merge that makes it
 * (the conversion lists every split of a piece together, by the piece's score),
 * below every merge for the rest. */
static int put_hf_tokenizer(pq_buf *b, int *nkv, const char *path, const char *data, size_t n, int vocab, int32_t bos, int32_t eos,
                            json_t *note) {
    pq_hf_bpe *t = pq_hf_bpe_parse(data, n, path);
    if (!t) return -1;
    const char *pre = pq_hf_bpe_gguf_pre(t);
    int tv = pq_hf_bpe_vocab_size(t), ch = pq_hf_bpe_char_level(t), prefix = pq_hf_bpe_prepends_space(t);
    if (!ch && !pre) {
        pq_hf_bpe_free(t);
        return pq_fail("%s: its pre-tokenizer has no llama.cpp equivalent (the LLaMA-3 split, the GPT-2 split, "
                       "SmolLM's digits then GPT-2)", path);
    }
    if (tv > vocab) {
        pq_hf_bpe_free(t);
        return pq_fail("%s: %d tokens, more than the model's vocab %d", path, tv, vocab);
    }
    json_t *j = json_loadb(data, n, 0, NULL), *merges = json_object_get(json_object_get(j, "model"), "merges"), *m;
    char **tok = pq_calloc((size_t)vocab, sizeof *tok);
    size_t *len = pq_calloc((size_t)vocab, sizeof *len), i;
    int32_t *type = pq_calloc((size_t)vocab, sizeof *type);
    hf_tokens(j, ch, tok, len, type);
    kv_str(b, nkv, "tokenizer.ggml.model", ch ? "llama" : "gpt2");
    kv_str(b, nkv, "tokenizer.ggml.pre", ch ? "default" : pre);
    put_vocab(b, nkv, tok, len, type, vocab);
    if (ch) {
        float *score = pq_malloc(sizeof *score * (size_t)vocab);
        for (int k = 0; k < vocab; k++) score[k] = -(float)json_array_size(merges) - (float)k;
        uint8_t *made = pq_calloc((size_t)vocab, 1);
        json_array_foreach(merges, i, m) {
            const char *l, *r;
            char *pair;
            merge_text(m, &l, &r, &pair);
            char *both = pq_malloc(strlen(l) + strlen(r) + 1);
            strcpy(both, l), strcat(both, r);
            int32_t id = pq_hf_bpe_id(t, both);
            if (id >= 0 && !made[id]) made[id] = 1, score[id] = -(float)i;
            free(both), free(pair);
        }
        kv_key(b, "tokenizer.ggml.scores", T_ARR), put_u32(b, T_F32), put_u64(b, (uint64_t)vocab), (*nkv)++;
        for (int k = 0; k < vocab; k++) pq_buf_put(b, &score[k], 4);
        for (int k = 0; k < vocab; k++)
            if (tok[k] && type[k] == 2) kv_u32(b, nkv, "tokenizer.ggml.unknown_token_id", (uint32_t)k);
        kv_bool(b, nkv, "tokenizer.ggml.add_space_prefix", prefix);
        if (prefix && !pq_hf_bpe_prepend_rule(t))
            json_array_append_new(note, json_string("Metaspace adds no \u2581 before a text that already starts with a "
                                                    "space; llama.cpp's llama vocab, like SentencePiece, always does, so "
                                                    "such texts tokenize differently"));
        free(score), free(made);
    } else {
        kv_key(b, "tokenizer.ggml.merges", T_ARR), put_u32(b, T_STR), put_u64(b, json_array_size(merges)), (*nkv)++;
        json_array_foreach(merges, i, m) {
            const char *l, *r;
            char *pair;
            merge_text(m, &l, &r, &pair);
            put_u64(b, strlen(l) + 1 + strlen(r)), pq_buf_put(b, l, strlen(l));
            pq_buf_put(b, " ", 1), pq_buf_put(b, r, strlen(r));
            free(pair);
        }
    }
    put_special_ids(b, nkv, bos, eos);
    for (int k = 0; k < vocab; k++) free(tok[k]);
    free(tok), free(len), free(type);
    json_decref(j);
    pq_hf_bpe_free(t);
    return 0;
}

/* A SentencePiece BPE model as llama.cpp's llama model: the pieces as the file has
 * them, their scores and types, unk, add_space_prefix = add_dummy_prefix. */
static int put_spm_tokenizer(pq_buf *b, int *nkv, const char *path, const char *data, size_t n, int vocab, int32_t bos, int32_t eos,
                             json_t *note) {
    pq_spm *s = pq_spm_parse((const uint8_t *)data, n, path);
    if (!s) return -1;
    int sv = pq_spm_vocab_size(s), rc = 0;
    if (strcmp(pq_spm_model_type(s), "bpe"))
        rc = pq_fail("%s: a unigram SentencePiece model: llama.cpp's llama vocab merges as BPE", path);
    else if (sv > vocab) rc = pq_fail("%s: %d pieces, more than the model's vocab %d", path, sv, vocab);
    if (!rc) {
        char **tok = pq_calloc((size_t)vocab, sizeof *tok);
        size_t *len = pq_calloc((size_t)vocab, sizeof *len);
        int32_t *type = pq_calloc((size_t)vocab, sizeof *type), unk = -1;
        float *score = pq_calloc((size_t)vocab, sizeof *score);
        for (int i = 0; i < sv; i++) {
            int ty;
            const uint8_t *p = pq_spm_piece(s, i, &len[i], &score[i], &ty);
            tok[i] = pq_malloc(len[i] + 1), memcpy(tok[i], p, len[i]), type[i] = ty;
            if (ty == 2) unk = i;
        }
        kv_str(b, nkv, "tokenizer.ggml.model", "llama");
        kv_str(b, nkv, "tokenizer.ggml.pre", "default");
        put_vocab(b, nkv, tok, len, type, vocab);
        kv_key(b, "tokenizer.ggml.scores", T_ARR), put_u32(b, T_F32), put_u64(b, (uint64_t)vocab), (*nkv)++;
        for (int i = 0; i < vocab; i++) pq_buf_put(b, &score[i], 4);
        if (unk >= 0) kv_u32(b, nkv, "tokenizer.ggml.unknown_token_id", (uint32_t)unk);
        kv_bool(b, nkv, "tokenizer.ggml.add_space_prefix", pq_spm_add_dummy_prefix(s));
        if (pq_spm_normalizes(s))
            json_array_append_new(note, json_string("the SentencePiece model normalizes text (a charsmap such as nmt_nfkc, or "
                                                    "removing extra whitespace); llama.cpp's llama vocab does not, so it tokenizes "
                                                    "such text differently (LLaMA-2 and MobileLLM use the identity)"));
        put_special_ids(b, nkv, bos, eos);
        for (int k = 0; k < vocab; k++) free(tok[k]);
        free(tok), free(len), free(type), free(score);
    }
    pq_spm_free(s);
    return rc;
}

/* pq's own tokenizer, a tokenizer.json or a tokenizer.model, by its first bytes. */
static int put_any_tokenizer(pq_buf *b, int *nkv, const pq_gguf_options *opt, int vocab, json_t *note) {
    size_t n;
    char *data = pq_read_file(opt->tokenizer, &n);
    if (!data) return -1;
    size_t skip = 0;
    while (skip < n && (data[skip] == ' ' || data[skip] == '\t' || data[skip] == '\r' || data[skip] == '\n')) skip++;
    int rc = n >= 7 && !memcmp(data, "pq-bpe ", 7) ? put_tokenizer(b, nkv, opt->tokenizer, vocab)
             : skip < n && data[skip] == '{'
                 ? put_hf_tokenizer(b, nkv, opt->tokenizer, data, n, vocab, opt->bos, opt->eos, note)
                 : put_spm_tokenizer(b, nkv, opt->tokenizer, data, n, vocab, opt->bos, opt->eos, note);
    free(data);
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

int pq_gguf_export(const pq_ckpt *c, const char *what, const pq_gguf_options *opt, const char *path, json_t **report) {
    const char *tokenizer = opt ? opt->tokenizer : NULL;
    int ternary_type = opt && opt->ternary_tq1 ? G_TQ1_0 : G_TQ2_0;
    pq_model_config cfg;
    if (pq_model_config_from_ckpt(&cfg, c, what)) return -1;
    qinfo qi;
    int quantized = read_qinfo(c, what, &qi);
    if (quantized < 0) return -1;
    pq_model *m = pq_model_new(&cfg);
    int nt = m->n_tensors + (cfg.rope_llama3_factor > 0), rc = 0;
    gtensor *g = pq_calloc((size_t)nt, sizeof *g);
    json_t *rep = json_array(), *notes = json_array();
    for (int i = 0; i < m->n_tensors && !rc; i++)
        rc = build_tensor(&g[i], c, what, &m->tensors[i], quantized ? &qi : NULL, ternary_type, pq_head_dim(&cfg), rep);
    if (cfg.rope_llama3_factor > 0) {
        gtensor *r = &g[nt - 1];
        snprintf(r->name, sizeof r->name, "rope_freqs.weight");
        r->cols = pq_head_dim(&cfg) / 2, r->type = G_F32, r->bytes = sizeof(float) * r->cols;
        r->data = pq_malloc(r->bytes);
        rope_freqs(&cfg, (float *)r->data);
    }
    pq_buf kv = {0}, out = {0};
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
        if (tokenizer) rc = put_any_tokenizer(&kv, &nkv, opt, cfg.vocab, notes);
    }
    if (!rc) {
        pq_buf_put(&out, "GGUF", 4), put_u32(&out, 3), put_u64(&out, (uint64_t)nt), put_u64(&out, (uint64_t)nkv);
        pq_buf_put(&out, kv.data, kv.len);
        uint64_t off = 0;
        for (int i = 0; i < nt; i++) { /* tensor infos: dims innermost first */
            put_str(&out, g[i].name, strlen(g[i].name));
            put_u32(&out, g[i].rows ? 2 : 1), put_u64(&out, (uint64_t)g[i].cols);
            if (g[i].rows) put_u64(&out, (uint64_t)g[i].rows);
            put_u32(&out, (uint32_t)g[i].type), put_u64(&out, off);
            off += (g[i].bytes + ALIGN - 1) / ALIGN * ALIGN;
        }
        static const uint8_t zeros[ALIGN];
        pq_buf_put(&out, zeros, (ALIGN - out.len % ALIGN) % ALIGN);
        for (int i = 0; i < nt; i++)
            pq_buf_put(&out, g[i].data, g[i].bytes), pq_buf_put(&out, zeros, (ALIGN - g[i].bytes % ALIGN) % ALIGN);
        rc = pq_write_file_atomic(path, out.data, out.len);
    }
    for (int i = 0; i < nt; i++) free(g[i].data);
    free(g), pq_buf_free(&kv), pq_buf_free(&out);
    pq_model_free(m);
    if (!rc && report) *report = json_pack("{s:o, s:o}", "tensors", rep, "notes", notes);
    else json_decref(rep), json_decref(notes);
    return rc ? -1 : 0;
}
