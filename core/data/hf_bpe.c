#include "data/hf_bpe.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/fsio.h"
#include "base/util.h"
#include "data/strmap.h"
#include "data/unicode_classes.h"

/* The split patterns pq implements, by their exact tokenizer.json text. */
static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_PATTERN[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                     "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum step { SPLIT_GPT2, SPLIT_LLAMA3, DIGITS_EACH, DIGITS_RUNS, PREFIX_SPACE };
#define MAX_STEPS 8
#define CACHE_MAX 200000 /* pieces remembered before the cache starts over */

typedef struct {
    uint8_t *s;
    size_t n;
    int32_t id;
    int lstrip, rstrip;
} added_token;

/* One normalizer rule: Prepend (from empty) or Replace of a String pattern. */
typedef struct {
    char *from, *to;
} norm_rule;

enum prepend { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS };
#define MAX_RULES 8

struct pq_hf_bpe {
    int vocab_size;
    pq_strmap *by_name; /* tokenizer.json spelling -> id */
    pq_strmap *vocab;   /* model token bytes -> id */
    pq_strmap *merges;  /* (left, right) ids -> rank << 32 | result id */
    uint8_t **bytes;    /* id -> bytes (NULL: unused id) */
    size_t *len;
    int32_t byte_id[256];
    uint8_t added_first[256]; /* 1 where some added token starts with that byte */
    added_token *added;
    int n_added;
    enum step steps[MAX_STEPS];
    int n_steps;
    int ignore_merges;
    /* SentencePiece-style (LLaMA-2) files: no ByteLevel, so the symbols BPE starts
     * from are characters, and a character outside the vocab becomes its bytes'
     * <0xXX> tokens (byte_fallback) or the unk token. */
    int char_level, byte_fallback, fuse_unk;
    int32_t unk_id, fallback_id[256];
    norm_rule rules[MAX_RULES]; /* the normalizer, in order */
    int n_rules;
    char *metaspace; /* Metaspace's replacement for ' ' (NULL: none) */
    enum prepend meta_prepend;
    int32_t template_bos;
    pq_strmap *cache; /* piece bytes -> offset in cache_ids: count, then the ids */
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
};

/* ---- UTF-8 and the byte-level alphabet ---------------------------------------- */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 * others for 256 + their rank among the non-printable ones. */
static uint32_t byte_char(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return (uint32_t)b;
    int rank = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) rank++;
    return 256u + (uint32_t)rank;
}

/* The raw bytes a byte-level token string stands for; 0 if a character is not
 * in the alphabet (then the token is kept as its UTF-8 text). */
static int byte_level_decode(const char *s, uint8_t *out, size_t *n_out, const int16_t *char_byte) {
    size_t n = strlen(s), k = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t cp = pq_utf8_decode((const uint8_t *)s + i, n - i, &l);
        if (cp >= 512 || char_byte[cp] < 0) return 0;
        out[k++] = (uint8_t)char_byte[cp];
        i += l;
    }
    *n_out = k;
    return 1;
}

/* ---- the split rules, as C ------------------------------------------------------ */

typedef struct {
    const uint8_t *p;
    size_t n;
} text;

static uint32_t cp_at(text t, size_t i, size_t *len) { return pq_utf8_decode(t.p + i, t.n - i, len); }
static int is_l(uint32_t c) { return pq_uni_is_letter(c); }
static int is_n(uint32_t c) { return pq_uni_is_number(c); }
static int is_s(uint32_t c) { return pq_uni_is_space(c); }
static int is_other(uint32_t c) { return !is_s(c) && !is_l(c) && !is_n(c); } /* [^\s\p{L}\p{N}] */

/* End of the run of characters from i that satisfy pred (i itself if none). */
static size_t run(text t, size_t i, int (*pred)(uint32_t)) {
    while (i < t.n) {
        size_t l;
        if (!pred(cp_at(t, i, &l))) break;
        i += l;
    }
    return i;
}

/* 's 't 're 've 'm 'll 'd at i (case-insensitively if ci): end, or 0. */
static size_t contraction(text t, size_t i, int ci) {
    if (t.p[i] != '\'' || i + 1 >= t.n) return 0;
    int a = t.p[i + 1], b = i + 2 < t.n ? t.p[i + 2] : 0;
    if (ci) a = a >= 'A' && a <= 'Z' ? a + 32 : a, b = b >= 'A' && b <= 'Z' ? b + 32 : b;
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return 0;
}

/* \s+(?!\S) then \s+ at i (a whitespace character): a run that ends the text, or
 * is followed by a non-space, gives its last character to what follows. */
