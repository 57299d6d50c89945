/* split.c — the held-out rules, fixed before anything is trained.
 *
 * Every rule is a pure function of the document (its book, novel, or the
 * FNV-1a 64 hash of its text or id), so the split never depends on order,
 * machine or seed. The held-out part feeds the zero-shot tasks and is kept out
 * of tokenizer training and pretraining alike. README "## Data sources" lists
 * the same rules; change both together (and bump PQ_CORPUS_FORMAT). */
#include "data/sources/source.h"

#include <stdio.h>
#include <string.h>

#include "base/hash.h"

int pq_split_bible_book_heldout(const char *osis_book) {
    static const char *books[] = {"Ruth", "Jonah", "Phil", "Jas"};
    for (size_t i = 0; i < sizeof books / sizeof books[0]; i++)
        if (!strcmp(osis_book, books[i])) return 1;
    return 0;
}

int pq_split_austen_heldout(const char *novel) { return !strcmp(novel, "persuasion"); }

int pq_split_fortune_heldout(const char *text, size_t n) { return pq_fnv1a64(text, n) % 100 < 2; }

int pq_split_gcide_heldout(const char *text, size_t n) { return pq_fnv1a64(text, n) % 100 < 1; }

int pq_split_wordnet_heldout(char pos_file, uint32_t offset, int has_gloss) {
    if (pos_file != 'n' || !has_gloss) return 0;
    char id[16];
    int k = snprintf(id, sizeof id, "n:%08u", offset);
    return pq_fnv1a64(id, (size_t)k) % 10 == 0;
}
