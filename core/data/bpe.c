/* bpe.c — byte-level BPE: pre-tokenizer, trainer, encoder, decoder, file I/O.
 * The format and the rules are documented in bpe.h. */
#include "data/bpe.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/progress.h"
#include "base/util.h"
#include "data/strmap.h"

/* ================================================================ pre-tokenizer */

enum { C_SPACE, C_LETTER, C_DIGIT, C_PUNCT };

/* Class of the character at t[i] and its byte length. Non-ASCII UTF-8 counts as a
 * letter except the Latin-1 and General Punctuation blocks (curly quotes, dashes),
 * so “word” splits like "word" does. Invalid UTF-8 bytes are single symbols. */
/* ASCII classes, precomputed: the encoder's inner loop is mostly ASCII. */
static const uint8_t ascii_class[128] = {
#define S C_SPACE
#define L C_LETTER
#define D C_DIGIT
#define P C_PUNCT
    P, P, P, P, P, P, P, P, P, S, S, S, S, S, P, P, /* \t \n \v \f \r */
    P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P,
    S, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, /* space */
    D, D, D, D, D, D, D, D, D, D, P, P, P, P, P, P, /* 0-9 */
    P, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* A-O */
    L, L, L, L, L, L, L, L, L, L, L, P, P, P, P, P, /* P-Z */
    P, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* a-o */
    L, L, L, L, L, L, L, L, L, L, L, P, P, P, P, P, /* p-z */
#undef S
#undef L
#undef D
#undef P
};

static inline int char_class(const uint8_t *t, size_t n, size_t i, int *len) {
    uint8_t c = t[i];
    *len = 1;
    if (c < 0x80) return ascii_class[c];
    int l = c >= 0xF0 && c <= 0xF7 ? 4 : c >= 0xE0 ? (c <= 0xEF ? 3 : 0) : c >= 0xC2 ? 2 : 0;
    if (l == 0 || i + (size_t)l > n) return C_PUNCT;
    uint32_t cp = c & (0x7F >> l);
    for (int k = 1; k < l; k++) {
        if ((t[i + k] & 0xC0) != 0x80) return C_PUNCT;
        cp = cp << 6 | (t[i + k] & 0x3F);
    }
    *len = l;
    if (cp <= 0xBF || cp == 0xD7 || cp == 0xF7) return C_PUNCT;
    if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x3000 && cp <= 0x303F)) return C_PUNCT;
    return C_LETTER;
}

/* End of a run of class cls starting at p, at most PQ_BPE_MAX_CHUNK bytes after start. */
static size_t run_end(const uint8_t *t, size_t n, size_t start, size_t p, int cls) {
    while (p < n) {
        int len;
        if (char_class(t, n, p, &len) != cls || p + len - start > PQ_BPE_MAX_CHUNK) break;
        p += len;
    }
    return p;
}

/* Length of a contraction suffix ('s 't 're 've 'm 'll 'd) at p, after a letter; else 0. */
static size_t contraction(const uint8_t *t, size_t n, size_t p) {
    size_t q;
    if (t[p] == '\'') q = p + 1;
    else if (p + 2 < n && t[p] == 0xE2 && t[p + 1] == 0x80 && t[p + 2] == 0x99) q = p + 3;
    else return 0;
    if (p == 0 || q >= n) return 0;
    int len;
    if (char_class(t, n, p - 1, &len) != C_LETTER && !(t[p - 1] & 0x80)) return 0;
    static const char *suffixes[] = {"ll", "re", "ve", "s", "t", "m", "d"};
    for (size_t k = 0; k < PQ_COUNT(suffixes); k++) {
        size_t sl = strlen(suffixes[k]);
        if (q + sl <= n && memcmp(t + q, suffixes[k], sl) == 0) {
            if (q + sl < n && char_class(t, n, q + sl, &len) == C_LETTER) continue;
            return q + sl - p;
        }
    }
    return 0;
}

