#include "train/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/manifest.h"
#include "base/rng.h"
#include "base/util.h"
#include "data/shards.h"

int pq_tokens_load_shards(pq_token_stream *ts, const char *dir, const char *split) {
    memset(ts, 0, sizeof *ts);
    pq_shard_set *set = pq_shard_set_open(dir, split);
    if (!set) return -1;
    if (set->vocab_size > 65536) {
        pq_fail("%s: vocab %u does not fit the engine's uint16 tokens", set->shards[0]->path, set->vocab_size);
        pq_shard_set_close(set);
        return -1;
    }
    if (set->n_tokens < 2) {
        pq_fail("%s: shard set '%s' has fewer than 2 tokens", dir, split);
        pq_shard_set_close(set);
        return -1;
    }
    ts->n = (int64_t)set->n_tokens;
    ts->vocab = (int)set->vocab_size;
    ts->tokens = pq_malloc(sizeof(uint16_t) * (size_t)ts->n);
    /* The reader validated every id against vocab_size when it opened the shards. */
    for (int64_t i = 0; i < ts->n; i++) ts->tokens[i] = (uint16_t)pq_shard_set_token(set, (uint64_t)i);
    snprintf(ts->vocab_hash, sizeof ts->vocab_hash, "%s", set->vocab_hash);
    snprintf(ts->desc, sizeof ts->desc, "%s %s (%d shard%s)", dir, split, set->n_shards, set->n_shards == 1 ? "" : "s");
    ts->inputs = json_object();
    for (int i = 0; i < set->n_shards; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s_%03d", split, i);
        json_object_set_new(ts->inputs, key, json_string(set->shards[i]->path));
    }
    pq_shard_set_close(set);
    return 0;
}

void pq_tokens_synthetic(pq_token_stream *ts, uint64_t seed, int part, int64_t n, int vocab) {
    memset(ts, 0, sizeof *ts);
    ts->n = n;
    ts->vocab = vocab;
    ts->tokens = pq_malloc(sizeof(uint16_t) * (size_t)(n > 0 ? n : 1));
    uint64_t succ = pq_rng_stream_id("synthetic", 0), walk = pq_rng_stream_id("synthetic-walk", (uint64_t)part);
    uint32_t cur = (uint32_t)pq_rng_below(seed, walk, 0, (uint64_t)vocab);
    for (int64_t i = 0; i < n; i++) {
        ts->tokens[i] = (uint16_t)cur;
        uint64_t pick = pq_rng_below(seed, walk, (uint64_t)i + 1, 4);
        cur = (uint32_t)pq_rng_below(seed, succ, (uint64_t)cur * 4 + pick, (uint64_t)vocab);
    }
    snprintf(ts->desc, sizeof ts->desc, "synthetic markov4 seed %llu part %d (%lld tokens, vocab %d)",
             (unsigned long long)seed, part, (long long)n, vocab);
    ts->inputs = json_object();
}

void pq_tokens_free(pq_token_stream *ts) {
    free(ts->tokens);
    json_decref(ts->inputs);
    memset(ts, 0, sizeof *ts);
}

int pq_tokens_load_data(const char *spec, int vocab, pq_token_stream *train, pq_token_stream *val) {
    if (!strncmp(spec, "synthetic:", 10)) {
        char *end;
        long long n = strtoll(spec + 10, &end, 10);
        if (*end || n < 2) return pq_fail("--data %s: expected synthetic:N with N >= 2 tokens", spec);
        pq_tokens_synthetic(train, 1, 0, n, vocab);
        pq_tokens_synthetic(val, 1, 1, n / 10 > 1024 ? n / 10 : 1024, vocab);
        return 0;
    }
    if (pq_tokens_load_shards(train, spec, "train")) return -1;
    if (pq_tokens_load_shards(val, spec, "val")) {
        pq_tokens_free(train);
        return -1;
    }
    if (strcmp(train->vocab_hash, val->vocab_hash)) {
        pq_tokens_free(train), pq_tokens_free(val);
        return pq_fail("%s: train and val shards come from different tokenizers", spec);
    }
    return 0;
}

