/* The mixture: capped weights, hash-chosen document copies, and a shard build
 * whose per-source counts and BOS-per-document layout are checked. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/bpe.h"
#include "data/mixture.h"
#include "data/shards.h"

Test(data_mixture, cap_lowers_only_the_capped_source) {
    json_t *m = pq_mixture_default();
    char *names[] = {"austen", "gcide", "kjv"};
    double sizes[] = {100, 800, 100}, w[3];
    pq_mixture_weights(m, 3, names, sizes, w);
    cr_assert_float_eq(w[0], 1.0, 1e-12);
    cr_assert_float_eq(w[2], 1.0, 1e-12);
    double share = w[1] * 800 / (w[1] * 800 + 200);
    cr_assert_float_eq(share, 0.33, 1e-9);
    /* under the cap nothing changes */
    double small[] = {100, 50, 100};
    pq_mixture_weights(m, 3, names, small, w);
    cr_assert_float_eq(w[1], 1.0, 1e-12);
    json_decref(m);
}

Test(data_mixture, copies_follow_the_weight) {
    int total = 0, twice = 0;
    for (int i = 0; i < 20000; i++) {
        char id[32];
        snprintf(id, sizeof id, "gcide/entry.%d", i);
        int c = pq_mixture_copies("gcide", id, 0.3);
        cr_assert(c == 0 || c == 1);
        total += c;
        cr_assert_eq(pq_mixture_copies("gcide", id, 0.3), c, "deterministic");
        int d = pq_mixture_copies("gcide", id, 1.5);
        cr_assert(d == 1 || d == 2);
        twice += d == 2;
    }
    cr_assert(fabs(total / 20000.0 - 0.3) < 0.015, "fraction %f", total / 20000.0);
    cr_assert(fabs(twice / 20000.0 - 0.5) < 0.015, "fraction %f", twice / 20000.0);
    cr_assert_eq(pq_mixture_copies("x", "y", 3.0), 3);
    cr_assert_eq(pq_mixture_copies("x", "y", 0.0), 0);
}

static void write_jsonl(const char *path, const char *prefix, int n, const char *text) {
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) fprintf(f, "{\"id\":\"%s%d\",\"text\":\"%s %d.\"}\n", prefix, i, text, i);
    fclose(f);
}

Test(data_mixture, shard_build_counts_and_bos) {
    char dir[] = "/tmp/pq-test-mixture-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char corpus[512], out[512], path[600];
    snprintf(corpus, sizeof corpus, "%s/corpus", dir);
    snprintf(out, sizeof out, "%s/shards", dir);
    pq_mkdirs(corpus);
    pq_mkdirs(out);
    snprintf(path, sizeof path, "%s/gcide.train.jsonl", corpus);
    write_jsonl(path, "g", 400, "A word of the dictionary, defined at length");
    snprintf(path, sizeof path, "%s/gcide.heldout.jsonl", corpus);
    write_jsonl(path, "gh", 40, "A held-out word of the dictionary");
    snprintf(path, sizeof path, "%s/prose.train.jsonl", corpus);
    write_jsonl(path, "p", 50, "It was a fine day");
    snprintf(path, sizeof path, "%s/prose.heldout.jsonl", corpus);
    write_jsonl(path, "ph", 5, "A held-out day");
    pq_bpe_trainer *t = pq_bpe_trainer_new();
    pq_bpe_trainer_add(t, "It was a fine day. A word of the dictionary", 44);
    pq_bpe *bpe = pq_bpe_trainer_finish(t, 300, 0);
    json_t *m = pq_mixture_default(), *stats = NULL;
    cr_assert_eq(pq_shards_build(corpus, out, bpe, m, 5, &stats, 0), 0, "%s", pq_error());
    json_t *g = json_object_get(json_object_get(stats, "sources"), "gcide");
    json_t *pr = json_object_get(json_object_get(stats, "sources"), "prose");
    double share = json_real_value(json_object_get(g, "mixture_share"));
    cr_assert(share > 0.25 && share < 0.45, "gcide share %f", share);
    cr_assert_eq(json_integer_value(json_object_get(pr, "mixture_docs")), 50);
    cr_assert_eq(json_integer_value(json_object_get(pr, "val_docs")), 5);
    pq_shard_set *set = pq_shard_set_open(out, "train");
    cr_assert_not_null(set, "%s", pq_error());
    cr_assert_eq(set->n_tokens, (uint64_t)json_integer_value(json_object_get(stats, "mixture_tokens")));
    uint64_t docs = 0;
    for (uint64_t i = 0; i < set->n_tokens; i++) docs += pq_shard_set_token(set, i) == PQ_BPE_BOS;
    cr_assert_eq(docs, set->n_docs);
    cr_assert_eq(pq_shard_set_token(set, 0), PQ_BPE_BOS);
    cr_assert_str_eq(set->vocab_hash, pq_bpe_hash(bpe));
    /* the text of the shards decodes back to corpus documents */
    int32_t *tok = malloc(sizeof *tok * set->n_tokens);
    pq_shard_set_read(set, 0, set->n_tokens, tok);
    size_t n;
    char *text = pq_bpe_decode(bpe, tok, set->n_tokens, &n);
    cr_assert(strstr(text, "It was a fine day 7."));
    cr_assert_null(strstr(text, "held-out"), "held-out text in the training shards");
    free(text), free(tok);
    pq_shard_set_close(set);
    pq_shard_set *val = pq_shard_set_open(out, "val");
    cr_assert_not_null(val);
    cr_assert_eq(val->n_docs, (uint64_t)(5 + json_integer_value(json_object_get(g, "val_docs"))));
    pq_shard_set_close(val);
    json_decref(stats), json_decref(m);
    pq_bpe_free(bpe);
    pq_remove_tree(dir);
}
