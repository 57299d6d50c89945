/* tasks_build.c — constructing the built-in zero-shot tasks (rules in tasks_build.h). */
#include "data/tasks_build.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/hash.h"
#include "base/rng.h"
#include "base/util.h"
#include "data/mixture.h"
#include "data/tasks.h"

const char *const pq_builtin_tasks[] = {"wordnet_def", "wordnet_hypernym", "cloze", "next_sentence",
                                        "sentence_order", "heldout_ppl", NULL};

/* ================================================================ small helpers */

static char *str_ndup(const char *s, size_t n) {
    char *d = pq_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static char *str_cat3(const char *a, const char *sep, const char *b) {
    size_t na = strlen(a), ns = strlen(sep), nb = strlen(b);
    char *s = pq_malloc(na + ns + nb + 1);
    memcpy(s, a, na);
    memcpy(s + na, sep, ns);
    memcpy(s + na + ns, b, nb + 1);
    return s;
}

static int count_words(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        int sp = *s == ' ' || *s == '\t' || *s == '\n';
        if (!sp && !in) n++;
        in = !sp;
    }
    return n;
}

static uint64_t key_hash(const char *task, const char *id, long pos) {
    char buf[1024];
    int k = snprintf(buf, sizeof buf, "%s|%s|%ld", task, id, pos);
    return pq_fnv1a64(buf, (size_t)PQ_MIN(k, (int)sizeof buf - 1));
}

/* A set of 64-bit hashes (open addressing) for duplicate gold texts. */
typedef struct {
    uint64_t *k;
    size_t cap, n;
} hset;

static int hset_add(hset *s, uint64_t h) { /* 1 if newly added */
    h |= 1;
    if (2 * (s->n + 1) > s->cap) {
        hset big = {pq_calloc(s->cap ? 2 * s->cap : 1024, sizeof(uint64_t)), s->cap ? 2 * s->cap : 1024, 0};
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i]) hset_add(&big, s->k[i]);
        free(s->k);
        *s = big;
    }
    size_t j = (h * 0x9E3779B97F4A7C15ull) >> 20 & (s->cap - 1);
    while (s->k[j]) {
        if (s->k[j] == h) return 0;
        j = (j + 1) & (s->cap - 1);
    }
    s->k[j] = h;
    s->n++;
    return 1;
}

/* ================================================================ sentences */

static int is_abbreviation(const char *t, size_t dot) {
    static const char *abbr[] = {"Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Capt", "Col", "Gen", "Lt", "Sgt", "Rev",
                                 "Hon", "Prof", "vs", "etc", "viz", "cf", "i.e", "e.g", "No", "Mt", "Messrs", "ch", "vol"};
    size_t b = dot;
    while (b > 0 && (isalpha((unsigned char)t[b - 1]) || t[b - 1] == '.')) b--;
    size_t len = dot - b;
    if (len == 1 && isupper((unsigned char)t[b])) return 1; /* an initial: "J. Smith" */
    for (size_t k = 0; k < PQ_COUNT(abbr); k++)
        if (strlen(abbr[k]) == len && memcmp(t + b, abbr[k], len) == 0) return 1;
    return 0;
}

/* Bytes of a closing quote/bracket at t[i] (ASCII or ’ ”), else 0. */
static int closer(const char *t, size_t n, size_t i) {
    if (t[i] == '"' || t[i] == '\'' || t[i] == ')' || t[i] == ']') return 1;
    if (i + 2 < n + 0 && (uint8_t)t[i] == 0xE2 && (uint8_t)t[i + 1] == 0x80 && ((uint8_t)t[i + 2] == 0x99 || (uint8_t)t[i + 2] == 0x9D))
        return 3;
    return 0;
}

/* True if a sentence may start at t[i]: an uppercase letter, a digit or an opening quote. */
static int opener(const char *t, size_t n, size_t i) {
    uint8_t c = (uint8_t)t[i];
    if (isupper(c) || isdigit(c) || c == '"' || c == '\'' || c == '(') return 1;
    return i + 2 < n && c == 0xE2 && (uint8_t)t[i + 1] == 0x80 && ((uint8_t)t[i + 2] == 0x9C || (uint8_t)t[i + 2] == 0x98);
}

static void emit_trimmed(const char *s, size_t n, pq_sentence_fn fn, void *ctx) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n) fn(ctx, s, n);
}

void pq_split_sentences(const char *text, size_t n, pq_sentence_fn fn, void *ctx) {
    /* collapse whitespace inside paragraphs so sentences are single-spaced */
    char *t = pq_malloc(n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (c == '\n') {
            while (m && t[m - 1] == ' ') m--;
            if (m && t[m - 1] != '\n') t[m++] = '\n';
        } else if (c == ' ' || c == '\t' || c == '\r') {
            if (m && t[m - 1] != ' ' && t[m - 1] != '\n') t[m++] = ' ';
        } else {
            t[m++] = c;
        }
    }
    size_t start = 0;
    for (size_t i = 0; i < m; i++) {
        if (t[i] == '\n') {
            emit_trimmed(t + start, i - start, fn, ctx);
            start = i + 1;
            continue;
        }
        if (t[i] != '.' && t[i] != '!' && t[i] != '?') continue;
        size_t j = i + 1;
        while (j < m && (t[j] == '.' || t[j] == '!' || t[j] == '?')) j++;
        int c;
        while (j < m && (c = closer(t, m, j)) > 0) j += (size_t)c;
        if (j >= m || t[j] == '\n') continue; /* the paragraph end will cut */
        if (t[j] != ' ' || j + 1 >= m || !opener(t, m, j + 1)) continue;
        if (t[i] == '.' && is_abbreviation(t, i)) continue;
        emit_trimmed(t + start, j - start, fn, ctx);
        start = j + 1;
        i = j;
    }
    emit_trimmed(t + start, m - start, fn, ctx);
    free(t);
}

