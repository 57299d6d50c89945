/* strmap.h — a map from byte strings to int64 values (open addressing, keys
 * copied into one arena): the word counts and chunk cache of the BPE trainer and
 * encoder (bpe.c), and the vocabularies, merge tables and caches of the imported
 * tokenizers (hf_bpe.c, spm.c). Values are whatever the caller stores.
 *
 * The slot order that pq_strmap_next walks is a function of the keys and the
 * order they were inserted in (and the initial size), the same on every machine. */
#ifndef PQ_STRMAP_H
#define PQ_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pq_strmap pq_strmap;

pq_strmap *pq_strmap_new(void);
/* The same with `slots` slots to start with (a power of two, at least 2): about
 * slots / 2 keys fit before the table first doubles. */
pq_strmap *pq_strmap_new_sized(size_t slots);
void pq_strmap_free(pq_strmap *m);
/* Sets key's value; returns 1 if the key was new, 0 if it was replaced. */
int pq_strmap_put(pq_strmap *m, const void *key, size_t len, int64_t value);
/* key's value, inserted as 0 if absent (then *added = 1, else 0; added may be
 * NULL). The pointer is valid until the next insertion or clear. */
int64_t *pq_strmap_upsert(pq_strmap *m, const void *key, size_t len, int *added);
/* key's value in *value (if not NULL): 1, or 0 if absent. */
int pq_strmap_get(const pq_strmap *m, const void *key, size_t len, int64_t *value);
size_t pq_strmap_size(const pq_strmap *m);
/* Removes every key (keeps the table's memory). */
void pq_strmap_clear(pq_strmap *m);
/* Walks the entries in slot order: start with *pos = 0; each call gives the next
 * entry (its key stays valid until the next insertion or clear) and returns 1,
 * or 0 after the last. */
int pq_strmap_next(const pq_strmap *m, size_t *pos, const uint8_t **key, size_t *len, int64_t *value);

#endif