size_t pq_bpe_chunk_end(const uint8_t *t, size_t n, size_t pos) {
    int len;
    int cls = char_class(t, n, pos, &len);
    if (cls == C_SPACE) {
        if (t[pos] == ' ' && pos + 1 < n) {
            int len2;
            int next = char_class(t, n, pos + 1, &len2);
            if (next != C_SPACE) return run_end(t, n, pos, pos + 1, next); /* " word" */
        }
        size_t j = run_end(t, n, pos, pos, C_SPACE);
        /* leave the run's last space to the word that follows */
        if (j < n && j - pos > 1 && t[j - 1] == ' ' && char_class(t, n, j, &len) != C_SPACE) j--;
        return j;
    }
    if (cls == C_PUNCT) {
        size_t c = contraction(t, n, pos);
        if (c) return pos + c;
    }
    return run_end(t, n, pos, pos, cls);
}

/* ================================================================ pair map */

/* pair (a, b) -> int32, for pair indices and merge ranks. Key a<<32|b, stored +1. */
typedef struct {
    uint64_t *keys;
    int32_t *vals;
    size_t cap, used;
} pairmap;

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static void pm_init(pairmap *m, size_t cap) {
    m->cap = cap;
    m->used = 0;
    m->keys = pq_calloc(cap, sizeof *m->keys);
    m->vals = pq_calloc(cap, sizeof *m->vals);
}

static void pm_free(pairmap *m) {
    free(m->keys);
    free(m->vals);
}

static size_t pm_slot(const pairmap *m, uint64_t key) {
    size_t j = pq_mix64(key) & (m->cap - 1);
    while (m->keys[j] && m->keys[j] != key + 1) j = (j + 1) & (m->cap - 1);
    return j;
}

static int32_t pm_get(const pairmap *m, uint64_t key) {
    size_t j = pm_slot(m, key);
    return m->keys[j] ? m->vals[j] : -1;
}

static void pm_put(pairmap *m, uint64_t key, int32_t val) {
    if (2 * (m->used + 1) > m->cap) {
        pairmap big;
        pm_init(&big, m->cap * 2);
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) pm_put(&big, m->keys[i] - 1, m->vals[i]);
        pm_free(m);
        *m = big;
    }
    size_t j = pm_slot(m, key);
    if (!m->keys[j]) {
        m->keys[j] = key + 1;
        m->used++;
    }
    m->vals[j] = val;
}

/* ================================================================ the tokenizer */

struct pq_bpe {
    int n_merges;
    int32_t (*merges)[2];
    pairmap rank;       /* pair -> merge index */
    uint32_t *tok_off;  /* vocab entries: bytes of each id */
    uint32_t *tok_len;
    uint8_t *tok_bytes;
    char hash[PQ_SHA256_HEX];
    /* chunk -> tokens cache: value = offset * 128 + count into cache_tokens */
    pq_strmap *cache;
    int32_t *cache_tokens;
    size_t cache_n, cache_cap;
};

#define CACHE_MAX_ENTRIES (1u << 22)

static char *serialize(const pq_bpe *b, size_t *n_out) {
    size_t cap = 128 + (size_t)b->n_merges * 24, n = 0;
    char *s = pq_malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "pq-bpe 1\nvocab %d\nbos %d\neos %d\nmerges %d\n",
                          PQ_BPE_FIRST_MERGE + b->n_merges, PQ_BPE_BOS, PQ_BPE_EOS, b->n_merges);
    for (int i = 0; i < b->n_merges; i++)
        n += (size_t)snprintf(s + n, cap - n, "%d %d\n", b->merges[i][0], b->merges[i][1]);
    *n_out = n;
    return s;
}

