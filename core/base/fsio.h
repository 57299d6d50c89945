/* fsio.h — file I/O that never leaves a half-written artifact behind.
 *
 * Every result, checkpoint and shard is written to "<path>.tmp.<pid>" and
 * renamed into place after fsync, so a crash leaves either the old file or the
 * new one, never a truncated mix. */
#ifndef PQ_FSIO_H
#define PQ_FSIO_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char *path;     /* final destination */
    char *tmp_path; /* where the bytes go until commit */
} pq_atomic_file;

/* Opens a temporary file next to path (creating parent directories). */
int pq_atomic_open(pq_atomic_file *af, const char *path);
/* Flushes, fsyncs and renames into place; on any error removes the temp file. */
int pq_atomic_commit(pq_atomic_file *af);
/* Closes and removes the temp file (use on error paths). */
void pq_atomic_abort(pq_atomic_file *af);

int pq_write_file_atomic(const char *path, const void *data, size_t n);
/* Reads a whole file into a NUL-terminated buffer; NULL + pq_error() on failure. */
char *pq_read_file(const char *path, size_t *n_out);

/* mkdir -p. */
int pq_mkdirs(const char *path);
int pq_file_exists(const char *path);
/* rm -rf of a directory tree (used to discard half-written run directories). */
int pq_remove_tree(const char *path);
/* path joined with name into a new string. */
char *pq_path_join(const char *dir, const char *name);

#endif