/* ================================================================ prose */

typedef struct {
    char *text;
    int words, len;
    int doc;    /* index into prose.docs */
    int index;  /* position in its document */
} sentence;

typedef struct {
    char *id;
    int source;
    int first, n; /* its sentences: sents[first .. first+n) */
    char *text;
    size_t len;
} prose_doc;

typedef struct {
    int n_sources;
    char **source_names;
    prose_doc *docs;
    int n_docs, cap_docs;
    sentence *sents;
    int n_sents, cap_sents;
    /* per source: usable sentences sorted by length (distractor pools) */
    int **pool;
    int *pool_n;
} prose;

static void add_sentence(void *ctx, const char *s, size_t n) {
    prose *p = ctx;
    if (p->n_sents == p->cap_sents) p->sents = pq_realloc(p->sents, sizeof *p->sents * (p->cap_sents = p->cap_sents ? 2 * p->cap_sents : 4096));
    sentence *x = &p->sents[p->n_sents++];
    x->text = str_ndup(s, n);
    x->words = count_words(x->text);
    x->len = (int)n;
    x->doc = p->n_docs - 1;
    x->index = p->docs[p->n_docs - 1].n++;
}

/* A sentence that can be an answer: 5-40 words, starts like a sentence, has lowercase letters. */
static int usable(const sentence *s) {
    if (s->words < 4 || s->words > 40 || s->len > PQ_TASK_MAX_CHOICE_BYTES) return 0;
    if (!opener(s->text, (size_t)s->len, 0)) return 0;
    int lower = 0;
    for (const char *c = s->text; *c; c++) lower += islower((unsigned char)*c) != 0;
    return lower >= 10;
}

