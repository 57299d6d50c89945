/* shards.c — token shard files: atomic writer, validating mmap reader, shard sets. */
#include "data/shards.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsio.h"
#include "base/util.h"

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int hex_to_raw(const char *hex, uint8_t raw[32]) {
    if (!hex || strlen(hex) != 64) return -1;
    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return -1;
        raw[i] = (uint8_t)v;
    }
    return 0;
}

/* ---------------------------------------------------------------- reader */

pq_shard *pq_shard_open(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        pq_fail("%s: cannot open shard: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        pq_fail("%s: cannot stat shard: %s", path, strerror(errno));
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    if (size < PQ_SHARD_HEADER_BYTES) {
        close(fd);
        pq_fail("%s: truncated shard: %zu bytes, shorter than the %d-byte header", path, size, PQ_SHARD_HEADER_BYTES);
        return NULL;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        pq_fail("%s: cannot map shard: %s", path, strerror(errno));
        return NULL;
    }
    pq_shard *s = pq_calloc(1, sizeof *s);
    s->path = pq_strdup(path);
    s->map = map;
    s->map_bytes = size;
    const uint8_t *h = map;
    s->payload = h + PQ_SHARD_HEADER_BYTES;
    if (memcmp(h, PQ_SHARD_MAGIC, 8) != 0) {
        pq_fail("%s: not a token shard (bad magic)", path);
        goto fail;
    }
    s->version = get_u32(h + 8);
    s->token_bytes = get_u32(h + 12);
    s->vocab_size = get_u32(h + 16);
    s->n_tokens = get_u64(h + 24);
    s->n_docs = get_u64(h + 32);
    pq_hex_encode(h + 40, 32, s->vocab_hash);
    s->vocab_hash[64] = 0;
    if (s->version != PQ_SHARD_VERSION) {
        pq_fail("%s: shard format version %u, this pq reads version %d", path, s->version, PQ_SHARD_VERSION);
        goto fail;
    }
    if (s->token_bytes != 2 && s->token_bytes != 4) {
        pq_fail("%s: corrupt shard header: %u bytes per token", path, s->token_bytes);
        goto fail;
    }
    /* ids reach the engine as int32_t (pq_shard_read): a larger vocab would make them negative */
    if (s->vocab_size == 0 || s->vocab_size > INT32_MAX || (s->token_bytes == 2 && s->vocab_size > 65536)) {
        pq_fail("%s: corrupt shard header: vocab size %u with %u-byte tokens", path, s->vocab_size, s->token_bytes);
        goto fail;
    }
    uint64_t payload = size - PQ_SHARD_HEADER_BYTES;
    if (s->n_tokens > payload / s->token_bytes) {
        pq_fail("%s: truncated shard: header says %llu tokens, file holds %llu", path,
                (unsigned long long)s->n_tokens, (unsigned long long)(payload / s->token_bytes));
        goto fail;
    }
    if (payload != s->n_tokens * s->token_bytes) {
        pq_fail("%s: token count mismatch: header says %llu tokens, file holds %llu payload bytes", path,
                (unsigned long long)s->n_tokens, (unsigned long long)payload);
        goto fail;
    }
    uint8_t digest[32];
    pq_sha256 *sha = pq_sha256_begin();
    pq_sha256_update(sha, s->payload, payload);
    pq_sha256_end(sha, digest, s->payload_hash);
    if (memcmp(digest, h + 72, 32) != 0) {
        pq_fail("%s: checksum mismatch: the token payload is corrupt", path);
        goto fail;
    }
    for (uint64_t i = 0; i < s->n_tokens; i++) {
        uint32_t t = pq_shard_token(s, i);
        if (t >= s->vocab_size) {
            pq_fail("%s: token %llu has id %u, outside the vocab of %u", path, (unsigned long long)i, t, s->vocab_size);
            goto fail;
        }
    }
    return s;
fail:
    pq_shard_close(s);
    return NULL;
}

void pq_shard_close(pq_shard *s) {
    if (!s) return;
    if (s->map) munmap(s->map, s->map_bytes);
    free(s->path);
    free(s);
}

int pq_shard_read(const pq_shard *s, uint64_t start, uint64_t n, int32_t *out) {
    if (start > s->n_tokens || n > s->n_tokens - start)
        return pq_fail("%s: read of tokens [%llu, %llu) beyond the %llu in the shard", s->path,
                       (unsigned long long)start, (unsigned long long)(start + n), (unsigned long long)s->n_tokens);
    for (uint64_t i = 0; i < n; i++) out[i] = (int32_t)pq_shard_token(s, start + i);
    return 0;
}

int pq_shard_check_vocab(const pq_shard *s, const char *vocab_hash, uint32_t vocab_size) {
    if (s->vocab_size != vocab_size || strcmp(s->vocab_hash, vocab_hash) != 0)
        return pq_fail("%s: made by tokenizer %.12s (vocab %u), expected tokenizer %.12s (vocab %u)", s->path,
                       s->vocab_hash, s->vocab_size, vocab_hash, vocab_size);
    return 0;
}

/* ---------------------------------------------------------------- writer */

struct pq_shard_writer {
    pq_atomic_file af;
    uint32_t vocab_size, token_bytes;
    uint8_t vocab_hash[32];
    uint64_t n_tokens, n_docs;
    pq_sha256 *sha;
    uint8_t buf[1 << 16];
    size_t buf_used;
    int io_error;
};

pq_shard_writer *pq_shard_writer_open(const char *path, uint32_t vocab_size, const char *vocab_hash) {
    pq_shard_writer *w = pq_calloc(1, sizeof *w);
    if (vocab_size == 0 || hex_to_raw(vocab_hash, w->vocab_hash) != 0) {
        free(w);
        pq_fail("%s: shard needs a vocab size and a 64-digit tokenizer hash", path);
        return NULL;
    }
    if (pq_atomic_open(&w->af, path) != 0) {
        free(w);
        return NULL;
    }
    w->vocab_size = vocab_size;
    w->token_bytes = vocab_size <= 65536 ? 2 : 4;
    w->sha = pq_sha256_begin();
    uint8_t zero[PQ_SHARD_HEADER_BYTES] = {0}; /* the real header is written at commit */
    if (fwrite(zero, 1, sizeof zero, w->af.f) != sizeof zero) w->io_error = 1;
    return w;
}

static void flush_buf(pq_shard_writer *w) {
    if (!w->buf_used) return;
    pq_sha256_update(w->sha, w->buf, w->buf_used);
    if (fwrite(w->buf, 1, w->buf_used, w->af.f) != w->buf_used) w->io_error = 1;
    w->buf_used = 0;
}

int pq_shard_writer_add_doc(pq_shard_writer *w, const int32_t *tokens, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= w->vocab_size)
            pq_die("%s: token id %d outside vocab %u", w->af.path, tokens[i], w->vocab_size);
        if (w->buf_used + 4 > sizeof w->buf) flush_buf(w);
        uint32_t t = (uint32_t)tokens[i];
        for (uint32_t b = 0; b < w->token_bytes; b++) w->buf[w->buf_used++] = (uint8_t)(t >> (8 * b));
    }
    w->n_tokens += n;
    w->n_docs++;
    return w->io_error ? pq_fail("%s: write error", w->af.path) : 0;
}

