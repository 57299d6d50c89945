/* strmap.h — a map from byte strings to int64 values (open addressing), for the
 * vocabularies and merge tables of the imported tokenizers (hf_bpe.c, spm.c).
 * Keys are copied; values are whatever the caller stores. */
#ifndef PQ_STRMAP_H
#define PQ_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pq_strmap pq_strmap;

pq_strmap *pq_strmap_new(void);
void pq_strmap_free(pq_strmap *m);
/* Sets key's value; returns 1 if the key was new, 0 if it was replaced. */
int pq_strmap_put(pq_strmap *m, const void *key, size_t len, int64_t value);
/* key's value in *value (if not NULL): 1, or 0 if absent. */
int pq_strmap_get(const pq_strmap *m, const void *key, size_t len, int64_t *value);
size_t pq_strmap_size(const pq_strmap *m);
/* Removes every key (keeps the table's memory). */
void pq_strmap_clear(pq_strmap *m);

#endif