pq_bpe *pq_bpe_from_merges(const int32_t (*merges)[2], int n_merges) {
    for (int i = 0; i < n_merges; i++)
        for (int k = 0; k < 2; k++) {
            int32_t id = merges[i][k];
            if (id < 0 || id >= PQ_BPE_FIRST_MERGE + i || id == PQ_BPE_BOS || id == PQ_BPE_EOS) {
                pq_fail("merge %d uses id %d, which is not a byte or an earlier merge", i, id);
                return NULL;
            }
        }
    /* Token lengths first, to size the byte table. Merges never cross a chunk, so no
     * token is longer than one: a longer one (lengths can double per merge) is a bad list. */
    int V = PQ_BPE_FIRST_MERGE + n_merges;
    uint32_t *tok_len = pq_malloc(sizeof *tok_len * V);
    size_t total = 256;
    for (int i = 0; i < n_merges; i++) {
        int32_t l = merges[i][0], r = merges[i][1];
        uint32_t len = (l < 256 ? 1 : tok_len[l]) + (r < 256 ? 1 : tok_len[r]);
        if (len > PQ_BPE_MAX_CHUNK) {
            free(tok_len);
            pq_fail("merge %d makes a token of %u bytes, longer than a %d-byte chunk", i, len, PQ_BPE_MAX_CHUNK);
            return NULL;
        }
        tok_len[PQ_BPE_FIRST_MERGE + i] = len;
        total += len;
    }
    pq_bpe *b = pq_calloc(1, sizeof *b);
    b->n_merges = n_merges;
    b->merges = pq_malloc(sizeof *b->merges * (n_merges ? n_merges : 1));
    if (n_merges) memcpy(b->merges, merges, sizeof *b->merges * n_merges);
    size_t cap = 1024;
    while (cap < 4 * (size_t)n_merges) cap *= 2;
    pm_init(&b->rank, cap);
    b->tok_off = pq_malloc(sizeof *b->tok_off * V);
    b->tok_len = tok_len;
    b->tok_bytes = pq_malloc(total);
    for (int i = 0; i < 256; i++) {
        b->tok_bytes[i] = (uint8_t)i;
        b->tok_off[i] = (uint32_t)i;
        b->tok_len[i] = 1;
    }
    b->tok_off[PQ_BPE_BOS] = b->tok_off[PQ_BPE_EOS] = 0;
    b->tok_len[PQ_BPE_BOS] = b->tok_len[PQ_BPE_EOS] = 0;
    size_t at = 256;
    for (int i = 0; i < n_merges; i++) {
        int32_t l = merges[i][0], r = merges[i][1], c = PQ_BPE_FIRST_MERGE + i;
        b->tok_off[c] = (uint32_t)at;
        memcpy(b->tok_bytes + at, b->tok_bytes + b->tok_off[l], b->tok_len[l]);
        memcpy(b->tok_bytes + at + b->tok_len[l], b->tok_bytes + b->tok_off[r], b->tok_len[r]);
        at += b->tok_len[c];
        if (pm_get(&b->rank, pair_key(l, r)) < 0) pm_put(&b->rank, pair_key(l, r), i);
    }
    size_t n;
    char *s = serialize(b, &n);
    pq_sha256_hex(s, n, b->hash);
    free(s);
    b->cache = pq_strmap_new_sized(1 << 12);
    return b;
}

void pq_bpe_free(pq_bpe *b) {
    if (!b) return;
    free(b->merges);
    pm_free(&b->rank);
    free(b->tok_off);
    free(b->tok_len);
    free(b->tok_bytes);
    pq_strmap_free(b->cache);
    free(b->cache_tokens);
    free(b);
}

int pq_bpe_vocab_size(const pq_bpe *b) { return PQ_BPE_FIRST_MERGE + b->n_merges; }
int pq_bpe_n_merges(const pq_bpe *b) { return b->n_merges; }
const char *pq_bpe_hash(const pq_bpe *b) { return b->hash; }

void pq_bpe_merge(const pq_bpe *b, int i, int32_t *left, int32_t *right) {
    *left = b->merges[i][0];
    *right = b->merges[i][1];
}

const uint8_t *pq_bpe_token_bytes(const pq_bpe *b, int32_t id, size_t *len) {
    if (id < 0 || id >= pq_bpe_vocab_size(b)) {
        *len = 0;
        return NULL;
    }
    *len = b->tok_len[id];
    return b->tok_bytes + b->tok_off[id];
}

int pq_bpe_save(const pq_bpe *b, const char *path) {
    size_t n;
    char *s = serialize(b, &n);
    int rc = pq_write_file_atomic(path, s, n);
    free(s);
    return rc;
}

