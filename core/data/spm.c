#include "data/spm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/fsio.h"
#include "base/util.h"
#include "data/strmap.h"
#include "data/unicode_classes.h"

/* ModelProto.SentencePiece.Type and TrainerSpec.ModelType. */
enum { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };
enum { UNIGRAM = 1, BPE = 2 };
#define UNK_PENALTY 10.0f
static const char SPACE_SYMBOL[] = "\xe2\x96\x81"; /* U+2581 */

typedef struct {
    uint8_t *s;
    size_t n;
    float score;
    int type;
    uint8_t *text; /* as it decodes */
    size_t text_n;
} piece;

struct pq_spm {
    piece *pieces;
    int n;
    int model_type, byte_fallback, ws_suffix;
    int32_t unk_id, bos_id, eos_id;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
    uint32_t *trie; /* the charsmap's double array (host order) */
    size_t trie_units;
    uint8_t *norm; /* its NUL-separated replacement strings */
    size_t norm_n;
    pq_strmap *normal;   /* NORMAL, USER_DEFINED, UNUSED pieces -> id */
    pq_strmap *reserved; /* UNKNOWN, CONTROL, BYTE pieces -> id */
    pq_strmap *user;     /* USER_DEFINED pieces -> id */
    size_t max_len, max_user_len;
    int32_t byte_id[256];
    float min_score, max_score;
};

/* ---- protobuf wire format ---------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} pb;

static int pb_varint(pb *b, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return -1;
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

typedef struct {
    uint32_t field;
    int wire;
    uint64_t v;          /* wire 0, 1, 5 */
    const uint8_t *data; /* wire 2 */
    size_t len;
} pb_field;

/* Reads the next field: 1, 0 at the end, -1 if malformed. */
static int pb_next(pb *b, pb_field *f) {
    if (b->p == b->end) return 0;
    uint64_t key;
    if (pb_varint(b, &key) || key >> 35) return -1;
    f->field = (uint32_t)(key >> 3), f->wire = (int)(key & 7);
    switch (f->wire) {
    case 0: return pb_varint(b, &f->v) ? -1 : 1;
    case 1:
    case 5: {
        size_t k = f->wire == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < k) return -1;
        f->v = 0;
        for (size_t i = 0; i < k; i++) f->v |= (uint64_t)b->p[i] << (8 * i);
        b->p += k;
        return 1;
    }
    case 2:
        if (pb_varint(b, &f->v) || f->v > (uint64_t)(b->end - b->p)) return -1;
        f->data = b->p, f->len = (size_t)f->v;
        b->p += f->len;
        return 1;
    default: return -1; /* groups (3, 4) and reserved types */
    }
}

static float pb_float(uint64_t v) {
    uint32_t u = (uint32_t)v;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---- parsing ------------------------------------------------------------------------- */

static int parse_piece(pq_spm *s, const uint8_t *data, size_t n, const char *name) {
    piece *pc = &s->pieces[s->n];
    *pc = (piece){.type = NORMAL};
    pb b = {data, data + n};
    pb_field f;
    int r, has_text = 0;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.field == 1 && f.wire == 2) {
            free(pc->s);
            pc->s = pq_malloc(f.len + 1);
            memcpy(pc->s, f.data, f.len);
            pc->s[f.len] = 0;
            pc->n = f.len, has_text = 1;
        } else if (f.field == 2 && f.wire == 5) pc->score = pb_float(f.v);
        else if (f.field == 3 && f.wire == 0) pc->type = (int)f.v;
    }
    s->n++;
    if (r < 0) return pq_fail("%s: piece %d is malformed", name, s->n - 1);
    if (!has_text || !pc->n) return pq_fail("%s: piece %d has no text", name, s->n - 1);
    if (pc->type < NORMAL || pc->type > BYTE) return pq_fail("%s: piece %d has unknown type %d", name, s->n - 1, pc->type);
    return 0;
}

