#include "base/hash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/util.h"

struct pq_sha256 {
    EVP_MD_CTX *ctx;
};

pq_sha256 *pq_sha256_begin(void) {
    pq_sha256 *h = pq_malloc(sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) pq_die("libcrypto: cannot start SHA-256");
    return h;
}

void pq_sha256_update(pq_sha256 *h, const void *data, size_t n) {
    if (n) EVP_DigestUpdate(h->ctx, data, n);
}

void pq_sha256_end(pq_sha256 *h, uint8_t raw[32], char hex[PQ_SHA256_HEX]) {
    uint8_t digest[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(h->ctx, digest, &len);
    EVP_MD_CTX_free(h->ctx);
    free(h);
    if (raw) memcpy(raw, digest, 32);
    if (hex) pq_hex_encode(digest, 32, hex);
}

void pq_sha256_hex(const void *data, size_t n, char hex[PQ_SHA256_HEX]) {
    pq_sha256 *h = pq_sha256_begin();
    pq_sha256_update(h, data, n);
    pq_sha256_end(h, NULL, hex);
}

int pq_sha256_file(const char *path, char hex[PQ_SHA256_HEX]) {
    FILE *f = fopen(path, "rb");
    if (!f) return pq_fail("%s: cannot open: %s", path, strerror(errno));
    pq_sha256 *h = pq_sha256_begin();
    static _Thread_local unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) pq_sha256_update(h, buf, n);
    int failed = ferror(f);
    fclose(f);
    pq_sha256_end(h, NULL, hex);
    return failed ? pq_fail("%s: read error", path) : 0;
}

char *pq_json_canonical(const json_t *value) {
    char *s = json_dumps(value, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!s) pq_die("jansson: cannot serialize JSON");
    return s;
}

void pq_sha256_json(const json_t *value, char hex[PQ_SHA256_HEX]) {
    char *s = pq_json_canonical(value);
    pq_sha256_hex(s, strlen(s), hex);
    free(s);
}

uint64_t pq_fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint64_t pq_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    x *= 0xC4CEB9FE1A85EC53ull;
    x ^= x >> 33;
    return x;
}

void pq_hex_encode(const uint8_t *raw, size_t n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[raw[i] >> 4];
        hex[2 * i + 1] = digits[raw[i] & 15];
    }
    hex[2 * n] = '\0';
}