static size_t spaces(text t, size_t i) {
    size_t j = run(t, i, is_s);
    if (j == t.n) return j;
    size_t last = i, l;
    for (size_t k = i; k < j; k += l) {
        cp_at(t, k, &l);
        last = k;
    }
    return last > i ? last : j;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t split_gpt2(text t, size_t i) {
    size_t e, l;
    if ((e = contraction(t, i, 0))) return e;
    size_t j = i + (t.p[i] == ' ' && i + 1 < t.n);
    uint32_t c = cp_at(t, j, &l);
    if (is_l(c)) return run(t, j, is_l);
    if (is_n(c)) return run(t, j, is_n);
    if (is_other(c)) return run(t, j, is_other);
    return spaces(t, i);
}

static int not_crlf_l_n(uint32_t c) { return c != '\r' && c != '\n' && !is_l(c) && !is_n(c); }
static int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t split_llama3(text t, size_t i) {
    size_t e, l, l2;
    if ((e = contraction(t, i, 1))) return e;
    uint32_t c = cp_at(t, i, &l);
    if (is_l(c)) return run(t, i, is_l);
    if (not_crlf_l_n(c) && i + l < t.n && is_l(cp_at(t, i + l, &l2))) return run(t, i + l, is_l);
    if (is_n(c)) {
        size_t j = i;
        for (int k = 0; k < 3 && j < t.n && is_n(cp_at(t, j, &l2)); k++) j += l2;
        return j;
    }
    size_t j = i + (c == ' ' && i + 1 < t.n);
    if (is_other(cp_at(t, j, &l2))) return run(t, run(t, j, is_other), is_crlf);
    /* \s*[\r\n]+: through the run's last newline, if it has one. */
    size_t end = run(t, i, is_s), last_nl = 0;
    for (size_t k = i; k < end; k += l2)
        if (is_crlf(cp_at(t, k, &l2))) last_nl = k + 1;
    if (last_nl) return last_nl;
    return spaces(t, i);
}

static size_t split_digits(text t, size_t i, int each) {
    size_t l;
    uint32_t c = cp_at(t, i, &l);
    if (is_n(c)) return each ? i + l : run(t, i, is_n);
    size_t j = i;
    while (j < t.n && !is_n(cp_at(t, j, &l))) j += l;
    return j;
}

/* ---- pieces ---------------------------------------------------------------------- */

typedef struct {
    size_t off, n; /* in the work buffer */
} piece;

typedef struct {
    pq_buf buf; /* the pieces' bytes */
    piece *v, *next;
    size_t n, cap, next_n, next_cap;
} work;

/* The offset of n bytes appended to the work buffer. p must not point into the
 * buffer unless pq_buf_reserve(&w->buf, n) came first. */
static size_t buf_add(work *w, const uint8_t *p, size_t n) {
    pq_buf_put(&w->buf, p, n);
    return w->buf.len - n;
}

static const uint8_t *buf_at(const work *w, size_t off) { return (const uint8_t *)w->buf.data + off; }

static void next_add(work *w, size_t off, size_t n) {
    if (!n) return;
    if (w->next_n == w->next_cap) w->next = pq_realloc(w->next, sizeof *w->next * (w->next_cap = w->next_cap * 2 + 16));
    w->next[w->next_n++] = (piece){off, n};
}

static void apply_step(work *w, enum step s) {
    w->next_n = 0;
    for (size_t k = 0; k < w->n; k++) {
        piece pc = w->v[k];
        if (s == PREFIX_SPACE) {
            if (*buf_at(w, pc.off) == ' ') next_add(w, pc.off, pc.n);
            else {
                pq_buf_reserve(&w->buf, pc.n + 1); /* before taking a pointer into buf */
                size_t off = buf_add(w, (const uint8_t *)" ", 1);
                buf_add(w, buf_at(w, pc.off), pc.n);
                next_add(w, off, pc.n + 1);
            }
            continue;
        }
        for (size_t i = 0; i < pc.n;) {
            text t = {buf_at(w, pc.off), pc.n};
            size_t e = s == SPLIT_GPT2     ? split_gpt2(t, i)
                       : s == SPLIT_LLAMA3 ? split_llama3(t, i)
                                           : split_digits(t, i, s == DIGITS_EACH);
            if (e <= i) e = i + 1; /* cannot happen: every character matches */
            next_add(w, pc.off + i, e - i);
            i = e;
        }
    }
    piece *tmp = w->v;
    size_t tmp_cap = w->cap;
    w->v = w->next, w->n = w->next_n, w->cap = w->next_cap;
    w->next = tmp, w->next_cap = tmp_cap, w->next_n = 0;
}

/* ---- BPE on one piece --------------------------------------------------------------- */

static int64_t merge_of(const pq_hf_bpe *t, int32_t a, int32_t b) {
    if (a < 0 || b < 0) return -1; /* a character outside the vocab merges with nothing */
    int32_t key[2] = {a, b};
    int64_t v;
    return pq_strmap_get(t->merges, key, sizeof key, &v) ? v : -1;
}

/* The symbols of a piece as a list; a candidate merge of node pos with its next,
 * valid while both still hold ids a and b. The heap orders candidates by rank,
 * then position: the lowest-ranked pair merges first, the leftmost on ties, as in
 * the tokenizers library, in O(n log n) rather than a rescan per merge (a
 * SentencePiece-style file hands BPE whole lines). */
typedef struct {
    int32_t id;
    int prev, next, alive;
} node;

typedef struct {
    int64_t rank;
    int pos;
    int32_t a, b;
} cand;

static int cand_less(cand x, cand y) { return x.rank < y.rank || (x.rank == y.rank && x.pos < y.pos); }

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i && cand_less(c, h[(i - 1) / 2])) h[i] = h[(i - 1) / 2], i = (i - 1) / 2;
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(h[c + 1], h[c])) c++;
        if (!cand_less(h[c], last)) break;
        h[i] = h[c], i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void push_pair(const pq_hf_bpe *t, const node *v, int pos, cand *h, size_t *hn) {
    if (pos < 0 || v[pos].next < 0) return;
    int64_t m = merge_of(t, v[pos].id, v[v[pos].next].id);
    if (m >= 0) heap_push(h, hn, (cand){m >> 32, pos, v[pos].id, v[v[pos].next].id});
}