/* Reads "<word> <int>\n" at *p; -1 on mismatch. */
static int expect_field(const char **p, const char *end, const char *word, long *val) {
    size_t wl = strlen(word);
    if ((size_t)(end - *p) < wl + 2 || memcmp(*p, word, wl) != 0 || (*p)[wl] != ' ') return -1;
    char *e;
    errno = 0;
    *val = strtol(*p + wl + 1, &e, 10);
    if (errno || e == *p + wl + 1 || e >= end || *e != '\n') return -1;
    *p = e + 1;
    return 0;
}

pq_bpe *pq_bpe_load(const char *path) {
    size_t n;
    char *text = pq_read_file(path, &n);
    if (!text) return NULL;
    const char *p = text, *end = text + n;
    long vocab, bos, eos, nm;
    pq_bpe *b = NULL;
    int32_t(*merges)[2] = NULL;
    if (n < 9 || memcmp(p, "pq-bpe 1\n", 9) != 0) {
        pq_fail("%s:1: not a pq BPE tokenizer file (expected \"pq-bpe 1\")", path);
        goto done;
    }
    p += 9;
    if (expect_field(&p, end, "vocab", &vocab) || expect_field(&p, end, "bos", &bos) ||
        expect_field(&p, end, "eos", &eos) || expect_field(&p, end, "merges", &nm)) {
        pq_fail("%s:%d: malformed header (vocab/bos/eos/merges lines)", path, 2 + (int)(p > text + 9));
        goto done;
    }
    if (bos != PQ_BPE_BOS || eos != PQ_BPE_EOS || nm < 0 || nm > 1000000 || vocab != PQ_BPE_FIRST_MERGE + nm) {
        pq_fail("%s: inconsistent header: vocab %ld, bos %ld, eos %ld, merges %ld", path, vocab, bos, eos, nm);
        goto done;
    }
    merges = pq_malloc(sizeof *merges * (nm ? nm : 1));
    for (long i = 0; i < nm; i++) {
        long a, c;
        char *e;
        int line = (int)(6 + i);
        errno = 0;
        a = strtol(p, &e, 10);
        if (p >= end || e == p || *e != ' ' || errno) {
            pq_fail("%s:%d: %s", path, line, p >= end ? "truncated: fewer merges than the header says" : "malformed merge line");
            goto done;
        }
        p = e + 1;
        c = strtol(p, &e, 10);
        if (e == p || e >= end || *e != '\n' || errno) {
            pq_fail("%s:%d: malformed merge line", path, line);
            goto done;
        }
        p = e + 1;
        if (a < 0 || c < 0 || a >= PQ_BPE_FIRST_MERGE + i || c >= PQ_BPE_FIRST_MERGE + i || a == PQ_BPE_BOS ||
            a == PQ_BPE_EOS || c == PQ_BPE_BOS || c == PQ_BPE_EOS) {
            pq_fail("%s:%d: merge uses an id that is not a byte or an earlier merge", path, line);
            goto done;
        }
        merges[i][0] = (int32_t)a;
        merges[i][1] = (int32_t)c;
    }
    if (p != end) {
        pq_fail("%s:%ld: unexpected data after the last merge", path, 6 + nm);
        goto done;
    }
    b = pq_bpe_from_merges((const int32_t(*)[2])merges, (int)nm);
    if (!b) pq_fail_prefix("%s", path);
done:
    free(merges);
    free(text);
    return b;
}

/* ================================================================ encoding */

/* Applies merges by rank to one chunk (<= PQ_BPE_MAX_CHUNK bytes); returns token count. */
static int encode_chunk(const pq_bpe *b, const uint8_t *s, size_t n, int32_t *sym) {
    int L = (int)n;
    for (int i = 0; i < L; i++) sym[i] = s[i];
    while (L >= 2) {
        int32_t best = INT32_MAX;
        for (int i = 0; i + 1 < L; i++) {
            int32_t r = pm_get(&b->rank, pair_key(sym[i], sym[i + 1]));
            if (r >= 0 && r < best) best = r;
        }
        if (best == INT32_MAX) break;
        int32_t a = b->merges[best][0], c = b->merges[best][1], id = PQ_BPE_FIRST_MERGE + best;
        int j = 0;
        for (int i = 0; i < L;) {
            if (i + 1 < L && sym[i] == a && sym[i + 1] == c) {
                sym[j++] = id;
                i += 2;
            } else {
                sym[j++] = sym[i++];
            }
        }
        L = j;
    }
    return L;
}

