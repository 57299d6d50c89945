/* tasks_leak.c — 13-gram hash set over training text and the leak check (see tasks_leak.h). */
#include "data/tasks_leak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"
#include "data/shards.h"

static int is_word_byte(uint8_t c) {
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

/* Word spans of text: starts[i], lens[i]. Returns the count; arrays grow as needed. */
typedef struct {
    size_t *start, *len;
    uint64_t *hash;
    size_t n, cap;
} words;

static void split_words(const char *text, size_t n, words *w) {
    const uint8_t *t = (const uint8_t *)text;
    w->n = 0;
    for (size_t i = 0; i < n;) {
        if (!is_word_byte(t[i])) {
            i++;
            continue;
        }
        size_t j = i;
        uint64_t h = 0xcbf29ce484222325ull;
        while (j < n && is_word_byte(t[j])) {
            uint8_t c = t[j] < 0x80 ? (uint8_t)(t[j] | ((t[j] >= 'A' && t[j] <= 'Z') ? 32 : 0)) : t[j];
            h = (h ^ c) * 0x100000001b3ull;
            j++;
        }
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 256;
            w->start = pq_realloc(w->start, sizeof *w->start * w->cap);
            w->len = pq_realloc(w->len, sizeof *w->len * w->cap);
            w->hash = pq_realloc(w->hash, sizeof *w->hash * w->cap);
        }
        w->start[w->n] = i;
        w->len[w->n] = j - i;
        w->hash[w->n] = h;
        w->n++;
        i = j;
    }
}

static void words_free(words *w) {
    free(w->start);
    free(w->len);
    free(w->hash);
}

static uint64_t window_hash(const uint64_t *wh) {
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int k = 0; k < PQ_LEAK_NGRAM; k++) {
        h = (h ^ wh[k]) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 31;
    }
    return h;
}

pq_ngram_set *pq_ngram_set_new(void) { return pq_calloc(1, sizeof(pq_ngram_set)); }

void pq_ngram_set_free(pq_ngram_set *s) {
    if (!s) return;
    free(s->h);
    free(s);
}

void pq_ngram_set_add(pq_ngram_set *s, const char *text, size_t n) {
    words w = {0};
    split_words(text, n, &w);
    s->words += w.n;
    for (size_t i = 0; i + PQ_LEAK_NGRAM <= w.n; i++) {
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 1 << 16;
            s->h = pq_realloc(s->h, sizeof *s->h * s->cap);
        }
        s->h[s->n++] = window_hash(w.hash + i);
    }
    words_free(&w);
    s->finished = 0;
}

/* LSD radix sort, 16 bits per pass: 20M hashes sort in well under a second. */
static void radix_sort(uint64_t *a, size_t n) {
    uint64_t *tmp = pq_malloc(sizeof *tmp * (n ? n : 1));
    size_t *count = pq_malloc(sizeof *count * 65536);
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, sizeof *count * 65536);
        for (size_t i = 0; i < n; i++) count[(a[i] >> shift) & 0xFFFF]++;
        size_t sum = 0;
        for (size_t b = 0; b < 65536; b++) {
            size_t c = count[b];
            count[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) tmp[count[(a[i] >> shift) & 0xFFFF]++] = a[i];
        memcpy(a, tmp, sizeof *a * n);
    }
    free(tmp);
    free(count);
}

void pq_ngram_set_finish(pq_ngram_set *s) {
    radix_sort(s->h, s->n);
    size_t j = 0;
    for (size_t i = 0; i < s->n; i++)
        if (j == 0 || s->h[i] != s->h[j - 1]) s->h[j++] = s->h[i];
    s->n = j;
    s->finished = 1;
}

static int contains(const pq_ngram_set *s, uint64_t h) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->h[mid] < h) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->n && s->h[lo] == h;
}

int pq_ngram_set_hit(const pq_ngram_set *s, const char *text, size_t n, char *window, size_t window_cap) {
    if (!s->finished) pq_die("pq_ngram_set_hit before pq_ngram_set_finish");
    words w = {0};
    split_words(text, n, &w);
    int hit = 0;
    for (size_t i = 0; i + PQ_LEAK_NGRAM <= w.n && !hit; i++) {
        if (!contains(s, window_hash(w.hash + i))) continue;
        hit = 1;
        if (window && window_cap) {
            size_t o = 0;
            for (int k = 0; k < PQ_LEAK_NGRAM; k++) {
                size_t l = w.len[i + k];
                if (o + l + 2 > window_cap) break;
                if (k) window[o++] = ' ';
                memcpy(window + o, text + w.start[i + k], l);
                o += l;
            }
            window[o] = 0;
        }
    }
    words_free(&w);
    return hit;
}

pq_ngram_set *pq_ngram_set_from_shards(const char *shard_dir, const pq_bpe *bpe) {
    pq_shard_set *set = pq_shard_set_open(shard_dir, "train");
    if (!set) return NULL;
    if (set->vocab_size != (uint32_t)pq_bpe_vocab_size(bpe) || strcmp(set->vocab_hash, pq_bpe_hash(bpe)) != 0) {
        pq_fail("%s: train shards were made by tokenizer %.12s, not %.12s", shard_dir, set->vocab_hash, pq_bpe_hash(bpe));
        pq_shard_set_close(set);
        return NULL;
    }
    pq_ngram_set *s = pq_ngram_set_new();
    int32_t *doc = NULL;
    size_t cap = 0;
    for (int k = 0; k < set->n_shards; k++) {
        const pq_shard *sh = set->shards[k];
        uint64_t i = 0;
        while (i < sh->n_tokens) {
            uint64_t j = i + 1; /* a document runs from one BOS to the next */
            while (j < sh->n_tokens && pq_shard_token(sh, j) != PQ_BPE_BOS) j++;
            if (j - i > cap) doc = pq_realloc(doc, sizeof *doc * (cap = (size_t)(j - i)));
            pq_shard_read(sh, i, j - i, doc);
            size_t len;
            char *text = pq_bpe_decode(bpe, doc, (size_t)(j - i), &len);
            if (!text) {
                pq_fail_prefix("%s", sh->path);
                free(doc);
                pq_ngram_set_free(s);
                pq_shard_set_close(set);
                return NULL;
            }
            pq_ngram_set_add(s, text, len);
            free(text);
            i = j;
        }
    }
    free(doc);
    pq_shard_set_close(set);
    pq_ngram_set_finish(s);
    return s;
}

int pq_task_check_leaks(const pq_task *task, const pq_ngram_set *s) {
    for (int i = 0; i < task->n_items; i++) {
        char *g = pq_task_item_gold_text(task, &task->items[i]);
        char window[1024];
        int hit = pq_ngram_set_hit(s, g, strlen(g), window, sizeof window);
        free(g);
        if (hit)
            return pq_fail("%s:%d: 13-word window \"%s\" of the context + gold answer appears in the training shards",
                           task->path && task->path[0] ? task->path : task->name, task->items[i].line, window);
    }
    return 0;
}