static int parse_trainer_spec(pq_spm *s, const uint8_t *data, size_t n, const char *name) {
    pb b = {data, data + n};
    pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.wire != 0) continue;
        if (f.field == 3) s->model_type = (int)f.v;
        else if (f.field == 35) s->byte_fallback = f.v != 0;
        else if (f.field == 24) s->ws_suffix = f.v != 0;
        else if (f.field == 41) s->bos_id = (int32_t)f.v;
        else if (f.field == 42) s->eos_id = (int32_t)f.v;
    }
    return r < 0 ? pq_fail("%s: trainer_spec is malformed", name) : 0;
}

static int parse_charsmap(pq_spm *s, const uint8_t *data, size_t n, const char *name) {
    if (n == 0) return 0;
    if (n <= 4) return pq_fail("%s: normalizer_spec.precompiled_charsmap is too short", name);
    uint32_t trie_bytes = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    if (trie_bytes >= n - 4 || trie_bytes % 4 || trie_bytes == 0)
        return pq_fail("%s: normalizer_spec.precompiled_charsmap: trie of %u bytes in a blob of %zu", name, trie_bytes, n);
    s->trie_units = trie_bytes / 4;
    s->trie = pq_malloc(trie_bytes);
    for (size_t i = 0; i < s->trie_units; i++) {
        const uint8_t *u = data + 4 + 4 * i;
        s->trie[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    s->norm_n = n - 4 - trie_bytes;
    s->norm = pq_malloc(s->norm_n + 1);
    memcpy(s->norm, data + 4 + trie_bytes, s->norm_n);
    s->norm[s->norm_n] = 0; /* every replacement ends by this NUL at the latest */
    return 0;
}

static int parse_normalizer(pq_spm *s, const uint8_t *data, size_t n, const char *name) {
    pb b = {data, data + n};
    pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.field == 2 && f.wire == 2) {
            free(s->trie), free(s->norm);
            s->trie = NULL, s->norm = NULL;
            if (parse_charsmap(s, f.data, f.len, name)) return -1;
        } else if (f.wire == 0 && f.field == 3) s->add_dummy_prefix = f.v != 0;
        else if (f.wire == 0 && f.field == 4) s->remove_extra_ws = f.v != 0;
        else if (f.wire == 0 && f.field == 5) s->escape_ws = f.v != 0;
    }
    return r < 0 ? pq_fail("%s: normalizer_spec is malformed", name) : 0;
}

/* The piece's text as it decodes (U+2581 -> ' ', <0xXX> -> the byte). */
static void set_text(piece *pc) {
    unsigned byte;
    char tail;
    if (pc->type == BYTE && pc->n == 6 && sscanf((const char *)pc->s, "<0x%2X>%c", &byte, &tail) == 1) {
        pc->text = pq_malloc(1);
        pc->text[0] = (uint8_t)byte, pc->text_n = 1;
        return;
    }
    if (pc->type == UNKNOWN) { /* " ⁇ ", as sentencepiece decodes it */
        pc->text = (uint8_t *)pq_strdup(" \xe2\x81\x87 ");
        pc->text_n = 5;
        return;
    }
    pc->text = pq_malloc(pc->n + 1);
    if (pc->type == CONTROL) return; /* decodes to nothing */
    for (size_t i = 0; i < pc->n;) {
        if (i + 3 <= pc->n && !memcmp(pc->s + i, SPACE_SYMBOL, 3)) pc->text[pc->text_n++] = ' ', i += 3;
        else pc->text[pc->text_n++] = pc->s[i++];
    }
}