void pq_bpe_encode(pq_bpe *b, const char *text, size_t n, int32_t **out, size_t *n_out, size_t *cap) {
    const uint8_t *t = (const uint8_t *)text;
    size_t pos = 0;
    int32_t sym[PQ_BPE_MAX_CHUNK];
    while (pos < n) {
        size_t e = pq_bpe_chunk_end(t, n, pos), len = e - pos;
        if (*n_out + len > *cap) {
            *cap = PQ_MAX(2 * *cap, *n_out + len + 1024);
            *out = pq_realloc(*out, sizeof **out * *cap);
        }
        int64_t cached;
        if (pq_strmap_get(b->cache, t + pos, len, &cached)) {
            size_t off = (size_t)cached >> 7, cnt = (size_t)cached & 127;
            memcpy(*out + *n_out, b->cache_tokens + off, cnt * sizeof(int32_t));
            *n_out += cnt;
        } else {
            int cnt = encode_chunk(b, t + pos, len, sym);
            memcpy(*out + *n_out, sym, (size_t)cnt * sizeof(int32_t));
            *n_out += (size_t)cnt;
            if (pq_strmap_size(b->cache) < CACHE_MAX_ENTRIES) {
                if (b->cache_n + (size_t)cnt > b->cache_cap) {
                    b->cache_cap = PQ_MAX(2 * b->cache_cap, b->cache_n + 4096);
                    b->cache_tokens = pq_realloc(b->cache_tokens, sizeof *b->cache_tokens * b->cache_cap);
                }
                memcpy(b->cache_tokens + b->cache_n, sym, (size_t)cnt * sizeof(int32_t));
                *pq_strmap_upsert(b->cache, t + pos, len, NULL) = (int64_t)(b->cache_n << 7 | (size_t)cnt);
                b->cache_n += (size_t)cnt;
            }
        }
        pos = e;
    }
}

char *pq_bpe_decode(const pq_bpe *b, const int32_t *tokens, size_t n, size_t *n_out) {
    int V = pq_bpe_vocab_size(b);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= V) {
            pq_fail("token %zu has id %d, outside the vocab of %d", i, tokens[i], V);
            return NULL;
        }
        total += b->tok_len[tokens[i]];
    }
    char *s = pq_malloc(total + 1), *p = s;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, b->tok_bytes + b->tok_off[tokens[i]], b->tok_len[tokens[i]]);
        p += b->tok_len[tokens[i]];
    }
    *p = 0;
    if (n_out) *n_out = total;
    return s;
}

/* ================================================================ training */

struct pq_bpe_trainer {
    pq_strmap *words; /* chunk -> count */
    uint64_t total;
};

pq_bpe_trainer *pq_bpe_trainer_new(void) {
    pq_bpe_trainer *t = pq_calloc(1, sizeof *t);
    t->words = pq_strmap_new_sized(1 << 16);
    return t;
}

void pq_bpe_trainer_free(pq_bpe_trainer *t) {
    if (!t) return;
    pq_strmap_free(t->words);
    free(t);
}

void pq_bpe_trainer_add_n(pq_bpe_trainer *t, const char *text, size_t n, int64_t count) {
    const uint8_t *s = (const uint8_t *)text;
    for (size_t pos = 0; pos < n;) {
        size_t e = pq_bpe_chunk_end(s, n, pos);
        *pq_strmap_upsert(t->words, s + pos, e - pos, NULL) += count;
        t->total += (uint64_t)count;
        pos = e;
    }
}

void pq_bpe_trainer_add(pq_bpe_trainer *t, const char *text, size_t n) { pq_bpe_trainer_add_n(t, text, n, 1); }

