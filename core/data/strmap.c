#include "data/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"

typedef struct {
    uint8_t *key; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    int64_t value;
} slot;

struct pq_strmap {
    slot *slots;
    size_t cap, n; /* cap is a power of two */
};

/* FNV-1a with its high bits folded into the low ones that pick the slot. */
static uint64_t hash_key(const void *p, size_t n) {
    uint64_t h = pq_fnv1a64(p, n);
    return h ^ (h >> 29);
}

pq_strmap *pq_strmap_new(void) {
    pq_strmap *m = pq_calloc(1, sizeof *m);
    m->cap = 64;
    m->slots = pq_calloc(m->cap, sizeof *m->slots);
    return m;
}

void pq_strmap_clear(pq_strmap *m) {
    for (size_t i = 0; i < m->cap; i++) free(m->slots[i].key);
    memset(m->slots, 0, m->cap * sizeof *m->slots);
    m->n = 0;
}

void pq_strmap_free(pq_strmap *m) {
    if (!m) return;
    pq_strmap_clear(m);
    free(m->slots);
    free(m);
}

static slot *find(const pq_strmap *m, const uint8_t *key, size_t len, uint64_t h) {
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->len == len && !memcmp(s->key, key, len))) return s;
    }
}

static void grow(pq_strmap *m) {
    slot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap *= 2;
    m->slots = pq_calloc(m->cap, sizeof *m->slots);
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key) *find(m, old[i].key, old[i].len, old[i].hash) = old[i];
    free(old);
}

int pq_strmap_put(pq_strmap *m, const void *key, size_t len, int64_t value) {
    if (2 * (m->n + 1) > m->cap) grow(m);
    uint64_t h = hash_key(key, len);
    slot *s = find(m, key, len, h);
    if (s->key) {
        s->value = value;
        return 0;
    }
    s->key = pq_malloc(len ? len : 1);
    if (len) memcpy(s->key, key, len);
    s->len = len, s->hash = h, s->value = value;
    m->n++;
    return 1;
}

int pq_strmap_get(const pq_strmap *m, const void *key, size_t len, int64_t *value) {
    const slot *s = find(m, key, len, hash_key(key, len));
    if (!s->key) return 0;
    if (value) *value = s->value;
    return 1;
}

size_t pq_strmap_size(const pq_strmap *m) { return m->n; }
