/* fuzz_bpe.c — tokenizer files (pq_bpe_load, data/bpe.c).
 *
 * Input: the bytes of a tokenizer file. A tokenizer that loads must decode what
 * it encodes back to the same bytes (a fixed text and the input itself, as
 * text), give every id's bytes, and save and load again with the same hash. */
#include "data/bpe.h"
#include "fuzz.h"

static void check_round_trip(pq_bpe *b, const char *text, size_t n) {
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0, n_out = 0;
    pq_bpe_encode(b, text, n, &ids, &n_ids, &cap);
    for (size_t i = 0; i < n_ids; i++) FUZZ_CHECK(ids[i] >= 0 && ids[i] < pq_bpe_vocab_size(b));
    char *back = pq_bpe_decode(b, ids, n_ids, &n_out);
    FUZZ_CHECK(back && n_out == n && !memcmp(back, text, n));
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    pq_bpe *b = pq_bpe_load(fuzz_file("tokenizer.bpe", data, n));
    if (!b) {
        FUZZ_CHECK(pq_error()[0]);
        return 0;
    }
    FUZZ_CHECK(pq_bpe_vocab_size(b) == PQ_BPE_FIRST_MERGE + pq_bpe_n_merges(b));
    for (int32_t id = 0; id < pq_bpe_vocab_size(b); id++) {
        size_t len = 0;
        const uint8_t *bytes = pq_bpe_token_bytes(b, id, &len);
        FUZZ_CHECK(bytes || len == 0);
        FUZZ_CHECK(id == PQ_BPE_BOS || id == PQ_BPE_EOS ? len == 0 : len >= 1);
    }
    static const char sample[] = "The cat's 3 hats  weren't 42.5%\n\tof  \xc3\xa9t\xc3\xa9 aaaaaaaa!!";
    check_round_trip(b, sample, sizeof sample - 1);
    check_round_trip(b, (const char *)data, n);
    const char *copy = fuzz_path("copy.bpe");
    FUZZ_CHECK(pq_bpe_save(b, copy) == 0);
    pq_bpe *again = pq_bpe_load(copy);
    FUZZ_CHECK(again && !strcmp(pq_bpe_hash(again), pq_bpe_hash(b)));
    pq_bpe_free(again);
    pq_bpe_free(b);
    return 0;
}