/* The initial symbols: one per byte (byte-level) or per character (char-level:
 * its vocab id, or -1 - its offset in p when it has none). Returns the count. */
static int initial_symbols(const pq_hf_bpe *t, const uint8_t *p, size_t n, node *v) {
    int m = 0;
    for (size_t i = 0, l = 1; i < n; i += l) {
        int64_t id = -1 - (int64_t)i;
        if (t->char_level) {
            pq_utf8_decode(p + i, n - i, &l);
            pq_strmap_get(t->vocab, p + i, l, &id);
        } else
            id = t->byte_id[p[i]];
        v[m] = (node){(int32_t)id, m - 1, m + 1, 1};
        m++;
    }
    v[m - 1].next = -1;
    return m;
}

/* The ids of a character outside the vocab: its bytes' <0xXX> tokens with
 * byte_fallback (all of them or none), else unk (one per run with fuse_unk). */
static size_t unknown_ids(const pq_hf_bpe *t, const uint8_t *c, size_t left, int32_t *out, int after_unk) {
    size_t l;
    pq_utf8_decode(c, left, &l);
    int have = t->byte_fallback;
    for (size_t k = 0; have && k < l; k++) have = t->fallback_id[c[k]] >= 0;
    if (have) {
        for (size_t k = 0; k < l; k++) out[k] = t->fallback_id[c[k]];
        return l;
    }
    if (t->unk_id < 0 || (t->fuse_unk && after_unk)) return 0;
    out[0] = t->unk_id;
    return 1;
}

/* The ids of one piece (bytes p[0..n), n > 0) into ids (room for 4n); returns the count. */
static size_t bpe_ids(const pq_hf_bpe *t, const uint8_t *p, size_t n, int32_t *ids) {
    int64_t whole;
    if (t->ignore_merges && pq_strmap_get(t->vocab, p, n, &whole)) return ids[0] = (int32_t)whole, 1;
    node *v = pq_malloc(sizeof *v * n);
    int m = initial_symbols(t, p, n, v);
    cand *h = pq_malloc(sizeof *h * (size_t)(2 * m + 1));
    size_t hn = 0;
    for (int i = 0; i + 1 < m; i++) push_pair(t, v, i, h, &hn);
    while (hn) {
        cand c = heap_pop(h, &hn);
        int r = v[c.pos].next;
        if (!v[c.pos].alive || r < 0 || v[c.pos].id != c.a || v[r].id != c.b) continue; /* stale */
        v[c.pos].id = (int32_t)(merge_of(t, c.a, c.b) & 0xFFFFFFFF);
        v[c.pos].next = v[r].next;
        if (v[r].next >= 0) v[v[r].next].prev = c.pos;
        v[r].alive = 0;
        push_pair(t, v, v[c.pos].prev, h, &hn);
        push_pair(t, v, c.pos, h, &hn);
    }
    size_t k = 0;
    int after_unk = 0;
    for (int i = 0; i >= 0; i = v[i].next) {
        size_t at = v[i].id >= 0 ? 0 : (size_t)(-1 - (int64_t)v[i].id);
        size_t got = v[i].id >= 0 ? (ids[k] = v[i].id, 1) : unknown_ids(t, p + at, n - at, ids + k, after_unk);
        after_unk = v[i].id < 0 && (got == 0 || ids[k] == t->unk_id);
        k += got;
    }
    free(v);
    free(h);
    return k;
}

/* Pieces longer than this are encoded each time, not cached (a SentencePiece-style
 * file's pieces are whole lines, rarely seen twice). */
#define CACHE_PIECE_MAX 256

/* The ids of one piece, appended to cache_ids; returns their offset. */
static size_t bpe_piece(pq_hf_bpe *t, const uint8_t *p, size_t n) {
    int32_t *ids = pq_malloc(sizeof *ids * 4 * n);
    size_t m = bpe_ids(t, p, n, ids);
    if (t->cache_n + m + 1 > t->cache_cap) {
        t->cache_cap = (t->cache_n + m + 1) * 2;
        t->cache_ids = pq_realloc(t->cache_ids, sizeof *t->cache_ids * t->cache_cap);
    }
    size_t off = t->cache_n;
    t->cache_ids[off] = (int32_t)m;
    memcpy(t->cache_ids + off + 1, ids, sizeof *ids * m);
    t->cache_n += m + 1;
    free(ids);
    return off;
}

static void push_ids(int32_t **out, size_t *n_out, size_t *cap, const int32_t *ids, size_t n) {
    if (*n_out + n > *cap) {
        *cap = (*n_out + n) * 2 + 16;
        *out = pq_realloc(*out, sizeof **out * *cap);
    }
    memcpy(*out + *n_out, ids, sizeof *ids * n);
    *n_out += n;
}

/* s with every from replaced by to (from non-empty), or to prepended (from
 * empty, s non-empty): a new string of *n bytes. */
static uint8_t *apply_rule(const uint8_t *s, size_t *n, const norm_rule *r) {
    size_t fn = strlen(r->from), tn = strlen(r->to), k = 0;
    if (!fn) {
        uint8_t *o = pq_malloc(*n + tn + 1);
        memcpy(o, r->to, *n ? tn : 0), memcpy(o + (*n ? tn : 0), s, *n);
        *n += *n ? tn : 0;
        return o;
    }
    uint8_t *o = pq_malloc(*n * (tn > fn ? tn : 1) / fn + *n + 1);
    for (size_t i = 0; i < *n;)
        if (i + fn <= *n && !memcmp(s + i, r->from, fn)) memcpy(o + k, r->to, tn), k += tn, i += fn;
        else o[k++] = s[i++];
    *n = k;
    return o;
}

