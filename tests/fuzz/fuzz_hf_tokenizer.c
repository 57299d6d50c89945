/* fuzz_hf_tokenizer.c — Hugging Face tokenizer.json files (pq_hf_bpe_parse, data/hf_bpe.c).
 *
 * Input: the bytes of a tokenizer.json. A tokenizer that loads must encode a fixed
 * text and the input itself (as text) into ids inside its vocabulary, each with
 * bytes (byte-level and SentencePiece-style, with byte fallback or unk). */
#include "data/hf_bpe.h"
#include "fuzz.h"

static void check_encode(pq_hf_bpe *t, const char *text, size_t n, int round_trip) {
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0, back = 0;
    pq_hf_bpe_encode(t, text, n, &ids, &n_ids, &cap);
    for (size_t i = 0; i < n_ids; i++) {
        size_t len = 0;
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < pq_hf_bpe_vocab_size(t));
        const uint8_t *b = pq_hf_bpe_token_bytes(t, ids[i], &len);
        FUZZ_CHECK(b != NULL);
        if (round_trip) FUZZ_CHECK(back + len <= n && !memcmp(text + back, b, len));
        back += len;
    }
    if (round_trip) FUZZ_CHECK(back == n);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    pq_hf_bpe *t = pq_hf_bpe_parse((const char *)data, n, "tokenizer.json");
    if (!t) {
        FUZZ_CHECK(pq_error()[0] && !strchr(pq_error(), '\n'));
        return 0;
    }
    FUZZ_CHECK(pq_hf_bpe_vocab_size(t) >= 1);
    int32_t bos = pq_hf_bpe_template_bos(t);
    FUZZ_CHECK(bos >= -1 && bos < pq_hf_bpe_vocab_size(t));
    static const char sample[] = "The cat's 3 hats  weren't 42.5%\n\tof  \xc3\xa9t\xc3\xa9 \xe2\x80\x94 aaaaaaaa!! \xff\xfe 12345";
    check_encode(t, sample, sizeof sample - 1, 0);
    check_encode(t, (const char *)data, n, 0);
    static const char plain[] = "abc def\n  1234 \xc3\xa9";
    check_encode(t, plain, sizeof plain - 1, 0);
    pq_hf_bpe_free(t);
    return 0;
}