static int index_pieces(pq_spm *s, const char *name) {
    s->unk_id = -1;
    s->min_score = 3.402823466e38f, s->max_score = 1.175494351e-38f; /* FLT_MAX, FLT_MIN as libsentencepiece starts */
    for (int i = 0; i < 256; i++) s->byte_id[i] = -1;
    for (int i = 0; i < s->n; i++) {
        piece *pc = &s->pieces[i];
        int normal = pc->type == NORMAL || pc->type == USER_DEFINED || pc->type == UNUSED;
        if (!pq_strmap_put(normal ? s->normal : s->reserved, pc->s, pc->n, i))
            return pq_fail("%s: piece \"%s\" occurs twice", name, (const char *)pc->s);
        if (normal) s->max_len = PQ_MAX(s->max_len, pc->n);
        if (pc->type == USER_DEFINED) {
            pq_strmap_put(s->user, pc->s, pc->n, i);
            s->max_user_len = PQ_MAX(s->max_user_len, pc->n);
        }
        if (pc->type == NORMAL) s->min_score = PQ_MIN(s->min_score, pc->score), s->max_score = PQ_MAX(s->max_score, pc->score);
        if (pc->type == UNKNOWN) {
            if (s->unk_id >= 0) return pq_fail("%s: more than one unknown piece", name);
            s->unk_id = i;
        }
        set_text(pc);
        if (pc->type == BYTE) {
            if (pc->text_n != 1) return pq_fail("%s: byte piece \"%s\" is not <0xXX>", name, (const char *)pc->s);
            s->byte_id[pc->text[0]] = i;
        }
    }
    if (s->unk_id < 0) return pq_fail("%s: no unknown piece (type UNKNOWN)", name);
    if (s->byte_fallback)
        for (int b = 0; b < 256; b++)
            if (s->byte_id[b] < 0) return pq_fail("%s: byte_fallback without the byte piece <0x%02X>", name, b);
    return 0;
}

pq_spm *pq_spm_parse(const uint8_t *data, size_t n, const char *name) {
    pq_spm *s = pq_calloc(1, sizeof *s);
    s->model_type = UNIGRAM, s->bos_id = 1, s->eos_id = 2;
    s->add_dummy_prefix = s->remove_extra_ws = s->escape_ws = 1;
    s->normal = pq_strmap_new(), s->reserved = pq_strmap_new(), s->user = pq_strmap_new();
    size_t cap = 0;
    pb b = {data, data + n};
    pb_field f;
    int r;
    while ((r = pb_next(&b, &f)) > 0) {
        if (f.wire != 2) continue;
        if (f.field == 1) {
            if (s->n == (1 << 24)) {
                r = pq_fail("%s: more than 2^24 pieces", name);
                break;
            }
            if ((size_t)s->n == cap) s->pieces = pq_realloc(s->pieces, sizeof *s->pieces * (cap = cap * 2 + 1024));
            if (parse_piece(s, f.data, f.len, name)) break;
        } else if ((f.field == 2 && parse_trainer_spec(s, f.data, f.len, name)) ||
                   (f.field == 3 && parse_normalizer(s, f.data, f.len, name)))
            break;
    }
    if (r < 0) pq_fail("%s: not a SentencePiece model (malformed or truncated protobuf)", name);
    else if (r == 0 && s->n == 0) pq_fail("%s: no pieces (not a SentencePiece model?)", name);
    else if (r == 0 && s->model_type != UNIGRAM && s->model_type != BPE)
        pq_fail("%s: model_type %d is not supported (UNIGRAM, BPE)", name, s->model_type);
    else if (r == 0 && index_pieces(s, name) == 0) return s;
    pq_spm_free(s);
    return NULL;
}

pq_spm *pq_spm_load(const char *path) {
    size_t n;
    char *data = pq_read_file(path, &n);
    if (!data) return NULL;
    pq_spm *s = pq_spm_parse((const uint8_t *)data, n, path);
    free(data);
    return s;
}

void pq_spm_free(pq_spm *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) free(s->pieces[i].s), free(s->pieces[i].text);
    free(s->pieces);
    free(s->trie);
    free(s->norm);
    pq_strmap_free(s->normal);
    pq_strmap_free(s->reserved);
    pq_strmap_free(s->user);
    free(s);
}

int pq_spm_vocab_size(const pq_spm *s) { return s->n; }
const uint8_t *pq_spm_piece(const pq_spm *s, int32_t id, size_t *len, float *score, int *type) {
    if (id < 0 || id >= s->n) return NULL;
    *len = s->pieces[id].n, *score = s->pieces[id].score, *type = s->pieces[id].type;
    return s->pieces[id].s;
}

int pq_spm_add_dummy_prefix(const pq_spm *s) { return s->add_dummy_prefix; }

int pq_spm_normalizes(const pq_spm *s) { return s->trie != NULL || s->remove_extra_ws; }