static const prose *sort_ctx;
static int cmp_sent_len(const void *a, const void *b) {
    const sentence *x = &sort_ctx->sents[*(const int *)a], *y = &sort_ctx->sents[*(const int *)b];
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static int is_prose_source(const char *name) { return strcmp(name, "gcide") != 0 && strcmp(name, "wordnet") != 0; }

static int load_prose(const char *corpus_dir, prose *p) {
    int ns;
    char **names = pq_corpus_sources(corpus_dir, &ns);
    if (!names) return -1;
    memset(p, 0, sizeof *p);
    p->source_names = pq_calloc(ns, sizeof *p->source_names);
    for (int s = 0; s < ns; s++) {
        if (!is_prose_source(names[s])) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.heldout.jsonl", corpus_dir, names[s]);
        if (!pq_file_exists(path)) continue;
        pq_corpus_file *df = pq_docs_load(path);
        if (!df) {
            pq_corpus_sources_free(names, ns);
            return -1;
        }
        int src = p->n_sources++;
        p->source_names[src] = pq_strdup(names[s]);
        for (int d = 0; d < df->n_docs; d++) {
            if (p->n_docs == p->cap_docs) p->docs = pq_realloc(p->docs, sizeof *p->docs * (p->cap_docs = p->cap_docs ? 2 * p->cap_docs : 256));
            prose_doc *pd = &p->docs[p->n_docs++];
            pd->id = df->docs[d].id;
            pd->text = df->docs[d].text;
            pd->len = df->docs[d].len;
            df->docs[d].id = df->docs[d].text = NULL;
            pd->source = src;
            pd->first = p->n_sents;
            pd->n = 0;
            pq_split_sentences(pd->text, pd->len, add_sentence, p);
        }
        pq_docs_free(df);
    }
    pq_corpus_sources_free(names, ns);
    p->pool = pq_calloc(p->n_sources ? p->n_sources : 1, sizeof *p->pool);
    p->pool_n = pq_calloc(p->n_sources ? p->n_sources : 1, sizeof *p->pool_n);
    for (int i = 0; i < p->n_sents; i++) {
        if (!usable(&p->sents[i])) continue;
        int s = p->docs[p->sents[i].doc].source;
        if ((p->pool_n[s] & (p->pool_n[s] - 1)) == 0) p->pool[s] = pq_realloc(p->pool[s], sizeof(int) * (p->pool_n[s] ? 2 * p->pool_n[s] : 1));
        p->pool[s][p->pool_n[s]++] = i;
    }
    sort_ctx = p;
    for (int s = 0; s < p->n_sources; s++)
        if (p->pool_n[s]) qsort(p->pool[s], p->pool_n[s], sizeof(int), cmp_sent_len);
    sort_ctx = NULL;
    return 0;
}

static void free_prose(prose *p) {
    for (int i = 0; i < p->n_sents; i++) free(p->sents[i].text);
    for (int i = 0; i < p->n_docs; i++) free(p->docs[i].id), free(p->docs[i].text);
    for (int s = 0; s < p->n_sources; s++) free(p->pool[s]), free(p->source_names[s]);
    free(p->sents), free(p->docs), free(p->pool), free(p->pool_n), free(p->source_names);
}

/* ================================================================ item assembly */

typedef struct {
    const char *name;
    pq_task *task;
    const pq_ngram_set *train;
    uint64_t seed;
    hset golds;
    long candidates, skipped_leak, skipped_dup, skipped_no_distractors;
} builder;

typedef struct {
    uint64_t key;
    int a, b; /* candidate coordinates (meaning depends on the task) */
} candidate;

static int cmp_candidate(const void *x, const void *y) {
    const candidate *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    if (a->a != b->a) return a->a - b->a;
    return a->b - b->b;
}

/* Accepts an item if its context + gold text is new and leak-free. gold_first:
 * choices[0] is the right one; the order is shuffled by the item's RNG. */
static int try_add(builder *bl, uint64_t key, const char *id, const char *context, int n_choices, char **choices) {
    bl->candidates++;
    char *gold_text = str_cat3(context, " ", choices[0]);
    uint64_t gh = pq_fnv1a64(gold_text, strlen(gold_text));
    int leak = pq_ngram_set_hit(bl->train, gold_text, strlen(gold_text), NULL, 0);
    free(gold_text);
    if (leak) {
        bl->skipped_leak++;
        return 0;
    }
    if (!hset_add(&bl->golds, gh)) {
        bl->skipped_dup++;
        return 0;
    }
    uint32_t perm[8];
    pq_rng_permutation(bl->seed, pq_rng_stream_id(bl->name, key), perm, (uint32_t)n_choices);
    const char *shuffled[8];
    int gold = 0;
    for (int i = 0; i < n_choices; i++) {
        shuffled[i] = choices[perm[i]];
        if (perm[i] == 0) gold = i;
    }
    pq_task_add(bl->task, id, 1, (const char *const[]){context}, n_choices, shuffled, gold);
    return 1;
}

/* Distractors matched in length, with the gold answer's length rank uniform.
 * The pool is sorted by length; positions [lo, hi) have the gold's length L.
 * A seeded split point inside that run and a seeded count `below` (0..want)
 * decide how many distractors come from just below the split (not longer than
 * the gold) and how many from just above (not shorter), so "pick the longest"
 * or "pick the median length" scores chance. Candidates are drawn from growing
 * windows next to the split, within `slack` characters of L. */
typedef struct {
    int n, L, slack;
    int (*len_at)(const void *ctx, int k);
    int (*accept)(const void *ctx, int k, const int *picked, int n_picked);
    const void *ctx;
} pick_spec;

static int pick_matched(const pick_spec *ps, pq_rng *r, int want, int *out) {
    int lo = 0, hi = ps->n;
    while (lo < hi) { /* lower bound of L */
        int mid = (lo + hi) / 2;
        if (ps->len_at(ps->ctx, mid) < ps->L) lo = mid + 1;
        else hi = mid;
    }
    int end = lo;
    while (end < ps->n && ps->len_at(ps->ctx, end) == ps->L) end++;
    int split = lo + (int)pq_rng_next_below(r, (uint64_t)(end - lo + 1));
    int below = (int)pq_rng_next_below(r, (uint64_t)want + 1), found = 0;
    for (int pass = 0; pass < 2 && found < want; pass++) /* pass 1 fills what one side lacked */
        for (int side = 0; side < 2; side++) {
            int quota = pass ? want - found : side == 0 ? below : want - below, got = 0;
            for (int radius = 8; radius <= 4096 && got < quota; radius *= 4)
                for (int tries = 0; tries < 48 && got < quota; tries++) {
                    int off = (int)pq_rng_next_below(r, (uint64_t)radius);
                    int k = side == 0 ? split - 1 - off : split + off;
                    if (k < 0 || k >= ps->n || abs(ps->len_at(ps->ctx, k) - ps->L) > ps->slack) continue;
                    if (!ps->accept(ps->ctx, k, out, found)) continue;
                    out[found++] = k;
                    got++;
                }
        }
    return found;
}

typedef int (*sent_ok_fn)(const prose *p, int cand, int target);

typedef struct {
    const prose *p;
    const int *pool;
    int target;
    sent_ok_fn ok;
} sent_pick;

static int sent_len_at(const void *ctx, int k) {
    const sent_pick *c = ctx;
    return c->p->sents[c->pool[k]].len;
}

static int sent_accept(const void *ctx, int k, const int *picked, int n_picked) {
    const sent_pick *c = ctx;
    int cand = c->pool[k];
    const char *text = c->p->sents[cand].text;
    if (!c->ok(c->p, cand, c->target) || !strcmp(text, c->p->sents[c->target].text)) return 0;
    for (int f = 0; f < n_picked; f++)
        if (picked[f] == k || !strcmp(c->p->sents[c->pool[picked[f]]].text, text)) return 0;
    return 1;
}

/* Up to 3 distractor sentences from pool (sorted by length) matched in length to
 * target and accepted by ok(); out receives sentence indices. */
static int near_length(const prose *p, const int *pool, int pool_n, int target, sent_ok_fn ok, pq_rng *r, int *out) {
    sent_pick c = {p, pool, target, ok};
    int L = p->sents[target].len;
    pick_spec ps = {pool_n, L, PQ_MAX(12, L / 4), sent_len_at, sent_accept, &c};
    int found = pick_matched(&ps, r, 3, out);
    for (int f = 0; f < found; f++) out[f] = pool[out[f]];
    return found;
}

/* A distractor must come from another document or at least 4 sentences away. */
static int far_enough(const prose *p, int cand, int target) {
    const sentence *c = &p->sents[cand], *t = &p->sents[target];
    return c->doc != t->doc || abs(c->index - t->index) > 3;
}

/* ================================================================ prose tasks */

static void build_next_sentence(builder *bl, const prose *p) {
    int nc = 0;
    candidate *cands = pq_malloc(sizeof *cands * (p->n_sents ? p->n_sents : 1));
    for (int d = 0; d < p->n_docs; d++)
        for (int i = 2; i < p->docs[d].n; i++) {
            int si = p->docs[d].first + i;
            if (!usable(&p->sents[si]) || p->sents[si - 1].words + p->sents[si - 2].words < 8) continue;
            cands[nc++] = (candidate){key_hash(bl->name, p->docs[d].id, i), d, si};
        }
    qsort(cands, nc, sizeof *cands, cmp_candidate);
    for (int k = 0; k < nc && bl->task->n_items < PQ_TASK_MAX_ITEMS; k++) {
        int si = cands[k].b, src = p->docs[cands[k].a].source;
        pq_rng r = pq_rng_make(bl->seed, pq_rng_stream_id("tasks/next_sentence/distractors", cands[k].key));
        int dis[3];
        if (near_length(p, p->pool[src], p->pool_n[src], si, far_enough, &r, dis) < 3) {
            bl->skipped_no_distractors++;
            continue;
        }
        char *context = str_cat3(p->sents[si - 2].text, " ", p->sents[si - 1].text);
        char *choices[4] = {p->sents[si].text, p->sents[dis[0]].text, p->sents[dis[1]].text, p->sents[dis[2]].text};
        char id[512];
        snprintf(id, sizeof id, "%s#%d", p->docs[cands[k].a].id, p->sents[si].index);
        try_add(bl, cands[k].key, id, context, 4, choices);
        free(context);
    }
    free(cands);
}

static void build_sentence_order(builder *bl, const prose *p) {
    int nc = 0;
    candidate *cands = pq_malloc(sizeof *cands * (p->n_sents ? p->n_sents : 1));
    for (int d = 0; d < p->n_docs; d++)
        for (int i = 1; i + 1 < p->docs[d].n; i++) {
            int si = p->docs[d].first + i;
            if (p->sents[si - 1].words < 4 || !usable(&p->sents[si]) || !usable(&p->sents[si + 1])) continue;
            if (p->sents[si].len + 1 + p->sents[si + 1].len > PQ_TASK_MAX_CHOICE_BYTES) continue;
            if (!strcmp(p->sents[si].text, p->sents[si + 1].text)) continue;
            cands[nc++] = (candidate){key_hash(bl->name, p->docs[d].id, i), d, si};
        }
    qsort(cands, nc, sizeof *cands, cmp_candidate);
    for (int k = 0; k < nc && bl->task->n_items < PQ_TASK_MAX_ITEMS; k++) {
        int si = cands[k].b;
        char *right = str_cat3(p->sents[si].text, " ", p->sents[si + 1].text);
        char *swapped = str_cat3(p->sents[si + 1].text, " ", p->sents[si].text);
        char *choices[2] = {right, swapped};
        char id[512];
        snprintf(id, sizeof id, "%s#%d", p->docs[cands[k].a].id, p->sents[si].index);
        try_add(bl, cands[k].key, id, p->sents[si - 1].text, 2, choices);
        free(right);
        free(swapped);
    }
    free(cands);
}

static int is_stopword(const char *w, size_t n) {
    static const char *stop[] = {
        "the", "and", "of", "to", "a", "in", "that", "is", "was", "he", "she", "it", "his", "her", "for", "with",
        "as", "had", "not", "be", "but", "you", "i", "at", "by", "on", "have", "this", "they", "which", "all",
        "were", "him", "so", "my", "me", "from", "or", "an", "we", "are", "no", "would", "could", "there",
        "their", "them", "been", "will", "said", "what", "when", "one", "if", "do", "very", "than", "more",
        "then", "any", "should", "into", "out", "some", "such", "only", "must", "may", "upon", "shall", "unto",
        "thou", "thee", "thy", "ye", "your", "our", "us", "who", "its", "can", "did", "does", "these", "those",
        "now", "how", "am", "has", "much", "own", "too", "being", "every", "other", "nor", "yet", "hath", "also"};
    char low[32];
    if (n >= sizeof low) return 0;
    for (size_t i = 0; i < n; i++) low[i] = (char)tolower((unsigned char)w[i]);
    low[n] = 0;
    for (size_t k = 0; k < PQ_COUNT(stop); k++)
        if (!strcmp(low, stop[k])) return 1;
    return 0;
}

static int word_eq_ci(const char *a, size_t na, const char *b, size_t nb) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i])) return 0;
    return 1;
}

