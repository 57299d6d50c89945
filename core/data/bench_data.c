/* bench_data.c — tokenizer training and encoding speed on the real corpus (see bench_data.h). */
#include "data/bench_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/fsio.h"
#include "base/manifest.h"
#include "base/util.h"
#include "data/bpe.h"
#include "data/databuild.h"
#include "data/mixture.h"

/* Trains one vocab size from the corpus as `pq data build` does; fills timings. */
static pq_bpe *train_timed(const char *corpus_dir, const json_t *mixture, int vocab, json_t *row) {
    double t0 = pq_now();
    pq_mixture_text mt;
    if (pq_mixture_text_load(corpus_dir, mixture, &mt) != 0) return NULL;
    double t1 = pq_now();
    pq_bpe_trainer *t = pq_bpe_trainer_new();
    uint64_t bytes = pq_mixture_text_train(&mt, t);
    pq_mixture_text_free(&mt);
    uint64_t total;
    size_t unique = pq_bpe_trainer_words(t, &total);
    double t2 = pq_now();
    pq_bpe *b = pq_bpe_trainer_finish(t, vocab, 0);
    double t3 = pq_now();
    json_object_set_new(row, "vocab", json_integer(pq_bpe_vocab_size(b)));
    json_object_set_new(row, "mixture_bytes", json_integer((json_int_t)bytes));
    json_object_set_new(row, "words", json_integer((json_int_t)total));
    json_object_set_new(row, "unique_words", json_integer((json_int_t)unique));
    json_object_set_new(row, "load_seconds", json_real(t1 - t0));
    json_object_set_new(row, "count_seconds", json_real(t2 - t1));
    json_object_set_new(row, "merge_seconds", json_real(t3 - t2));
    json_object_set_new(row, "train_seconds", json_real(t3 - t0));
    json_object_set_new(row, "target_train_seconds", json_real(120));
    json_object_set_new(row, "meets_target", json_boolean(t3 - t0 < 120));
    fprintf(stderr, "bench tokenizer  vocab %5d  train %.1f s (load %.1f, count %.1f, merges %.1f)\n", vocab, t3 - t0,
            t1 - t0, t2 - t1, t3 - t2);
    return b;
}

/* Encodes every training document (up to max_bytes) twice and decodes once. */
static void encode_timed(pq_bpe *b, const pq_mixture_text *mt, uint64_t max_bytes, json_t *row) {
    int32_t *tok = NULL;
    size_t n = 0, cap = 0;
    double secs[2] = {0, 0};
    uint64_t bytes = 0;
    size_t tokens = 0;
    for (int pass = 0; pass < 2; pass++) {
        bytes = 0, tokens = 0;
        double t0 = pq_now();
        for (int s = 0; s < mt->n && bytes < max_bytes; s++)
            for (int d = 0; d < mt->files[s]->n_docs && bytes < max_bytes; d++) {
                n = 0;
                pq_bpe_encode(b, mt->files[s]->docs[d].text, mt->files[s]->docs[d].len, &tok, &n, &cap);
                bytes += mt->files[s]->docs[d].len;
                tokens += n;
            }
        secs[pass] = pq_now() - t0;
    }
    /* decode: the same documents once more, tokens then bytes */
    double dsec = 0;
    uint64_t dbytes = 0;
    for (int s = 0; s < mt->n && dbytes < max_bytes; s++)
        for (int d = 0; d < mt->files[s]->n_docs && dbytes < max_bytes; d++) {
            n = 0;
            pq_bpe_encode(b, mt->files[s]->docs[d].text, mt->files[s]->docs[d].len, &tok, &n, &cap);
            double t0 = pq_now();
            size_t len;
            char *text = pq_bpe_decode(b, tok, n, &len);
            dsec += pq_now() - t0;
            dbytes += len;
            free(text);
        }
    free(tok);
    double cold = (double)bytes / 1e6 / secs[0], warm = (double)bytes / 1e6 / secs[1];
    json_object_set_new(row, "encoded_bytes", json_integer((json_int_t)bytes));
    json_object_set_new(row, "encoded_tokens", json_integer((json_int_t)tokens));
    json_object_set_new(row, "bytes_per_token", json_real((double)bytes / (double)(tokens ? tokens : 1)));
    json_object_set_new(row, "encode_mb_per_s_cold_cache", json_real(cold));
    json_object_set_new(row, "encode_mb_per_s_warm_cache", json_real(warm));
    json_object_set_new(row, "decode_mb_per_s", json_real((double)dbytes / 1e6 / (dsec > 0 ? dsec : 1e-9)));
    json_object_set_new(row, "target_encode_mb_per_s", json_real(10));
    json_object_set_new(row, "meets_encode_target", json_boolean(cold >= 10));
    fprintf(stderr, "bench tokenizer  vocab %5d  encode %.1f MB/s cold cache, %.1f MB/s warm, %.2f bytes/token\n",
            pq_bpe_vocab_size(b), cold, warm, (double)bytes / (double)(tokens ? tokens : 1));
}

int pq_bench_tokenizer(const char *out_dir, const char *data_dir, int quick) {
    pq_data_paths p;
    pq_data_paths_init(&p, data_dir, PQ_DATA_DEFAULT_VOCAB);
    char *probe = pq_path_join(p.corpus_dir, "manifest.json");
    int have = pq_file_exists(probe);
    free(probe);
    if (!have) {
        pq_fail("%s: no corpus to benchmark the tokenizer on (run 'pq data build')", p.corpus_dir);
        pq_data_paths_free(&p);
        return 1;
    }
    json_t *mixture = pq_mixture_default(), *rows = json_array();
    json_t *manifest = pq_manifest_new("bench_tokenizer", mixture);
    int sizes[] = {PQ_DATA_DEFAULT_VOCAB, 4096};
    int rc = 0;
    for (int k = quick ? 1 : 0; k < 2 && rc == 0; k++) {
        json_t *row = json_object();
        pq_bpe *b = train_timed(p.corpus_dir, mixture, sizes[k], row);
        pq_mixture_text mt;
        if (!b || pq_mixture_text_load(p.corpus_dir, mixture, &mt) != 0) {
            pq_bpe_free(b);
            json_decref(row);
            rc = -1;
            break;
        }
        encode_timed(b, &mt, quick ? 20000000u : UINT64_MAX, row);
        pq_mixture_text_free(&mt);
        pq_bpe_free(b);
        json_array_append_new(rows, row);
    }
    if (rc == 0) {
        json_t *out = json_object();
        json_object_set_new(out, "tokenizer", rows);
        json_object_set_new(out, "corpus", json_string(p.corpus_dir));
        char *path = pq_write_result(out, manifest, out_dir, "tokenizer.json");
        rc = path ? 0 : -1;
        free(path);
        json_decref(out);
    } else {
        json_decref(rows);
        json_decref(manifest);
    }
    json_decref(mixture);
    pq_data_paths_free(&p);
    return rc;
}