int32_t pq_spm_bos(const pq_spm *s) { return s->bos_id >= 0 && s->bos_id < s->n ? s->bos_id : -1; }
int32_t pq_spm_eos(const pq_spm *s) { return s->eos_id >= 0 && s->eos_id < s->n ? s->eos_id : -1; }
const char *pq_spm_model_type(const pq_spm *s) { return s->model_type == BPE ? "bpe" : "unigram"; }

const uint8_t *pq_spm_token_bytes(const pq_spm *s, int32_t id, size_t *len) {
    if (id < 0 || id >= s->n) return NULL;
    *len = s->pieces[id].text_n;
    return s->pieces[id].text;
}

/* ---- normalization --------------------------------------------------------------------- */

/* Length of the longest piece of map (at most max bytes) that starts text, or 0. */
static size_t longest_in(const pq_strmap *map, size_t max, const uint8_t *p, size_t n) {
    for (size_t l = PQ_MIN(max, n); l > 0; l--)
        if (pq_strmap_get(map, p, l, NULL)) return l;
    return 0;
}

/* The longest charsmap rule at p (darts-clone common-prefix search): the length
 * it replaces and its replacement, or 0. */
static size_t charsmap_match(const pq_spm *s, const uint8_t *p, size_t n, const char **repl) {
    if (!s->trie) return 0;
#define OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
    size_t best = 0, node = OFFSET(s->trie[0]);
    for (size_t i = 0; i < n; i++) {
        node ^= p[i];
        if (node >= s->trie_units) break;
        uint32_t u = s->trie[node];
        if ((u & ((1u << 31) | 0xFF)) != p[i]) break; /* label */
        node ^= OFFSET(u);
        if (node >= s->trie_units) break;
        if ((u >> 8) & 1) { /* has a leaf: its value is an offset into norm */
            uint32_t value = s->trie[node] & 0x7FFFFFFFu;
            if (value < s->norm_n) best = i + 1, *repl = (const char *)s->norm + value;
        }
    }
#undef OFFSET
    return best;
}

/* NormalizePrefix: the replacement of the text's first unit and the bytes it consumes. */
static size_t normalize_prefix(const pq_spm *s, const uint8_t *p, size_t n, const uint8_t **out, size_t *out_n) {
    size_t l = longest_in(s->user, s->max_user_len, p, n);
    if (l) return *out = p, *out_n = l, l;
    const char *repl;
    if ((l = charsmap_match(s, p, n, &repl))) return *out = (const uint8_t *)repl, *out_n = strlen(repl), l;
    if (pq_utf8_decode(p, n, &l) == 0xFFFD && !(l == 3 && !memcmp(p, "\xEF\xBF\xBD", 3)))
        return *out = (const uint8_t *)"\xEF\xBF\xBD", *out_n = 3, 1;
    return *out = p, *out_n = l, l;
}

static void add_ws(const pq_spm *s, pq_buf *b) {
    if (s->escape_ws) pq_buf_put(b, SPACE_SYMBOL, 3);
    else pq_buf_put(b, " ", 1);
}

static void normalize(const pq_spm *s, const uint8_t *p, size_t n, pq_buf *out) {
    const uint8_t *r;
    size_t rn, used;
    if (s->remove_extra_ws) /* leading whitespace */
        while (n && (used = normalize_prefix(s, p, n, &r, &rn)) && rn == 1 && r[0] == ' ') p += used, n -= used;
    if (!n) return;
    if (!s->ws_suffix && s->add_dummy_prefix) add_ws(s, out);
    int prev_space = s->remove_extra_ws;
    while (n) {
        used = normalize_prefix(s, p, n, &r, &rn);
        while (prev_space && rn && r[0] == ' ') r++, rn--;
        if (rn) {
            for (size_t i = 0; i < rn; i++) {
                if (s->escape_ws && r[i] == ' ') pq_buf_put(out, SPACE_SYMBOL, 3);
                else pq_buf_put(out, r + i, 1);
            }
            prev_space = r[rn - 1] == ' ';
        }
        p += used, n -= used;
        if (!s->remove_extra_ws) prev_space = 0;
    }
    if (s->remove_extra_ws) { /* trailing whitespace */
        const char *sp = s->escape_ws ? SPACE_SYMBOL : " ";
        size_t k = strlen(sp);
        while (out->len >= k && !memcmp(out->data + out->len - k, sp, k)) out->len -= k;
    }
    if (s->ws_suffix && s->add_dummy_prefix) add_ws(s, out);
}