typedef struct {
    const char *w;
    int n, diff; /* length, |length - target length| */
    uint64_t r;  /* seeded tie-break */
} cloze_word;

static int cmp_cloze(const void *x, const void *y) {
    const cloze_word *a = x, *b = y;
    if (a->diff != b->diff) return a->diff - b->diff;
    return a->r < b->r ? -1 : a->r > b->r;
}

/* One cloze item from the passage sentences [j, i] of a document, the last one cut
 * after its first `cut` bytes (a sentence or clause end). 1 if an item was added. */
static int cloze_item(builder *bl, const prose *p, const candidate *c, int j, int i, size_t cut) {
    size_t total = 0;
    for (int k = j; k <= i; k++) total += (size_t)p->sents[k].len + 1;
    char *passage = pq_malloc(total + 1);
    size_t m = 0;
    for (int k = j; k <= i; k++) {
        if (k > j) passage[m++] = ' ';
        size_t len = k == i ? cut : (size_t)p->sents[k].len;
        memcpy(passage + m, p->sents[k].text, len);
        m += len;
    }
    passage[m] = 0;
    /* the target: the last word, trailing punctuation dropped, letters only */
    size_t e = m;
    while (e > 0 && !isalpha((unsigned char)passage[e - 1])) e--;
    size_t b = e;
    while (b > 0 && isalpha((unsigned char)passage[b - 1])) b--;
    size_t tl = e - b;
    if (tl < 3 || tl > 20 || b == 0 || passage[b - 1] != ' ' || is_stopword(passage + b, tl)) {
        free(passage);
        return 0;
    }
    int upper = isupper((unsigned char)passage[b]) != 0;
    /* words of the context: the target must occur there; distractors come from there */
    cloze_word *cw = NULL;
    int ncw = 0, seen_target = 0;
    pq_rng r = pq_rng_make(bl->seed, pq_rng_stream_id("tasks/cloze/distractors", c->key));
    for (size_t x = 0; x < b;) {
        if (!isalpha((unsigned char)passage[x])) {
            x++;
            continue;
        }
        size_t y = x;
        while (y < b && isalpha((unsigned char)passage[y])) y++;
        size_t n = y - x;
        int whole = (x == 0 || !(passage[x - 1] & 0x80)) && (y >= b || !(passage[y] & 0x80));
        /* a capitalized word right after a sentence end is no proper noun: no distractor */
        int starts = x < 2 || passage[x - 1] != ' ' || strchr(".!?:;\"'", passage[x - 2]) || (passage[x - 2] & 0x80);
        if (whole && word_eq_ci(passage + x, n, passage + b, tl)) seen_target = 1;
        else if (upper && starts) {
        }
        else if (whole && n >= 3 && n <= 20 && !is_stopword(passage + x, n) && (isupper((unsigned char)passage[x]) != 0) == upper) {
            int dup = 0;
            for (int k = 0; k < ncw && !dup; k++) dup = word_eq_ci(cw[k].w, (size_t)cw[k].n, passage + x, n);
            if (!dup) {
                if ((ncw & (ncw - 1)) == 0) cw = pq_realloc(cw, sizeof *cw * (ncw ? 2 * ncw : 1));
                cw[ncw++] = (cloze_word){passage + x, (int)n, 0, 0};
            }
        }
        x = y;
    }
    if (!seen_target || ncw < 3) {
        if (seen_target) bl->skipped_no_distractors++;
        free(cw);
        free(passage);
        return 0;
    }
    /* nearest lengths first, ties in seeded random order */
    for (int k = 0; k < ncw; k++) {
        cw[k].diff = abs(cw[k].n - (int)tl);
        cw[k].r = pq_rng_next_u64(&r);
    }
    qsort(cw, ncw, sizeof *cw, cmp_cloze);
    char *choices[4];
    choices[0] = str_ndup(passage + b, tl);
    for (int k = 0; k < 3; k++) choices[k + 1] = str_ndup(cw[k].w, (size_t)cw[k].n);
    passage[b - 1] = 0; /* the context ends before the target's space */
    char id[512];
    snprintf(id, sizeof id, "%s#%d", p->docs[c->a].id, p->sents[i].index);
    int added = try_add(bl, c->key, id, passage, 4, choices);
    for (int k = 0; k < 4; k++) free(choices[k]);
    free(cw);
    free(passage);
    return added;
}

