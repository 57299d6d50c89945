#include "eval/bpe_tok.h"

#include <stdlib.h>

#include "base/util.h"

static int bpe_encode(void *impl, const char *text, size_t len, int32_t **ids, int *n) {
    int32_t *out = NULL;
    size_t n_out = 0, cap = 0;
    pq_bpe_encode(impl, text, len, &out, &n_out, &cap);
    if (n_out > (size_t)1 << 30) {
        free(out);
        return pq_fail("text of %zu bytes is too long to score", len);
    }
    *ids = out;
    *n = (int)n_out;
    return 0;
}

static const uint8_t *bpe_token_bytes(void *impl, int32_t id, size_t *len) {
    if (id < 0 || id >= pq_bpe_vocab_size(impl)) return NULL;
    return pq_bpe_token_bytes(impl, id, len);
}

void pq_bpe_eval_tokenizer(pq_eval_tokenizer *tok, pq_bpe *b) {
    *tok = (pq_eval_tokenizer){.vocab_size = pq_bpe_vocab_size(b), .bos = PQ_BPE_BOS, .impl = b, .encode = bpe_encode,
                               .token_bytes = bpe_token_bytes};
}