/* ---- segmentation -------------------------------------------------------------------------- */

static size_t one_char_len(const uint8_t *p, size_t n) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return PQ_MIN((size_t)len[p[0] >> 4], n);
}

/* PieceToId: reserved pieces first, then the others, else unk. */
static int32_t piece_id(const pq_spm *s, const uint8_t *p, size_t n) {
    int64_t id;
    if (pq_strmap_get(s->reserved, p, n, &id) || pq_strmap_get(s->normal, p, n, &id)) return (int32_t)id;
    return s->unk_id;
}

typedef struct {
    size_t off, n; /* in the normalized text */
    int32_t id;
} seg;

typedef struct {
    seg *v;
    size_t n, cap;
} segs;

static void seg_add(segs *o, size_t off, size_t n, int32_t id) {
    if (o->n == o->cap) o->v = pq_realloc(o->v, sizeof *o->v * (o->cap = o->cap * 2 + 64));
    o->v[o->n++] = (seg){off, n, id};
}

typedef struct {
    size_t off, n;
    int prev, next, freeze;
} symbol;

typedef struct {
    float score;
    int left, right;
    size_t size;
} pair;

/* Max-heap on score, then the smaller left index (libsentencepiece's agenda order). */
static int pair_before(const pair *a, const pair *b) { return a->score > b->score || (a->score == b->score && a->left < b->left); }

typedef struct {
    pair *v;
    size_t n, cap;
} heap;

static void heap_push(heap *h, pair x) {
    if (h->n == h->cap) h->v = pq_realloc(h->v, sizeof *h->v * (h->cap = h->cap * 2 + 64));
    size_t i = h->n++;
    while (i && pair_before(&x, &h->v[(i - 1) / 2])) h->v[i] = h->v[(i - 1) / 2], i = (i - 1) / 2;
    h->v[i] = x;
}

static pair heap_pop(heap *h) {
    pair top = h->v[0], x = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c])) c++;
        if (!pair_before(&h->v[c], &x)) break;
        h->v[i] = h->v[c], i = c;
    }
    if (h->n) h->v[i] = x;
    return top;
}

typedef struct {
    const pq_spm *s;
    const uint8_t *t;
    symbol *sym;
    heap agenda;
    pq_strmap *rev_merge; /* UNUSED piece -> length of the left part it was made from */
} bpe_state;

static void maybe_add_pair(bpe_state *st, int left, int right) {
    if (left < 0 || right < 0 || st->sym[left].freeze || st->sym[right].freeze) return;
    const uint8_t *p = st->t + st->sym[left].off;
    size_t n = st->sym[left].n + st->sym[right].n;
    int64_t id;
    if (!pq_strmap_get(st->s->normal, p, n, &id)) return;
    heap_push(&st->agenda, (pair){st->s->pieces[id].score, left, right, n});
    if (st->s->pieces[id].type == UNUSED) pq_strmap_put(st->rev_merge, p, n, (int64_t)st->sym[left].n);
}

static void resegment(bpe_state *st, size_t off, size_t n, segs *out) {
    int32_t id = piece_id(st->s, st->t + off, n);
    int64_t left;
    if (st->s->pieces[id].type != UNUSED || !pq_strmap_get(st->rev_merge, st->t + off, n, &left)) {
        seg_add(out, off, n, id);
        return;
    }
    resegment(st, off, (size_t)left, out);
    resegment(st, off + (size_t)left, n - (size_t)left, out);
}

