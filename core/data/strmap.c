/* strmap.c — byte string -> int64 map: linear probing over a power-of-two table,
 * the keys in one growing arena (no allocation per key: the BPE trainer holds
 * millions of them). */
#include "data/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    uint64_t h; /* 0: empty slot */
    size_t off, len; /* the key's bytes in the arena */
    int64_t value;
} slot;

struct pq_strmap {
    slot *slots;
    size_t cap, n; /* cap is a power of two */
    uint8_t *arena;
    size_t arena_n, arena_cap;
};

/* Eight bytes at a time (keys are mostly short words), never 0. */
static uint64_t hash_key(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    uint64_t w = 0;
    if (n > i) memcpy(&w, p + i, n - i);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h | 1; /* 0 marks an empty slot */
}

pq_strmap *pq_strmap_new_sized(size_t slots) {
    pq_strmap *m = pq_calloc(1, sizeof *m);
    m->cap = slots;
    m->slots = pq_calloc(m->cap, sizeof *m->slots);
    m->arena_cap = 4096;
    m->arena = pq_malloc(m->arena_cap);
    return m;
}

pq_strmap *pq_strmap_new(void) { return pq_strmap_new_sized(64); }

void pq_strmap_clear(pq_strmap *m) {
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->n = 0;
    m->arena_n = 0;
}

void pq_strmap_free(pq_strmap *m) {
    if (!m) return;
    free(m->slots);
    free(m->arena);
    free(m);
}

/* The slot holding key, or the empty slot where it would go. */
static slot *find(const pq_strmap *m, const uint8_t *key, size_t len, uint64_t h) {
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        slot *s = &m->slots[i];
        if (!s->h || (s->h == h && s->len == len && !memcmp(m->arena + s->off, key, len))) return s;
    }
}

static void grow(pq_strmap *m) {
    slot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap *= 2;
    m->slots = pq_calloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].h) continue;
        size_t j = old[i].h & (m->cap - 1);
        while (m->slots[j].h) j = (j + 1) & (m->cap - 1);
        m->slots[j] = old[i];
    }
    free(old);
}

int64_t *pq_strmap_upsert(pq_strmap *m, const void *key, size_t len, int *added) {
    uint64_t h = hash_key(key, len);
    slot *s = find(m, key, len, h);
    if (added) *added = !s->h;
    if (s->h) return &s->value;
    if (2 * (m->n + 1) > m->cap) { /* at most half full: probes stay short */
        grow(m);
        s = find(m, key, len, h);
    }
    if (m->arena_n + len > m->arena_cap) {
        m->arena_cap = PQ_MAX(2 * m->arena_cap, m->arena_n + len + 4096);
        m->arena = pq_realloc(m->arena, m->arena_cap);
    }
    if (len) memcpy(m->arena + m->arena_n, key, len);
    *s = (slot){.h = h, .off = m->arena_n, .len = len, .value = 0};
    m->arena_n += len;
    m->n++;
    return &s->value;
}

int pq_strmap_put(pq_strmap *m, const void *key, size_t len, int64_t value) {
    int added;
    *pq_strmap_upsert(m, key, len, &added) = value;
    return added;
}

int pq_strmap_get(const pq_strmap *m, const void *key, size_t len, int64_t *value) {
    const slot *s = find(m, key, len, hash_key(key, len));
    if (!s->h) return 0;
    if (value) *value = s->value;
    return 1;
}

size_t pq_strmap_size(const pq_strmap *m) { return m->n; }

int pq_strmap_next(const pq_strmap *m, size_t *pos, const uint8_t **key, size_t *len, int64_t *value) {
    while (*pos < m->cap && !m->slots[*pos].h) ++*pos;
    if (*pos >= m->cap) return 0;
    const slot *s = &m->slots[(*pos)++];
    *key = m->arena + s->off, *len = s->len, *value = s->value;
    return 1;
}