/* The normalizer, then Metaspace (spaces replaced; its replacement prepended per
 * prepend_scheme, "first" meaning a text that starts the input, and never twice):
 * a new string of *n bytes. */
static uint8_t *normalize(const pq_hf_bpe *t, const uint8_t *p, size_t *n, int at_start) {
    uint8_t *s = pq_malloc(*n + 1);
    memcpy(s, p, *n);
    for (int r = 0; r < t->n_rules; r++) {
        uint8_t *o = apply_rule(s, n, &t->rules[r]);
        free(s), s = o;
    }
    if (t->metaspace) {
        size_t rn = strlen(t->metaspace);
        uint8_t *o = apply_rule(s, n, &(norm_rule){" ", t->metaspace});
        free(s), s = o;
        int has = *n >= rn && !memcmp(s, t->metaspace, rn);
        if (!has && (t->meta_prepend == PREPEND_ALWAYS || (t->meta_prepend == PREPEND_FIRST && at_start))) {
            o = apply_rule(s, n, &(norm_rule){"", t->metaspace});
            free(s), s = o;
        }
    }
    return s;
}

/* Text without added tokens (at_start: it begins the input): normalize,
 * pre-tokenize, then BPE each piece (short ones cached). */
static void encode_plain(pq_hf_bpe *t, const uint8_t *p, size_t n, int at_start, int32_t **out, size_t *n_out, size_t *cap) {
    if (!n) return;
    uint8_t *norm = NULL;
    if (t->n_rules || t->metaspace) p = norm = normalize(t, p, &n, at_start);
    work w = {0};
    w.n = 1, w.cap = 1;
    w.v = pq_malloc(sizeof *w.v);
    w.v[0] = (piece){buf_add(&w, p, n), n};
    free(norm);
    for (int s = 0; s < t->n_steps; s++) apply_step(&w, t->steps[s]);
    for (size_t k = 0; k < w.n; k++) {
        const uint8_t *pp = buf_at(&w, w.v[k].off);
        size_t pn = w.v[k].n;
        int64_t off;
        if (pn > CACHE_PIECE_MAX) {
            int32_t *ids = pq_malloc(sizeof *ids * 4 * pn);
            push_ids(out, n_out, cap, ids, bpe_ids(t, pp, pn, ids));
            free(ids);
            continue;
        }
        if (!pq_strmap_get(t->cache, pp, pn, &off)) {
            if (pq_strmap_size(t->cache) >= CACHE_MAX) pq_strmap_clear(t->cache), t->cache_n = 0;
            off = (int64_t)bpe_piece(t, pp, pn);
            pq_strmap_put(t->cache, pp, pn, off);
        }
        push_ids(out, n_out, cap, t->cache_ids + off + 1, (size_t)t->cache_ids[off]);
    }
    pq_buf_free(&w.buf);
    free(w.v);
    free(w.next);
}

static int is_space_at(const uint8_t *p, size_t n, size_t *len) { return pq_uni_is_space(pq_utf8_decode(p, n, len)); }

/* The leftmost added token in p[from..n), the longest there: index, or -1. */
static int find_added(const pq_hf_bpe *t, const uint8_t *p, size_t n, size_t from, size_t *at) {
    for (size_t i = from; i < n; i++) {
        if (!t->added_first[p[i]]) continue;
        int best = -1;
        for (int k = 0; k < t->n_added; k++) {
            const added_token *a = &t->added[k];
            if (a->n <= n - i && a->s[0] == p[i] && !memcmp(a->s, p + i, a->n) && (best < 0 || a->n > t->added[best].n))
                best = k;
        }
        if (best >= 0) return *at = i, best;
    }
    return -1;
}

void pq_hf_bpe_encode(pq_hf_bpe *t, const char *text_in, size_t n, int32_t **out, size_t *n_out, size_t *cap) {
    const uint8_t *p = (const uint8_t *)text_in;
    size_t start = 0, at;
    int k;
    while ((k = find_added(t, p, n, start, &at)) >= 0) {
        const added_token *a = &t->added[k];
        size_t end = at + a->n, l;
        if (a->lstrip) /* the whitespace before the token is part of it */
            while (at > start) {
                size_t b = at - 1;
                while (b > start && (p[b] & 0xC0) == 0x80) b--;
                if (!is_space_at(p + b, n - b, &l) || b + l != at) break;
                at = b;
            }
        if (a->rstrip)
            while (end < n && is_space_at(p + end, n - end, &l)) end += l;
        encode_plain(t, p + start, at - start, start == 0, out, n_out, cap);
        push_ids(out, n_out, cap, &a->id, 1);
        start = end;
    }
    encode_plain(t, p + start, n - start, start == 0, out, n_out, cap);
}

/* ---- loading ------------------------------------------------------------------------ */

static int set_token(pq_hf_bpe *t, int32_t id, const uint8_t *b, size_t n) {
    if (id < 0 || id >= t->vocab_size) return -1;
    free(t->bytes[id]);
    t->bytes[id] = pq_malloc(n ? n : 1);
    if (n) memcpy(t->bytes[id], b, n);
    t->len[id] = n;
    return 0;
}

/* A char-level token's bytes as text: the space marker (Metaspace's replacement,
 * or what a Replace rule turns ' ' into) back to ' ', <0xXX> to its byte. */
