/* hash.h — content hashes for run ids, manifests and source verification.
 *
 * SHA-256 (through OpenSSL's libcrypto) names artifacts: files, configs, runs.
 * FNV-1a 64 is the cheap non-cryptographic hash for in-memory decisions such as
 * "is this fortune in the held-out 2%" — stable across machines and versions. */
#ifndef PQ_HASH_H
#define PQ_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PQ_SHA256_HEX 65 /* 64 hex digits + NUL */

typedef struct pq_sha256 pq_sha256;

pq_sha256 *pq_sha256_begin(void);
void pq_sha256_update(pq_sha256 *h, const void *data, size_t n);
/* Writes the digest (raw 32 bytes and/or hex; either may be NULL) and frees h. */
void pq_sha256_end(pq_sha256 *h, uint8_t raw[32], char hex[PQ_SHA256_HEX]);

void pq_sha256_hex(const void *data, size_t n, char hex[PQ_SHA256_HEX]);
/* Hash of a file's bytes; -1 with pq_error() naming the file if it cannot be read. */
int pq_sha256_file(const char *path, char hex[PQ_SHA256_HEX]);
/* Hash of a JSON value in canonical form (sorted keys, compact, exact reals). */
void pq_sha256_json(const json_t *value, char hex[PQ_SHA256_HEX]);
/* The canonical serialization used above; caller frees. */
char *pq_json_canonical(const json_t *value);

uint64_t pq_fnv1a64(const void *data, size_t n);
/* MurmurHash3's 64-bit finalizer: every input bit moves every output bit (FNV-1a
 * barely mixes its last bytes into the high bits; hash tables index by low bits). */
uint64_t pq_mix64(uint64_t x);

void pq_hex_encode(const uint8_t *raw, size_t n, char *hex);

#endif
