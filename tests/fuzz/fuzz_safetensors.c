/* fuzz_safetensors.c — the safetensors reader (interop/safetensors.c), what pq import hf
 * reads first from a downloaded directory.
 *
 * Input: the bytes of a .safetensors file. A header that parses must describe tensors
 * that lie inside the file with as many bytes as their shape and dtype say; every
 * float tensor of up to 1M elements must then read (or fail on a non-finite value). */
#include "interop/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    const char *path = fuzz_file("model.safetensors", data, n);
    pq_st_set s = {0};
    if (pq_st_read_header(&s, path) != 0) {
        FUZZ_CHECK(pq_error()[0]);
        pq_st_free(&s);
        return 0;
    }
    for (int i = 0; i < s.n; i++) {
        const pq_st_tensor *t = &s.t[i];
        FUZZ_CHECK(t->offset >= 8 && t->offset + t->bytes <= n && t->numel >= 0);
        FUZZ_CHECK(pq_st_find(&s, t->name) == t); /* names are unique */
        if (t->numel > (1 << 20) || t->dtype == PQ_ST_U8 || t->dtype == PQ_ST_OTHER) continue;
        float *out = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
        if (pq_st_read_f32(t, out) != 0) FUZZ_CHECK(strstr(pq_error(), "not finite"));
        free(out);
    }
    pq_st_free(&s);
    return 0;
}