static void set_char_token(pq_hf_bpe *t, int32_t id, const char *key) {
    if (t->byte_fallback && strlen(key) == 6 && !strncmp(key, "<0x", 3) && isxdigit((unsigned char)key[3]) &&
        isxdigit((unsigned char)key[4]) && key[5] == '>') {
        uint8_t c = (uint8_t)strtoul(key + 3, NULL, 16);
        set_token(t, id, &c, 1);
        return;
    }
    size_t n = strlen(key);
    uint8_t *s = (uint8_t *)pq_strdup(key);
    const char *mark = t->metaspace;
    for (int r = 0; !mark && r < t->n_rules; r++)
        if (!strcmp(t->rules[r].from, " ") && *t->rules[r].to) mark = t->rules[r].to;
    if (mark) {
        uint8_t *o = apply_rule(s, &n, &(norm_rule){(char *)mark, " "});
        free(s), s = o;
    }
    set_token(t, id, s, n);
    free(s);
}

static int id_of(const pq_hf_bpe *t, const char *name, int32_t *id) {
    int64_t v;
    if (!pq_strmap_get(t->by_name, name, strlen(name), &v)) return -1;
    *id = (int32_t)v;
    return 0;
}

static int read_merges(pq_hf_bpe *t, const json_t *merges, const char *name) {
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a = NULL, *b = NULL;
        char *pair = NULL;
        if (json_is_string(m)) {
            pair = pq_strdup(json_string_value(m));
            char *sp = strchr(pair, ' ');
            if (sp && !strchr(sp + 1, ' ')) *sp = 0, a = pair, b = sp + 1;
        } else if (json_is_array(m) && json_array_size(m) == 2) {
            a = json_string_value(json_array_get(m, 0)), b = json_string_value(json_array_get(m, 1));
        }
        if (!a || !b) {
            free(pair);
            return pq_fail("%s: model.merges[%zu] is not \"a b\" or [\"a\", \"b\"]", name, i);
        }
        int32_t ia, ib, ir;
        size_t la = strlen(a), lb = strlen(b);
        char *ab = pq_malloc(la + lb + 1);
        memcpy(ab, a, la), memcpy(ab + la, b, lb + 1);
        int bad = id_of(t, a, &ia) ? 1 : id_of(t, b, &ib) ? 2 : id_of(t, ab, &ir) ? 3 : 0;
        if (bad) pq_fail("%s: model.merges[%zu]: token \"%s\" is not in the vocab", name, i, bad == 1 ? a : bad == 2 ? b : ab);
        free(ab);
        free(pair);
        if (bad) return -1;
        int32_t key[2] = {ia, ib};
        if (!pq_strmap_get(t->merges, key, sizeof key, NULL)) /* the first (lowest) rank wins */
            pq_strmap_put(t->merges, key, sizeof key, (int64_t)i << 32 | (uint32_t)ir);
    }
    return 0;
}

static int check_model(const json_t *model, const char *name, int byte_level) {
    const char *type = json_string_value(json_object_get(model, "type"));
    if (type && strcmp(type, "BPE")) return pq_fail("%s: model type %s is not supported (BPE)", name, type);
    if (!json_is_object(json_object_get(model, "vocab"))) return pq_fail("%s: model.vocab is missing or not an object", name);
    if (!json_is_array(json_object_get(model, "merges"))) return pq_fail("%s: model.merges is missing or not an array", name);
    const json_t *d = json_object_get(model, "dropout");
    if (d && !json_is_null(d) && !(json_is_number(d) && json_number_value(d) == 0))
        return pq_fail("%s: model.dropout is not supported", name);
    static const char *empty_strings[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < PQ_COUNT(empty_strings); i++) {
        const char *s = json_string_value(json_object_get(model, empty_strings[i]));
        if (s && *s) return pq_fail("%s: model.%s \"%s\" is not supported (LLaMA-family BPE has none)", name, empty_strings[i], s);
    }
    if (byte_level && json_is_true(json_object_get(model, "byte_fallback")))
        return pq_fail("%s: model.byte_fallback with a ByteLevel pre_tokenizer is not supported (a byte-level BPE needs none)", name);
    return 0;
}

/* byte_fallback's <0xXX> tokens and the unk token of a char-level model. */
static int read_unknowns(pq_hf_bpe *t, const json_t *model, const char *name) {
    t->unk_id = -1;
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        t->fallback_id[b] = pq_hf_bpe_id(t, hex);
    }
    t->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    const json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk) && (!json_is_string(unk) || (t->unk_id = pq_hf_bpe_id(t, json_string_value(unk))) < 0))
        return pq_fail("%s: model.unk_token is not a token of the vocab", name);
    return 0;
}