uint64_t pq_shard_writer_tokens(const pq_shard_writer *w) { return w->n_tokens; }

int pq_shard_writer_commit(pq_shard_writer *w) {
    flush_buf(w);
    uint8_t h[PQ_SHARD_HEADER_BYTES] = {0};
    memcpy(h, PQ_SHARD_MAGIC, 8);
    put_u32(h + 8, PQ_SHARD_VERSION);
    put_u32(h + 12, w->token_bytes);
    put_u32(h + 16, w->vocab_size);
    put_u64(h + 24, w->n_tokens);
    put_u64(h + 32, w->n_docs);
    memcpy(h + 40, w->vocab_hash, 32);
    pq_sha256_end(w->sha, h + 72, NULL);
    w->sha = NULL;
    if (fseek(w->af.f, 0, SEEK_SET) != 0 || fwrite(h, 1, sizeof h, w->af.f) != sizeof h) w->io_error = 1;
    if (w->io_error) {
        pq_fail("%s: write error", w->af.path);
        pq_atomic_abort(&w->af);
        free(w);
        return -1;
    }
    int rc = pq_atomic_commit(&w->af);
    free(w);
    return rc;
}

void pq_shard_writer_abort(pq_shard_writer *w) {
    if (!w) return;
    if (w->sha) pq_sha256_end(w->sha, NULL, NULL);
    pq_atomic_abort(&w->af);
    free(w);
}

