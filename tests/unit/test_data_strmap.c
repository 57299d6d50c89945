/* The byte-string map (data/strmap.h) against a plain list: every operation of
 * the BPE trainer and encoder and of the imported tokenizers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "data/strmap.h"

Test(data_strmap, put_get_replace_and_binary_keys) {
    pq_strmap *m = pq_strmap_new();
    int64_t v = -1;
    cr_assert_eq(pq_strmap_get(m, "a", 1, &v), 0);
    cr_assert_eq(pq_strmap_put(m, "a", 1, 5), 1);
    cr_assert_eq(pq_strmap_put(m, "a\0b", 3, 6), 1); /* NUL inside a key */
    cr_assert_eq(pq_strmap_put(m, "", 0, 7), 1);     /* the empty key */
    cr_assert_eq(pq_strmap_put(m, "a", 1, 8), 0);    /* replaced */
    cr_assert_eq(pq_strmap_size(m), 3);
    cr_assert(pq_strmap_get(m, "a", 1, &v) && v == 8);
    cr_assert(pq_strmap_get(m, "a\0b", 3, &v) && v == 6);
    cr_assert(pq_strmap_get(m, "", 0, &v) && v == 7);
    cr_assert_eq(pq_strmap_get(m, "a\0", 2, NULL), 0);
    int added = -1;
    *pq_strmap_upsert(m, "a", 1, &added) += 2;
    cr_assert_eq(added, 0);
    int64_t *slot = pq_strmap_upsert(m, "new", 3, &added);
    cr_assert(added == 1 && *slot == 0);
    cr_assert(pq_strmap_get(m, "a", 1, &v) && v == 10);
    pq_strmap_clear(m);
    cr_assert_eq(pq_strmap_size(m), 0);
    cr_assert_eq(pq_strmap_get(m, "a", 1, NULL), 0);
    cr_assert_eq(pq_strmap_put(m, "a", 1, 1), 1);
    pq_strmap_free(m);
}

/* Many keys of many lengths (past several doublings of the table and the arena):
 * each found with its value, and the walk gives each exactly once. */
Test(data_strmap, grows_and_walks_every_key_once) {
    pq_strmap *m = pq_strmap_new_sized(2);
    enum { N = 20000 };
    char key[64];
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "%0*d", 1 + i % 40, i);
        cr_assert_eq(pq_strmap_put(m, key, (size_t)n, i), 1);
    }
    cr_assert_eq(pq_strmap_size(m), N);
    static char seen[N];
    memset(seen, 0, sizeof seen);
    size_t pos = 0, len;
    const uint8_t *k;
    int64_t v;
    int walked = 0;
    while (pq_strmap_next(m, &pos, &k, &len, &v)) {
        cr_assert(v >= 0 && v < N && !seen[v]);
        int n = snprintf(key, sizeof key, "%0*d", 1 + (int)v % 40, (int)v);
        cr_assert(len == (size_t)n && !memcmp(k, key, len), "key of value %lld", (long long)v);
        seen[v] = 1, walked++;
    }
    cr_assert_eq(walked, N);
    for (int i = 0; i < N; i += 97) {
        int n = snprintf(key, sizeof key, "%0*d", 1 + i % 40, i);
        cr_assert(pq_strmap_get(m, key, (size_t)n, &v) && v == i);
    }
    pq_strmap_free(m);
}