static int read_vocab(pq_hf_bpe *t, const json_t *vocab, const json_t *added, const char *name) {
    /* byte-level: keys are bytes_to_unicode strings; char-level: UTF-8 text. */
    const char *key;
    json_t *v;
    int64_t max_id = -1;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 24))
            return pq_fail("%s: model.vocab[\"%s\"] is not an id in 0..2^24", name, key);
        max_id = PQ_MAX(max_id, json_integer_value(v));
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (!json_is_string(json_object_get(v, "content")) || !*json_string_value(json_object_get(v, "content")) ||
            !json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 24))
            return pq_fail("%s: added_tokens[%zu] needs a non-empty \"content\" and an \"id\" in 0..2^24", name, i);
        if (json_is_true(json_object_get(v, "single_word")))
            return pq_fail("%s: added_tokens[%zu]: single_word is not supported", name, i);
        max_id = PQ_MAX(max_id, json_integer_value(id));
    }
    if (max_id < 0) return pq_fail("%s: the vocab is empty", name);
    t->vocab_size = (int)max_id + 1;
    t->bytes = pq_calloc((size_t)t->vocab_size, sizeof *t->bytes);
    t->len = pq_calloc((size_t)t->vocab_size, sizeof *t->len);

    int16_t char_byte[512];
    memset(char_byte, 0xFF, sizeof char_byte);
    for (int b = 0; b < 256; b++) char_byte[byte_char(b)] = (int16_t)b;
    uint8_t *raw = NULL;
    json_object_foreach((json_t *)vocab, key, v) {
        int32_t id = (int32_t)json_integer_value(v);
        size_t kn = strlen(key), rn;
        raw = pq_realloc(raw, kn + 1);
        if (!pq_strmap_put(t->by_name, key, kn, id)) {
            free(raw);
            return pq_fail("%s: model.vocab has \"%s\" twice", name, key);
        }
        if (t->char_level) {
            pq_strmap_put(t->vocab, key, kn, id);
            set_char_token(t, id, key);
        } else if (byte_level_decode(key, raw, &rn, char_byte)) {
            pq_strmap_put(t->vocab, raw, rn, id);
            set_token(t, id, raw, rn);
        } else
            set_token(t, id, (const uint8_t *)key, kn);
    }
    free(raw);
    for (int b = 0; !t->char_level && b < 256; b++) {
        uint8_t c = (uint8_t)b;
        int64_t id;
        if (!pq_strmap_get(t->vocab, &c, 1, &id))
            return pq_fail("%s: model.vocab has no token for byte 0x%02X (not a byte-level BPE?)", name, b);
        t->byte_id[b] = (int32_t)id;
    }
    t->added = pq_calloc(json_array_size(added) + 1, sizeof *t->added);
    json_array_foreach(added, i, v) {
        const char *content = json_string_value(json_object_get(v, "content"));
        added_token *a = &t->added[t->n_added++];
        a->n = strlen(content);
        a->s = (uint8_t *)pq_strdup(content);
        a->id = (int32_t)json_integer_value(json_object_get(v, "id"));
        a->lstrip = json_is_true(json_object_get(v, "lstrip"));
        a->rstrip = json_is_true(json_object_get(v, "rstrip"));
        t->added_first[a->s[0]] = 1;
        pq_strmap_put(t->by_name, a->s, a->n, a->id);
        set_token(t, a->id, a->s, a->n);
    }
    return 0;
}

static int add_rule(pq_hf_bpe *t, const char *from, const char *to, const char *name) {
    if (t->n_rules == MAX_RULES) return pq_fail("%s: normalizer has more than %d rules", name, MAX_RULES);
    t->rules[t->n_rules++] = (norm_rule){pq_strdup(from), pq_strdup(to)};
    return 0;
}

/* The normalizers of SentencePiece-style files (LLaMA-2: Prepend "▁" then Replace
 * " " by "▁"); any other is refused. */
static int read_normalizer(pq_hf_bpe *t, const json_t *nm, const char *name) {
    if (!nm || json_is_null(nm)) return 0;
    const char *type = json_string_value(json_object_get(nm, "type"));
    if (!type) return pq_fail("%s: normalizer without a \"type\"", name);
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *s;
        json_t *list = json_object_get(nm, "normalizers");
        if (!json_is_array(list)) return pq_fail("%s: normalizer Sequence without \"normalizers\"", name);
        json_array_foreach(list, i, s) if (read_normalizer(t, s, name)) return -1;
        return 0;
    }
    if (!strcmp(type, "Prepend")) {
        const char *to = json_string_value(json_object_get(nm, "prepend"));
        return to ? add_rule(t, "", to, name) : pq_fail("%s: normalizer Prepend without a \"prepend\" string", name);
    }
    if (!strcmp(type, "Replace")) {
        const char *from = json_string_value(json_object_get(json_object_get(nm, "pattern"), "String"));
        const char *to = json_string_value(json_object_get(nm, "content"));
        if (!from || !*from || !to)
            return pq_fail("%s: normalizer Replace: only a non-empty String pattern and a \"content\" are supported", name);
        return add_rule(t, from, to, name);
    }
    return pq_fail("%s: normalizer %s is not supported (Prepend, Replace, Sequence)", name, type);
}

/* Metaspace (the LLaMA-2 conversions since tokenizers 0.19): spaces to its
 * replacement, prepended as prepend_scheme (or add_prefix_space) says. split:
 * true (cutting the text at every replacement) is refused: no LLaMA-family
 * file uses it, and tokenizers.js, the reference the tests use, ignores it. */
static int read_metaspace(pq_hf_bpe *t, const json_t *pt, const char *name) {
    const char *rep = json_string_value(json_object_get(pt, "replacement"));
    const char *scheme = json_string_value(json_object_get(pt, "prepend_scheme"));
    const json_t *split = json_object_get(pt, "split");
    if (!rep || !*rep) return pq_fail("%s: pre_tokenizer Metaspace without a \"replacement\"", name);
    if (!json_is_false(split)) return pq_fail("%s: pre_tokenizer Metaspace: only \"split\": false is supported", name);
    if (scheme && strcmp(scheme, "always") && strcmp(scheme, "first") && strcmp(scheme, "never"))
        return pq_fail("%s: pre_tokenizer Metaspace: prepend_scheme %s is not always, first or never", name, scheme);
    t->meta_prepend = scheme ? (!strcmp(scheme, "always") ? PREPEND_ALWAYS : !strcmp(scheme, "first") ? PREPEND_FIRST : PREPEND_NEVER)
                      : json_is_false(json_object_get(pt, "add_prefix_space")) ? PREPEND_NEVER
                                                                              : PREPEND_ALWAYS;
    free(t->metaspace);
    t->metaspace = pq_strdup(rep);
    return 0;
}