size_t pq_bpe_trainer_words(const pq_bpe_trainer *t, uint64_t *total) {
    if (total) *total = t->total;
    return pq_strmap_size(t->words);
}

typedef struct {
    int32_t *v;
    int n, cap;
} ivec;

static void ivec_push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 4;
        a->v = pq_realloc(a->v, sizeof *a->v * a->cap);
    }
    a->v[a->n++] = x;
}

typedef struct {
    int64_t count;
    uint64_t key;
} heap_entry;

/* True if x should pop before y: higher count, then smaller (left, right). */
static int heap_before(heap_entry x, heap_entry y) { return x.count > y.count || (x.count == y.count && x.key < y.key); }

typedef struct {
    heap_entry *e;
    size_t n, cap;
} heap;

static void heap_push(heap *h, int64_t count, uint64_t key) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 1024;
        h->e = pq_realloc(h->e, sizeof *h->e * h->cap);
    }
    size_t i = h->n++;
    heap_entry x = {count, key};
    while (i > 0 && heap_before(x, h->e[(i - 1) / 2])) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = x;
}

static heap_entry heap_pop(heap *h) {
    heap_entry top = h->e[0], x = h->e[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && heap_before(h->e[c + 1], h->e[c])) c++;
        if (!heap_before(h->e[c], x)) break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->n) h->e[i] = x;
    return top;
}

/* The training state: unique words as symbol arrays, and per adjacent pair its
 * weighted count and the words it occurs in (a superset: entries may be stale). */
typedef struct {
    int n_words;
    int64_t *freq;
    size_t *off;
    int *len;
    int32_t *syms;
    pairmap index; /* pair -> pair number */
    int n_pairs, cap_pairs;
    int64_t *count;
    uint64_t *key;
    ivec *where;
    int *touched; /* merge number that last touched a pair (for pushing once) */
} train_state;

static int pair_index(train_state *st, int32_t a, int32_t b) {
    uint64_t k = pair_key(a, b);
    int32_t p = pm_get(&st->index, k);
    if (p >= 0) return p;
    if (st->n_pairs == st->cap_pairs) {
        st->cap_pairs = st->cap_pairs ? 2 * st->cap_pairs : 1 << 16;
        st->count = pq_realloc(st->count, sizeof *st->count * st->cap_pairs);
        st->key = pq_realloc(st->key, sizeof *st->key * st->cap_pairs);
        st->where = pq_realloc(st->where, sizeof *st->where * st->cap_pairs);
        st->touched = pq_realloc(st->touched, sizeof *st->touched * st->cap_pairs);
    }
    p = st->n_pairs++;
    st->count[p] = 0;
    st->key[p] = k;
    memset(&st->where[p], 0, sizeof st->where[p]);
    st->touched[p] = -1;
    pm_put(&st->index, k, p);
    return p;
}

static void add_word_pairs(train_state *st, int w, int32_t only_with, int merge_no, heap *h, ivec *new_pairs) {
    const int32_t *s = st->syms + st->off[w];
    for (int i = 0; i + 1 < st->len[w]; i++) {
        int p = pair_index(st, s[i], s[i + 1]);
        st->count[p] += st->freq[w];
        if (only_with >= 0 && s[i] != only_with && s[i + 1] != only_with) continue;
        ivec *wl = &st->where[p];
        if (wl->n == 0 || wl->v[wl->n - 1] != w) ivec_push(wl, w);
        if (new_pairs && st->touched[p] != merge_no) {
            st->touched[p] = merge_no;
            ivec_push(new_pairs, p);
        }
    }
    (void)h;
}

