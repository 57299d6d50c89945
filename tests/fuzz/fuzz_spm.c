/* fuzz_spm.c — SentencePiece tokenizer.model files (pq_spm_parse, data/spm.c).
 *
 * Input: the bytes of a ModelProto. A model that loads must encode a fixed text and
 * the input itself (as text) into ids inside its vocabulary, each with bytes. */
#include "data/spm.h"
#include "fuzz.h"

static void check_encode(pq_spm *s, const char *text, size_t n) {
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    pq_spm_encode(s, text, n, &ids, &n_ids, &cap);
    for (size_t i = 0; i < n_ids; i++) {
        size_t len = 0;
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < pq_spm_vocab_size(s));
        FUZZ_CHECK(pq_spm_token_bytes(s, ids[i], &len) != NULL);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    pq_spm *s = pq_spm_parse(data, n, "tokenizer.model");
    if (!s) {
        FUZZ_CHECK(pq_error()[0]);
        return 0;
    }
    FUZZ_CHECK(pq_spm_bos(s) >= -1 && pq_spm_bos(s) < pq_spm_vocab_size(s));
    static const char sample[] = "  The cat's 3 hats  weren't 42.5%\n\tof  \xc3\xa9t\xc3\xa9 \xe2\x80\x94 aaaaaaaa!! \xff\xfe \xef\xbc\xa1 ";
    check_encode(s, sample, sizeof sample - 1);
    check_encode(s, (const char *)data, n < 4096 ? n : 4096);
    pq_spm_free(s);
    return 0;
}