static void build_cloze(builder *bl, const prose *p) {
    int nc = 0;
    candidate *cands = pq_malloc(sizeof *cands * (p->n_sents ? p->n_sents : 1));
    for (int d = 0; d < p->n_docs; d++)
        for (int i = 0; i < p->docs[d].n; i++) {
            int si = p->docs[d].first + i;
            if (p->sents[si].words < 4) continue;
            cands[nc++] = (candidate){key_hash(bl->name, p->docs[d].id, i), d, si};
        }
    qsort(cands, nc, sizeof *cands, cmp_candidate);
    for (int k = 0; k < nc && bl->task->n_items < PQ_TASK_MAX_ITEMS; k++) {
        int si = cands[k].b, first = p->docs[cands[k].a].first;
        int j = si, words = p->sents[si].words;
        while (j > first && words + p->sents[j - 1].words <= 150) words += p->sents[--j].words;
        if (words < 30) continue;
        /* the passage ends at the sentence's end, else at the latest clause end that works */
        const sentence *last = &p->sents[si];
        if (cloze_item(bl, p, &cands[k], j, si, (size_t)last->len)) continue;
        for (int x = last->len - 2; x > 0; x--)
            if ((last->text[x] == ',' || last->text[x] == ';' || last->text[x] == ':') && last->text[x + 1] == ' ' &&
                cloze_item(bl, p, &cands[k], j, si, (size_t)x))
                break;
    }
    free(cands);
}

/* ================================================================ WordNet tasks */

