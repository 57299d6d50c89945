/* fuzz_shard.c — token shard files (pq_shard_open, data/shards.c).
 *
 * Input: one mode byte, then the bytes of a shard file. With an odd mode byte
 * the target first writes the payload's SHA-256 into the header (when there is
 * a whole header), so the fuzzer reaches the checks behind the checksum.
 * A shard that opens must hold only ids below its vocab, readable in any range
 * inside it and refused outside it. */
#include "base/hash.h"
#include "data/shards.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    uint8_t *file = malloc(n);
    size_t file_n = n - 1;
    memcpy(file, data + 1, file_n);
    if ((data[0] & 1) && file_n >= PQ_SHARD_HEADER_BYTES) {
        pq_sha256 *h = pq_sha256_begin();
        pq_sha256_update(h, file + PQ_SHARD_HEADER_BYTES, file_n - PQ_SHARD_HEADER_BYTES);
        pq_sha256_end(h, file + 72, NULL);
    }
    const char *path = fuzz_file("val.bin", file, file_n);
    free(file);
    pq_shard *s = pq_shard_open(path);
    if (!s) {
        FUZZ_CHECK(pq_error()[0]);
        return 0;
    }
    FUZZ_CHECK(s->token_bytes == 2 || s->token_bytes == 4);
    FUZZ_CHECK(PQ_SHARD_HEADER_BYTES + s->n_tokens * s->token_bytes == file_n);
    int32_t *tokens = malloc((s->n_tokens + 1) * sizeof *tokens);
    FUZZ_CHECK(pq_shard_read(s, 0, s->n_tokens, tokens) == 0);
    for (uint64_t i = 0; i < s->n_tokens; i++) FUZZ_CHECK(tokens[i] >= 0 && (uint32_t)tokens[i] < s->vocab_size);
    FUZZ_CHECK(pq_shard_read(s, s->n_tokens, 1, tokens) != 0);
    FUZZ_CHECK(pq_shard_read(s, 1, UINT64_MAX, tokens) != 0);
    free(tokens);
    FUZZ_CHECK(pq_shard_check_vocab(s, s->vocab_hash, s->vocab_size) == 0);
    uint64_t n_tokens = s->n_tokens;
    pq_shard_close(s);

    /* The same file as a one-shard set ("<dir>/val.bin"). */
    pq_shard_set *set = pq_shard_set_open(fuzz_dir(), "val");
    FUZZ_CHECK(set && set->n_shards == 1 && set->n_tokens == n_tokens);
    pq_shard_set_close(set);
    return 0;
}