/* Whether pt is or contains a ByteLevel pre-tokenizer (a byte-level BPE). */
static int has_byte_level(const json_t *pt) {
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (type && !strcmp(type, "ByteLevel")) return 1;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(pt, "pretokenizers"), i, s) if (has_byte_level(s)) return 1;
    return 0;
}

static int add_step(pq_hf_bpe *t, enum step s, const char *name) {
    if (t->n_steps == MAX_STEPS) return pq_fail("%s: pre_tokenizer has more than %d steps", name, MAX_STEPS);
    t->steps[t->n_steps++] = s;
    return 0;
}

static int read_pre_tokenizer(pq_hf_bpe *t, const json_t *pt, const char *name) {
    if (!pt || json_is_null(pt)) return 0;
    const char *type = json_string_value(json_object_get(pt, "type"));
    if (!type) return pq_fail("%s: pre_tokenizer without a \"type\"", name);
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *s;
        json_t *list = json_object_get(pt, "pretokenizers");
        if (!json_is_array(list)) return pq_fail("%s: pre_tokenizer Sequence without \"pretokenizers\"", name);
        json_array_foreach(list, i, s) if (read_pre_tokenizer(t, s, name)) return -1;
        return 0;
    }
    if (!strcmp(type, "ByteLevel")) {
        if (json_is_true(json_object_get(pt, "add_prefix_space")) && add_step(t, PREFIX_SPACE, name)) return -1;
        const json_t *re = json_object_get(pt, "use_regex");
        return (!re || json_is_true(re)) ? add_step(t, SPLIT_GPT2, name) : 0;
    }
    if (!strcmp(type, "Metaspace")) return read_metaspace(t, pt, name);
    if (!strcmp(type, "Digits"))
        return add_step(t, json_is_true(json_object_get(pt, "individual_digits")) ? DIGITS_EACH : DIGITS_RUNS, name);
    if (!strcmp(type, "Split")) {
        const char *re = json_string_value(json_object_get(json_object_get(pt, "pattern"), "Regex"));
        const char *behavior = json_string_value(json_object_get(pt, "behavior"));
        if (json_is_true(json_object_get(pt, "invert")) || !behavior || strcmp(behavior, "Isolated"))
            return pq_fail("%s: pre_tokenizer Split: only behavior Isolated, not inverted, is supported", name);
        if (re && !strcmp(re, LLAMA3_PATTERN)) return add_step(t, SPLIT_LLAMA3, name);
        if (re && !strcmp(re, GPT2_PATTERN)) return add_step(t, SPLIT_GPT2, name);
        return pq_fail("%s: pre_tokenizer Split pattern %.60s is not one pq implements (the GPT-2 and LLaMA-3 patterns)",
                       name, re ? re : "(not a Regex)");
    }
    return pq_fail("%s: pre_tokenizer %s is not supported (ByteLevel, Split, Digits, Metaspace, Sequence)", name, type);
}

/* The special token a TemplateProcessing puts before sequence A. */
static int32_t template_bos(const json_t *pp) {
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (!type) return -1;
    if (!strcmp(type, "Sequence")) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(pp, "processors"), i, p) {
            int32_t b = template_bos(p);
            if (b >= 0) return b;
        }
        return -1;
    }
    if (strcmp(type, "TemplateProcessing")) return -1;
    const json_t *first = json_array_get(json_object_get(pp, "single"), 0);
    const char *tok = json_string_value(json_object_get(json_object_get(first, "SpecialToken"), "id"));
    if (!tok) return -1;
    const json_t *ids = json_object_get(json_object_get(json_object_get(pp, "special_tokens"), tok), "ids");
    const json_t *id = json_array_get(ids, 0);
    return json_is_integer(id) && json_integer_value(id) >= 0 && json_integer_value(id) < (1 << 24)
               ? (int32_t)json_integer_value(id)
               : -1;
}

/* Added tokens are matched in the raw text. The tokenizers library matches a
 * "normalized" one in the normalized text instead, which differs once a
 * normalizer changes text (Prepend, Replace): such a file is refused. */
static int check_added_normalized(const pq_hf_bpe *t, const json_t *added, const char *name) {
    size_t i;
    json_t *v;
    json_array_foreach(added, i, v) if (t->n_rules && json_is_true(json_object_get(v, "normalized"))) return pq_fail(
        "%s: added_tokens[%zu] \"%s\" is normalized, with a normalizer: not supported", name, i,
        json_string_value(json_object_get(v, "content")));
    return 0;
}

/* The decoders of the LLaMA family (ByteLevel; Metaspace, or Replace "▁" by " " with
 * ByteFallback, Fuse and Strip): pq decodes a token as its bytes, which is what
 * these do; another decoder is refused. */