typedef struct {
    char *id;
    char *pos;
    char **lemmas;
    int n_lemmas;
    char *gloss;
    int *hyper; /* indices of hypernym synsets */
    int n_hyper;
    int heldout;
    int is_hypernym; /* some synset names it as hypernym */
} synset;

typedef struct {
    synset *s;
    int n;
} wordnet;

static int cmp_synset_id(const void *a, const void *b) { return strcmp(((const synset *)a)->id, ((const synset *)b)->id); }

static int find_synset(const wordnet *wn, const char *id) {
    int lo = 0, hi = wn->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(wn->s[mid].id, id);
        if (!c) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

/* "ice_hockey" -> "ice hockey"; a trailing "(a)"-style marker is dropped. */
static char *display_lemma(const char *lemma) {
    char *s = pq_strdup(lemma);
    char *paren = strchr(s, '(');
    if (paren && paren > s) *paren = 0;
    for (char *c = s; *c; c++)
        if (*c == '_') *c = ' ';
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') s[--n] = 0;
    return s;
}

static int load_wordnet(const char *path, wordnet *wn) {
    memset(wn, 0, sizeof *wn);
    FILE *f = fopen(path, "rb");
    if (!f) return 1; /* no WordNet: the WordNet tasks are skipped and reported */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, capn = 0;
    json_t **hyper_ids = NULL;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len <= 1) continue;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        json_t *id = o ? json_object_get(o, "id") : NULL, *lemmas = o ? json_object_get(o, "lemmas") : NULL;
        if (!o || !json_is_string(id) || !json_is_array(lemmas) || json_array_size(lemmas) == 0) {
            pq_fail("%s:%d: %s", path, lineno, o ? "a synset needs \"id\" and a non-empty \"lemmas\" array" : jerr.text);
            json_decref(o);
            free(line);
            fclose(f);
            return -1;
        }
        if (wn->n == capn) {
            capn = capn ? 2 * capn : 4096;
            wn->s = pq_realloc(wn->s, sizeof *wn->s * capn);
            hyper_ids = pq_realloc(hyper_ids, sizeof *hyper_ids * capn);
        }
        synset *s = &wn->s[wn->n];
        memset(s, 0, sizeof *s);
        s->id = pq_strdup(json_string_value(id));
        json_t *pos = json_object_get(o, "pos"), *gloss = json_object_get(o, "gloss");
        s->pos = pq_strdup(json_is_string(pos) ? json_string_value(pos) : "");
        s->gloss = pq_strdup(json_is_string(gloss) ? json_string_value(gloss) : "");
        s->heldout = json_is_true(json_object_get(o, "heldout"));
        s->n_lemmas = (int)json_array_size(lemmas);
        s->lemmas = pq_malloc(sizeof *s->lemmas * s->n_lemmas);
        for (int k = 0; k < s->n_lemmas; k++) {
            json_t *l = json_array_get(lemmas, (size_t)k);
            s->lemmas[k] = display_lemma(json_is_string(l) ? json_string_value(l) : "");
        }
        json_t *h = json_object_get(o, "hypernyms");
        hyper_ids[wn->n] = json_is_array(h) ? json_incref(h) : NULL;
        /* remember the position to reattach hypernyms after sorting */
        s->n_hyper = wn->n;
        wn->n++;
        json_decref(o);
    }
    free(line);
    fclose(f);
    /* sort by id, then resolve hypernym ids to indices */
    int *orig = pq_malloc(sizeof *orig * (wn->n ? wn->n : 1));
    qsort(wn->s, wn->n, sizeof *wn->s, cmp_synset_id);
    for (int i = 0; i < wn->n; i++) orig[i] = wn->s[i].n_hyper;
    for (int i = 0; i < wn->n; i++) {
        json_t *h = hyper_ids[orig[i]];
        synset *s = &wn->s[i];
        s->n_hyper = 0;
        s->hyper = pq_malloc(sizeof *s->hyper * (h ? json_array_size(h) + 1 : 1));
        for (size_t k = 0; h && k < json_array_size(h); k++) {
            json_t *x = json_array_get(h, k);
            int t = json_is_string(x) ? find_synset(wn, json_string_value(x)) : -1;
            if (t >= 0) {
                s->hyper[s->n_hyper++] = t;
                wn->s[t].is_hypernym = 1;
            }
        }
    }
    for (int i = 0; i < wn->n; i++) json_decref(hyper_ids[i]);
    free(hyper_ids);
    free(orig);
    return 0;
}

static void free_wordnet(wordnet *wn) {
    for (int i = 0; i < wn->n; i++) {
        synset *s = &wn->s[i];
        for (int k = 0; k < s->n_lemmas; k++) free(s->lemmas[k]);
        free(s->lemmas), free(s->id), free(s->pos), free(s->gloss), free(s->hyper);
    }
    free(wn->s);
}

static int share_lemma(const synset *a, const synset *b) {
    for (int i = 0; i < a->n_lemmas; i++)
        for (int k = 0; k < b->n_lemmas; k++)
            if (!strcasecmp(a->lemmas[i], b->lemmas[k])) return 1;
    return 0;
}

/* Pool entries: (synset, text) sorted by text length; text is a gloss or a lemma. */
typedef struct {
    int syn;
    const char *text;
    int len;
} wn_entry;

static int cmp_wn_entry(const void *a, const void *b) {
    const wn_entry *x = a, *y = b;
    if (x->len != y->len) return x->len - y->len;
    return x->syn - y->syn;
}