/* ---------------------------------------------------------------- shard sets */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* True if name is "<split>_<digits>.bin". */
static int is_numbered_shard(const char *name, const char *split) {
    size_t ls = strlen(split), ln = strlen(name);
    if (ln < ls + 6 || strncmp(name, split, ls) != 0 || name[ls] != '_') return 0;
    if (strcmp(name + ln - 4, ".bin") != 0) return 0;
    for (size_t i = ls + 1; i < ln - 4; i++)
        if (name[i] < '0' || name[i] > '9') return 0;
    return 1;
}

pq_shard_set *pq_shard_set_open(const char *dir, const char *split) {
    DIR *d = opendir(dir);
    if (!d) {
        pq_fail("%s: cannot open shard directory: %s", dir, strerror(errno));
        return NULL;
    }
    int n = 0, cap = 8;
    char **names = pq_malloc(cap * sizeof *names);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_numbered_shard(e->d_name, split)) continue;
        if (n == cap) names = pq_realloc(names, (cap *= 2) * sizeof *names);
        names[n++] = pq_path_join(dir, e->d_name);
    }
    closedir(d);
    if (n == 0) {
        char single[4096];
        snprintf(single, sizeof single, "%s/%s.bin", dir, split);
        if (pq_file_exists(single)) names[n++] = pq_strdup(single);
    }
    if (n == 0) {
        free(names);
        pq_fail("%s: no '%s' shards (%s_*.bin or %s.bin); run 'pq data build'", dir, split, split, split);
        return NULL;
    }
    qsort(names, n, sizeof *names, cmp_str);
    pq_shard_set *set = pq_calloc(1, sizeof *set);
    set->shards = pq_calloc(n, sizeof *set->shards);
    set->first = pq_calloc(n + 1, sizeof *set->first);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        pq_shard *s = pq_shard_open(names[i]);
        if (!s) {
            ok = 0;
            break;
        }
        set->shards[set->n_shards++] = s;
        if (i == 0) {
            set->vocab_size = s->vocab_size;
            memcpy(set->vocab_hash, s->vocab_hash, PQ_SHA256_HEX);
        } else if (pq_shard_check_vocab(s, set->vocab_hash, set->vocab_size) != 0) {
            ok = 0;
            break;
        }
        set->first[i] = set->n_tokens;
        set->n_tokens += s->n_tokens;
        set->n_docs += s->n_docs;
        set->first[i + 1] = set->n_tokens;
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!ok) {
        pq_shard_set_close(set);
        return NULL;
    }
    return set;
}

void pq_shard_set_close(pq_shard_set *set) {
    if (!set) return;
    for (int i = 0; i < set->n_shards; i++) pq_shard_close(set->shards[i]);
    free(set->shards);
    free(set->first);
    free(set);
}

/* The shard holding global token i: binary search over first[]. */
static int shard_of(const pq_shard_set *set, uint64_t i) {
    int lo = 0, hi = set->n_shards - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (set->first[mid] <= i) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

uint32_t pq_shard_set_token(const pq_shard_set *set, uint64_t i) {
    int k = shard_of(set, i);
    return pq_shard_token(set->shards[k], i - set->first[k]);
}

int pq_shard_set_read(const pq_shard_set *set, uint64_t start, uint64_t n, int32_t *out) {
    if (start > set->n_tokens || n > set->n_tokens - start)
        return pq_fail("shard set: read of tokens [%llu, %llu) beyond the %llu available", (unsigned long long)start,
                       (unsigned long long)(start + n), (unsigned long long)set->n_tokens);
    while (n > 0) {
        int k = shard_of(set, start);
        const pq_shard *s = set->shards[k];
        uint64_t local = start - set->first[k];
        uint64_t take = PQ_MIN(n, s->n_tokens - local);
        pq_shard_read(s, local, take, out);
        out += take;
        start += take;
        n -= take;
    }
    return 0;
}