pq_bpe *pq_bpe_trainer_finish(pq_bpe_trainer *t, int vocab_size, int show_progress) {
    int want = PQ_MAX(0, vocab_size - PQ_BPE_FIRST_MERGE);
    train_state st;
    memset(&st, 0, sizeof st);
    /* The merges depend only on the counts and the tie-break rule, not on word order. */
    int nw = (int)pq_strmap_size(t->words);
    const uint8_t **word = pq_malloc(sizeof *word * (nw ? nw : 1));
    st.n_words = nw;
    st.freq = pq_malloc(sizeof *st.freq * (nw ? nw : 1));
    st.off = pq_malloc(sizeof *st.off * (nw ? nw : 1));
    st.len = pq_malloc(sizeof *st.len * (nw ? nw : 1));
    size_t at = 0, pos = 0, len;
    for (int w = 0; pq_strmap_next(t->words, &pos, &word[w], &len, &st.freq[w]); w++)
        st.off[w] = at, st.len[w] = (int)len, at += len;
    st.syms = pq_malloc(sizeof *st.syms * (at ? at : 1));
    for (int w = 0; w < nw; w++)
        for (int k = 0; k < st.len[w]; k++) st.syms[st.off[w] + (size_t)k] = word[w][k];
    free(word);
    pm_init(&st.index, 1 << 18);
    for (int w = 0; w < nw; w++) add_word_pairs(&st, w, -1, -1, NULL, NULL);
    heap h = {0};
    for (int p = 0; p < st.n_pairs; p++) heap_push(&h, st.count[p], st.key[p]);

    int32_t(*merges)[2] = pq_malloc(sizeof *merges * (want ? want : 1));
    int n_merges = 0;
    ivec new_pairs = {0};
    pq_progress prog;
    if (show_progress) pq_progress_begin(&prog, "bpe merges", want, "merge");
    while (n_merges < want && h.n > 0) {
        heap_entry top = heap_pop(&h);
        int p = pm_get(&st.index, top.key);
        if (st.count[p] != top.count) {
            if (st.count[p] > 0) heap_push(&h, st.count[p], top.key); /* stale: requeue at its true count */
            continue;
        }
        if (top.count < 2) break; /* a pair seen once teaches nothing */
        int32_t a = (int32_t)(top.key >> 32), b = (int32_t)(top.key & 0xFFFFFFFFu);
        int32_t c = PQ_BPE_FIRST_MERGE + n_merges;
        merges[n_merges][0] = a;
        merges[n_merges][1] = b;
        new_pairs.n = 0;
        ivec words = st.where[p]; /* take the list: add_word_pairs must not append to it */
        memset(&st.where[p], 0, sizeof st.where[p]);
        for (int k = 0; k < words.n; k++) {
            int w = words.v[k];
            int32_t *s = st.syms + st.off[w];
            int L = st.len[w], has = 0;
            for (int i = 0; i + 1 < L; i++)
                if (s[i] == a && s[i + 1] == b) {
                    has = 1;
                    break;
                }
            if (!has) continue; /* a stale entry */
            for (int i = 0; i + 1 < L; i++) st.count[pair_index(&st, s[i], s[i + 1])] -= st.freq[w];
            int j = 0;
            for (int i = 0; i < L;) {
                if (i + 1 < L && s[i] == a && s[i + 1] == b) {
                    s[j++] = c;
                    i += 2;
                } else {
                    s[j++] = s[i++];
                }
            }
            st.len[w] = j;
            add_word_pairs(&st, w, c, n_merges, &h, &new_pairs);
        }
        free(words.v);
        for (int k = 0; k < new_pairs.n; k++) {
            int q = new_pairs.v[k];
            if (st.count[q] > 0) heap_push(&h, st.count[q], st.key[q]);
        }
        n_merges++;
        if (show_progress) pq_progress_update(&prog, n_merges, n_merges, "count %lld", (long long)top.count);
    }
    if (show_progress) pq_progress_end(&prog);
    free(new_pairs.v);
    free(h.e);
    for (int p = 0; p < st.n_pairs; p++) free(st.where[p].v);
    free(st.where);
    free(st.count);
    free(st.key);
    free(st.touched);
    pm_free(&st.index);
    free(st.freq);
    free(st.off);
    free(st.len);
    free(st.syms);
    pq_bpe_trainer_free(t);
    pq_bpe *bpe = pq_bpe_from_merges((const int32_t(*)[2])merges, n_merges);
    free(merges);
    return bpe;
}