/* Up to 3 pool entries matched in length to L (see pick_matched) accepted by ok(ctx, entry). */
typedef int (*wn_ok_fn)(const void *ctx, const wn_entry *e);

typedef struct {
    const wn_entry *pool;
    wn_ok_fn ok;
    const void *ctx;
} wn_pick;

static int wn_len_at(const void *ctx, int k) { return ((const wn_pick *)ctx)->pool[k].len; }

static int wn_accept(const void *ctx, int k, const int *picked, int n_picked) {
    const wn_pick *c = ctx;
    if (!c->ok(c->ctx, &c->pool[k])) return 0;
    for (int f = 0; f < n_picked; f++)
        if (!strcasecmp(c->pool[picked[f]].text, c->pool[k].text)) return 0;
    return 1;
}

static int wn_near(const wn_entry *pool, int n, int L, wn_ok_fn ok, const void *ctx, pq_rng *r, const wn_entry **out) {
    wn_pick c = {pool, ok, ctx};
    pick_spec ps = {n, L, PQ_MAX(8, L / 4), wn_len_at, wn_accept, &c};
    int idx[3];
    int found = pick_matched(&ps, r, 3, idx);
    for (int f = 0; f < found; f++) out[f] = &pool[idx[f]];
    return found;
}

typedef struct {
    const wordnet *wn;
    int target;
    const char *gold;
    char *banned; /* per synset: an ancestor (or the synset itself) */
} wn_ctx;

static int def_ok(const void *vctx, const wn_entry *e) {
    const wn_ctx *c = vctx;
    const synset *t = &c->wn->s[c->target], *s = &c->wn->s[e->syn];
    return e->syn != c->target && strcmp(s->pos, t->pos) == 0 && !share_lemma(s, t) && strcasecmp(e->text, c->gold) != 0;
}

static int hyper_ok(const void *vctx, const wn_entry *e) {
    const wn_ctx *c = vctx;
    const synset *t = &c->wn->s[c->target];
    if (c->banned[e->syn] || strcasecmp(e->text, c->gold) == 0) return 0;
    for (int k = 0; k < t->n_lemmas; k++)
        if (!strcasecmp(t->lemmas[k], e->text)) return 0;
    return 1;
}

static void mark_ancestors(const wordnet *wn, int s, char *banned, int depth) {
    if (banned[s] || depth > 40) return;
    banned[s] = 1;
    for (int k = 0; k < wn->s[s].n_hyper; k++) mark_ancestors(wn, wn->s[s].hyper[k], banned, depth + 1);
}

static void unmark_ancestors(const wordnet *wn, int s, char *banned, int depth) {
    if (!banned[s] || depth > 40) return;
    banned[s] = 0;
    for (int k = 0; k < wn->s[s].n_hyper; k++) unmark_ancestors(wn, wn->s[s].hyper[k], banned, depth + 1);
}

static void build_wordnet(builder *def, builder *hyp, const wordnet *wn) {
    /* pools: glosses of held-out synsets; first lemmas of synsets that are hypernyms */
    wn_entry *gpool = pq_malloc(sizeof *gpool * (wn->n ? wn->n : 1)), *hpool = pq_malloc(sizeof *hpool * (wn->n ? wn->n : 1));
    int ng = 0, nh = 0;
    candidate *cands = pq_malloc(sizeof *cands * (wn->n ? wn->n : 1));
    int nc = 0;
    for (int i = 0; i < wn->n; i++) {
        const synset *s = &wn->s[i];
        if (s->heldout && s->gloss[0] && strlen(s->gloss) <= PQ_TASK_MAX_CHOICE_BYTES)
            gpool[ng++] = (wn_entry){i, s->gloss, (int)strlen(s->gloss)};
        if (s->is_hypernym && s->lemmas[0][0]) hpool[nh++] = (wn_entry){i, s->lemmas[0], (int)strlen(s->lemmas[0])};
        if (s->heldout && s->lemmas[0][0]) cands[nc++] = (candidate){key_hash("wordnet", s->id, 0), i, 0};
    }
    qsort(gpool, ng, sizeof *gpool, cmp_wn_entry);
    qsort(hpool, nh, sizeof *hpool, cmp_wn_entry);
    qsort(cands, nc, sizeof *cands, cmp_candidate);
    char *banned = pq_calloc(wn->n ? wn->n : 1, 1);
    for (int k = 0; k < nc; k++) {
        int i = cands[k].a;
        const synset *s = &wn->s[i];
        const wn_entry *out[3];
        if (s->gloss[0] && strlen(s->gloss) <= PQ_TASK_MAX_CHOICE_BYTES && def->task->n_items < PQ_TASK_MAX_ITEMS) {
            wn_ctx c = {wn, i, s->gloss, NULL};
            pq_rng r = pq_rng_make(def->seed, pq_rng_stream_id("tasks/wordnet_def/distractors", cands[k].key));
            if (wn_near(gpool, ng, (int)strlen(s->gloss), def_ok, &c, &r, out) == 3) {
                char *context = str_cat3("Definition of ", s->lemmas[0], ":");
                char *choices[4] = {s->gloss, (char *)out[0]->text, (char *)out[1]->text, (char *)out[2]->text};
                try_add(def, cands[k].key, s->id, context, 4, choices);
                free(context);
            } else {
                def->skipped_no_distractors++;
            }
        }
        if (s->n_hyper > 0 && hyp->task->n_items < PQ_TASK_MAX_ITEMS) {
            const char *gold = wn->s[s->hyper[0]].lemmas[0];
            if (!gold[0] || !strcasecmp(gold, s->lemmas[0])) continue;
            mark_ancestors(wn, i, banned, 0);
            wn_ctx c = {wn, i, gold, banned};
            pq_rng r = pq_rng_make(hyp->seed, pq_rng_stream_id("tasks/wordnet_hypernym/distractors", cands[k].key));
            int got = wn_near(hpool, nh, (int)strlen(gold), hyper_ok, &c, &r, out);
            unmark_ancestors(wn, i, banned, 0);
            if (got == 3) {
                char *context = str_cat3(s->lemmas[0], "", " is a kind of");
                char *choices[4] = {(char *)gold, (char *)out[0]->text, (char *)out[1]->text, (char *)out[2]->text};
                try_add(hyp, cands[k].key, s->id, context, 4, choices);
                free(context);
            } else {
                hyp->skipped_no_distractors++;
            }
        }
    }
    free(banned);
    free(cands);
    free(gpool);
    free(hpool);
}

