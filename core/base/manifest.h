/* manifest.h — what made an artifact, written next to it.
 *
 * A manifest is a JSON object:
 *   { "kind", "config", "code_version", "inputs": {name: {path, sha256}},
 *     "machine": {hostname, cpu, cores, os, compiler, cpu_flags},
 *     "libraries": {openblas, openblas_core, openblas_core_choice: {detected, chosen, why},
 *                   zstd, jansson, openssl},
 *     "threads", "world_size" (MPI ranks; "mpi": the library, when over 1), "started_utc",
 *     "wall_seconds" }
 * Results files embed it under "manifest"; run ids hash config + inputs + code. */
#ifndef PQ_MANIFEST_H
#define PQ_MANIFEST_H

#include <jansson.h>

/* The code version baked in at build time (git describe --always --dirty). */
const char *pq_code_version(void);

/* A new manifest: kind (e.g. "pretrain"), a copy of config (may be NULL). */
json_t *pq_manifest_new(const char *kind, const json_t *config);
/* Records an input file with its SHA-256; -1 + pq_error() if unreadable. */
int pq_manifest_add_input(json_t *manifest, const char *name, const char *path);
/* Records an input known by hash only (e.g. a run id). */
void pq_manifest_add_input_hash(json_t *manifest, const char *name, const char *sha256);
/* Stamps wall time since pq_manifest_new(). */
void pq_manifest_finish(json_t *manifest);

/* The machine and library description alone (also used by benchmarks). */
json_t *pq_machine_info(void);
json_t *pq_library_info(void);
/* Threads pq uses for its own loops and for OpenBLAS. */
int pq_threads(void);
void pq_set_threads(int n);

/* Writes JSON (indented, sorted keys, trailing newline) atomically. */
int pq_json_write(const json_t *value, const char *path);
/* A benchmark's last step: finishes `manifest`, stores it as doc's "manifest"
 * (taking the caller's reference) and writes doc to dir/name atomically.
 * Returns the path written (free it), or NULL + pq_error(). doc stays the
 * caller's. */
char *pq_write_result(json_t *doc, json_t *manifest, const char *dir, const char *name);
/* Loads a JSON file; NULL + pq_error() "<path>:<line>:<col>: <what>" on a parse error. */
json_t *pq_json_read(const char *path);

#endif