static void encode_bpe(const pq_spm *s, const uint8_t *t, size_t n, segs *out) {
    bpe_state st = {.s = s, .t = t, .rev_merge = pq_strmap_new()};
    st.sym = pq_malloc(sizeof *st.sym * (n + 1));
    int m = 0;
    for (size_t i = 0; i < n; m++) {
        size_t l = longest_in(s->user, s->max_user_len, t + i, n - i);
        int freeze = l > 0;
        if (!l) l = one_char_len(t + i, n - i);
        st.sym[m] = (symbol){i, l, m - 1, i + l < n ? m + 1 : -1, freeze};
        i += l;
    }
    for (int i = 1; i < m; i++) maybe_add_pair(&st, i - 1, i);
    while (st.agenda.n) {
        pair top = heap_pop(&st.agenda);
        symbol *L = &st.sym[top.left], *R = &st.sym[top.right];
        if (!L->n || !R->n || L->n + R->n != top.size) continue; /* stale */
        L->n += R->n;
        L->next = R->next;
        if (R->next >= 0) st.sym[R->next].prev = top.left;
        R->n = 0;
        maybe_add_pair(&st, L->prev, top.left);
        maybe_add_pair(&st, top.left, L->next);
    }
    for (int i = m ? 0 : -1; i >= 0; i = st.sym[i].next) resegment(&st, st.sym[i].off, st.sym[i].n, out);
    free(st.sym);
    free(st.agenda.v);
    pq_strmap_free(st.rev_merge);
}

static void encode_unigram(const pq_spm *s, const uint8_t *t, size_t n, segs *out) {
    typedef struct {
        int32_t id;
        float score;
        long start; /* -1: not reached */
    } best_end;
    best_end *best = pq_malloc(sizeof *best * (n + 1));
    for (size_t i = 0; i <= n; i++) best[i] = (best_end){-1, 0, -1};
    const float unk_score = s->min_score - UNK_PENALTY;
    for (size_t start = 0; start < n;) {
        const float here = best[start].score;
        const size_t mblen = one_char_len(t + start, n - start);
        int single = 0;
        for (size_t l = 1; l <= PQ_MIN(s->max_len, n - start); l++) {
            int64_t id;
            if (!pq_strmap_get(s->normal, t + start, l, &id) || s->pieces[id].type == UNUSED) continue;
            /* As libsentencepiece: the piece's score as double (a user-defined piece
             * gets length * max_score - 0.1), the sum in double, stored as float. */
            double score = s->pieces[id].type == USER_DEFINED ? (double)((float)l * s->max_score) - 0.1 : (double)s->pieces[id].score;
            double cand = score + (double)here;
            best_end *e = &best[start + l];
            if (e->start < 0 || cand > (double)e->score) *e = (best_end){(int32_t)id, (float)cand, (long)start};
            if (l == mblen) single = 1;
        }
        if (!single) {
            float cand = unk_score + here;
            best_end *e = &best[start + mblen];
            if (e->start < 0 || cand > e->score) *e = (best_end){s->unk_id, cand, (long)start};
        }
        start += mblen;
    }
    size_t first = out->n;
    for (size_t end = n; end > 0; end = (size_t)best[end].start) seg_add(out, (size_t)best[end].start, end - (size_t)best[end].start, best[end].id);
    for (size_t i = first, j = out->n - 1; i < j; i++, j--) {
        seg x = out->v[i];
        out->v[i] = out->v[j], out->v[j] = x;
    }
    free(best);
}

static void push_id(int32_t **out, size_t *n_out, size_t *cap, int32_t id) {
    if (*n_out == *cap) *out = pq_realloc(*out, sizeof **out * (*cap = *cap * 2 + 64));
    (*out)[(*n_out)++] = id;
}

void pq_spm_encode(const pq_spm *s, const char *text, size_t n, int32_t **out, size_t *n_out, size_t *cap) {
    pq_buf t = {0};
    normalize(s, (const uint8_t *)text, n, &t);
    segs sg = {0};
    const uint8_t *tp = (const uint8_t *)t.data;
    if (t.len) (s->model_type == BPE ? encode_bpe : encode_unigram)(s, tp, t.len, &sg);
    int prev_unk = 0;
    for (size_t i = 0; i < sg.n; i++) {
        int unk = sg.v[i].id == s->unk_id;
        if (unk && s->byte_fallback)
            for (size_t k = 0; k < sg.v[i].n; k++) push_id(out, n_out, cap, s->byte_id[tp[sg.v[i].off + k]]);
        else if (!(unk && prev_unk)) /* a run of unknowns is one unk */
            push_id(out, n_out, cap, sg.v[i].id);
        prev_unk = unk;
    }
    free(sg.v);
    pq_buf_free(&t);
}