/* ================================================================ perplexity docs */

static void build_ppl(builder *bl, const prose *p) {
    for (int d = 0; d < p->n_docs; d++) {
        bl->candidates++;
        if (pq_ngram_set_hit(bl->train, p->docs[d].text, p->docs[d].len, NULL, 0)) {
            bl->skipped_leak++;
            continue;
        }
        if (!hset_add(&bl->golds, pq_fnv1a64(p->docs[d].text, p->docs[d].len))) {
            bl->skipped_dup++;
            continue;
        }
        pq_task_add(bl->task, p->docs[d].id, 1, (const char *const[]){p->docs[d].text}, 0, NULL, -1);
    }
}

/* ================================================================ driver */

static json_t *builder_stats(const builder *bl, const char *why_small) {
    json_t *o = json_pack("{s:i, s:s, s:I, s:I, s:I, s:I}", "items", bl->task->n_items, "kind",
                          pq_task_kind_name(bl->task->kind), "candidates", (json_int_t)bl->candidates, "skipped_leak",
                          (json_int_t)bl->skipped_leak, "skipped_duplicate", (json_int_t)bl->skipped_dup,
                          "skipped_no_distractors", (json_int_t)bl->skipped_no_distractors);
    if (bl->task->kind != PQ_TASK_PPL && bl->task->n_items < PQ_TASK_MIN_ITEMS) {
        char msg[512];
        snprintf(msg, sizeof msg, "only %d items (< %d): %s", bl->task->n_items, PQ_TASK_MIN_ITEMS, why_small);
        json_object_set_new(o, "warning", json_string(msg));
    }
    return o;
}

int pq_tasks_build(const char *corpus_dir, const pq_ngram_set *train, const char *out_dir, uint64_t seed,
                   json_t **stats, int verbose) {
    prose p;
    if (load_prose(corpus_dir, &p) != 0) return -1;
    wordnet wn;
    char *syn_path = pq_path_join(corpus_dir, "wordnet_synsets.jsonl");
    int wrc = load_wordnet(syn_path, &wn);
    free(syn_path);
    if (wrc < 0) {
        free_prose(&p);
        return -1;
    }
    builder b[6];
    for (int t = 0; t < 6; t++) {
        memset(&b[t], 0, sizeof b[t]);
        b[t].name = pq_builtin_tasks[t];
        b[t].task = pq_task_new(pq_builtin_tasks[t], t == 5 ? PQ_TASK_PPL : PQ_TASK_CHOICE);
        b[t].train = train;
        b[t].seed = seed;
    }
    build_wordnet(&b[0], &b[1], &wn);
    build_cloze(&b[2], &p);
    build_next_sentence(&b[3], &p);
    build_sentence_order(&b[4], &p);
    build_ppl(&b[5], &p);

    char why_prose[256], why_wn[256];
    snprintf(why_prose, sizeof why_prose, "the held-out prose has %d sentences in %d documents", p.n_sents, p.n_docs);
    int held = 0;
    for (int i = 0; i < wn.n; i++) held += wn.s[i].heldout;
    snprintf(why_wn, sizeof why_wn, wrc ? "no wordnet_synsets.jsonl in the corpus" : "%d held-out synsets", held);
    json_t *st = json_object();
    int rc = 0;
    for (int t = 0; t < 6 && rc == 0; t++) {
        char *path = str_cat3(out_dir, "/", pq_builtin_tasks[t]);
        char *file = str_cat3(path, "", ".jsonl");
        if (b[t].task->n_items == 0)
            rc = pq_fail("%s: task %s: no items could be built (%s)", corpus_dir, pq_builtin_tasks[t], t < 2 ? why_wn : why_prose);
        else rc = pq_task_write(b[t].task, file);
        json_object_set_new(st, pq_builtin_tasks[t], builder_stats(&b[t], t < 2 ? why_wn : why_prose));
        free(path);
        free(file);
    }
    for (int t = 0; t < 6; t++) {
        pq_task_free(b[t].task);
        free(b[t].golds.k);
    }
    free_prose(&p);
    free_wordnet(&wn);
    if (rc != 0) {
        json_decref(st);
        return -1;
    }
    *stats = st;
    (void)verbose;
    return 0;
}