static const char *recorded_tokenizer(const json_t *o) {
    static const char *const keys[] = {PQ_CKPT_TOKENIZER_KEY, "vocab_hash"};
    for (size_t k = 0; k < PQ_COUNT(keys); k++) {
        const char *h = json_string_value(json_object_get(o, keys[k]));
        if (h && *h) return h;
    }
    return NULL;
}

const char *pq_ckpt_tokenizer_hash(const json_t *meta) {
    const char *h = recorded_tokenizer(meta), *name;
    json_t *v;
    json_object_foreach((json_t *)meta, name, v) if (!h && json_is_object(v)) h = recorded_tokenizer(v);
    return h;
}

void pq_ckpt_set_tokenizer_hash(json_t *meta, const char *hash) {
    if (hash && *hash) json_object_set_new(meta, PQ_CKPT_TOKENIZER_KEY, json_string(hash));
}

const char *pq_tokens_tokenizer_hash(const pq_token_stream *ts) { return ts->vocab_hash[0] ? ts->vocab_hash : NULL; }

int pq_tokens_check_tokenizer(const pq_token_stream *data, const char *spec, const char *ckpt_hash,
                              const char *ckpt_path) {
    const char *data_hash = pq_tokens_tokenizer_hash(data);
    if (!ckpt_hash || !data_hash || !strcmp(ckpt_hash, data_hash)) return 0;
    return pq_fail("%s: trained with tokenizer %.12s..., but --data %s was made by tokenizer %.12s...; "
                   "use data built with the checkpoint's tokenizer",
                   ckpt_path, ckpt_hash, spec, data_hash);
}

int pq_check_ckpt_tokenizer(const char *ckpt_path, const char *ckpt_hash, const char *tok_path, const char *tok_hash) {
    if (!ckpt_hash || !strcmp(ckpt_hash, tok_hash)) return 0;
    return pq_fail("%s: trained with tokenizer %.12s..., but %s is %.12s...", ckpt_path, ckpt_hash, tok_path, tok_hash);
}

int pq_tokens_add_inputs(json_t *manifest, const pq_token_stream *ts) {
    const char *key;
    json_t *v;
    json_object_foreach(ts->inputs, key, v) if (pq_manifest_add_input(manifest, key, json_string_value(v))) return -1;
    return 0;
}

int pq_data_order_init(pq_data_order *d, const pq_token_stream *ts, int T, uint64_t seed) {
    memset(d, 0, sizeof *d);
    if (T <= 0 || ts->n < (int64_t)T + 1)
        return pq_fail("%s: %lld tokens, too few for one sequence of %d", ts->desc, (long long)ts->n, T);
    d->ts = ts, d->T = T, d->seed = seed;
    d->n_chunks = (ts->n - 1) / T;
    if (d->n_chunks > UINT32_MAX) return pq_fail("%s: too many tokens", ts->desc);
    d->perm = pq_malloc(sizeof(uint32_t) * (size_t)d->n_chunks);
    d->perm_epoch = -1;
    return 0;
}

void pq_data_order_free(pq_data_order *d) {
    free(d->perm);
    memset(d, 0, sizeof *d);
}

void pq_data_window(const pq_data_order *d, int64_t w, uint16_t *x, uint16_t *y) {
    const uint16_t *src = d->ts->tokens + (size_t)(w % d->n_chunks) * d->T;
    memcpy(x, src, sizeof(uint16_t) * d->T);
    memcpy(y, src + 1, sizeof(uint16_t) * d->T);
}

void pq_data_train_batch(pq_data_order *d, int64_t first, int B, uint16_t *x, uint16_t *y) {
    for (int b = 0; b < B; b++) {
        int64_t i = first + b, epoch = i / d->n_chunks;
        if (epoch != d->perm_epoch) {
            pq_rng_permutation(d->seed, pq_rng_stream_id("data", (uint64_t)epoch), d->perm, (uint32_t)d->n_chunks);
            d->perm_epoch = epoch;
        }
        pq_data_window(d, d->perm[i % d->n_chunks], x + (size_t)b * d->T, y + (size_t)b * d->T);
    }
}