static int check_decoder(const json_t *d, const char *name) {
    if (!d || json_is_null(d)) return 0;
    static const char *known[] = {"ByteLevel", "Metaspace", "Replace", "ByteFallback", "Fuse", "Strip"};
    const char *type = json_string_value(json_object_get(d, "type"));
    if (type && !strcmp(type, "Sequence")) {
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(d, "decoders"), i, s) if (check_decoder(s, name)) return -1;
        return 0;
    }
    for (size_t i = 0; type && i < PQ_COUNT(known); i++)
        if (!strcmp(type, known[i])) return 0;
    return pq_fail("%s: decoder %s is not supported (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)", name,
                   type ? type : "without a \"type\"");
}

/* The settings that decide how the vocab is read: byte- or char-level, the
 * normalizer, the pre-tokenizers. */
static int read_settings(pq_hf_bpe *t, const json_t *j, const char *name) {
    const json_t *model = json_object_get(j, "model"), *pt = json_object_get(j, "pre_tokenizer");
    int byte_level = has_byte_level(pt);
    t->char_level = !byte_level;
    t->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    if (check_model(model, name, byte_level) || read_normalizer(t, json_object_get(j, "normalizer"), name) ||
        read_pre_tokenizer(t, pt, name) || check_decoder(json_object_get(j, "decoder"), name))
        return -1;
    if (t->metaspace && (byte_level || t->n_steps))
        return pq_fail("%s: pre_tokenizer Metaspace together with other pre-tokenizers is not supported", name);
    return 0;
}

static pq_hf_bpe *from_json(const json_t *j, const char *name) {
    pq_hf_bpe *t = pq_calloc(1, sizeof *t);
    t->by_name = pq_strmap_new(), t->vocab = pq_strmap_new(), t->merges = pq_strmap_new(), t->cache = pq_strmap_new();
    t->template_bos = t->unk_id = -1;
    const json_t *model = json_object_get(j, "model"), *added = json_object_get(j, "added_tokens");
    if (!json_is_object(j)) pq_fail("%s: not a JSON object", name);
    else if (!json_is_object(model)) pq_fail("%s: no \"model\" object", name);
    else if (added && !json_is_array(added)) pq_fail("%s: added_tokens is not an array", name);
    else if (read_settings(t, j, name) == 0 && read_vocab(t, json_object_get(model, "vocab"), added, name) == 0 &&
             read_merges(t, json_object_get(model, "merges"), name) == 0 &&
             (!t->char_level || read_unknowns(t, model, name) == 0) && check_added_normalized(t, added, name) == 0) {
        t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
        t->template_bos = template_bos(json_object_get(j, "post_processor"));
        if (t->template_bos >= t->vocab_size) t->template_bos = -1;
        return t;
    }
    pq_hf_bpe_free(t);
    return NULL;
}

pq_hf_bpe *pq_hf_bpe_parse(const char *data, size_t n, const char *name) {
    json_error_t err;
    json_t *j = json_loadb(data, n, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        pq_fail("%s:%d: %s", name, err.line, err.text);
        return NULL;
    }
    pq_hf_bpe *t = from_json(j, name);
    json_decref(j);
    return t;
}

pq_hf_bpe *pq_hf_bpe_load(const char *path) {
    size_t n;
    char *data = pq_read_file(path, &n);
    if (!data) return NULL;
    pq_hf_bpe *t = pq_hf_bpe_parse(data, n, path);
    free(data);
    return t;
}

void pq_hf_bpe_free(pq_hf_bpe *t) {
    if (!t) return;
    for (int i = 0; i < t->vocab_size; i++) free(t->bytes[i]);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].s);
    for (int i = 0; i < t->n_rules; i++) free(t->rules[i].from), free(t->rules[i].to);
    free(t->metaspace);
    free(t->bytes);
    free(t->len);
    free(t->added);
    free(t->cache_ids);
    pq_strmap_free(t->by_name);
    pq_strmap_free(t->vocab);
    pq_strmap_free(t->merges);
    pq_strmap_free(t->cache);
    free(t);
}

int pq_hf_bpe_vocab_size(const pq_hf_bpe *t) { return t->vocab_size; }

int32_t pq_hf_bpe_id(const pq_hf_bpe *t, const char *name) {
    int32_t id;
    return id_of(t, name, &id) ? -1 : id;
}

int32_t pq_hf_bpe_template_bos(const pq_hf_bpe *t) { return t->template_bos; }

int pq_hf_bpe_char_level(const pq_hf_bpe *t) { return t->char_level; }

int pq_hf_bpe_prepend_rule(const pq_hf_bpe *t) {
    for (int r = 0; r < t->n_rules; r++)
        if (!*t->rules[r].from) return 1;
    return 0;
}

int pq_hf_bpe_prepends_space(const pq_hf_bpe *t) {
    return pq_hf_bpe_prepend_rule(t) || (t->metaspace && t->meta_prepend != PREPEND_NEVER);
}

const char *pq_hf_bpe_gguf_pre(const pq_hf_bpe *t) {
    if (t->char_level || t->n_rules) return NULL;
    int k = t->n_steps;
    const enum step *s = t->steps;
    if (k == 1 && s[0] == SPLIT_LLAMA3) return "llama-bpe";
    if (k == 1 && s[0] == SPLIT_GPT2) return "gpt-2";
    if (k == 2 && s[0] == DIGITS_EACH && s[1] == SPLIT_GPT2) return "smollm";
    return NULL;
}

const uint8_t *pq_hf_bpe_token_bytes(const pq_hf_bpe *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->vocab_size || !t->bytes[id]) return NULL;
    *len = t->len[id];
    return t->bytes[id];
}
