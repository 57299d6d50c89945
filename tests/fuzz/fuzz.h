/* fuzz.h — what the libFuzzer targets in tests/fuzz share.
 *
 * Most parsers read from a path, so a target writes its input to a file in a
 * private directory made once per process under $TMPDIR (`make fuzz` points
 * that into the fuzz build directory) and removed at exit. A property a target
 * checks on a parse that succeeded (a round trip, a bound) fails with
 * FUZZ_CHECK, which aborts: libFuzzer reports it like any crash. */
#ifndef PQ_FUZZ_H
#define PQ_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"

#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static char fuzz_dir_path[4096];

static void fuzz_remove_dir(void) {
    if (fuzz_dir_path[0]) pq_remove_tree(fuzz_dir_path);
}

/* The per-process directory (created on first use). */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/pq-fuzz-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir_path)) {
            perror(fuzz_dir_path);
            abort();
        }
        atexit(fuzz_remove_dir);
    }
    return fuzz_dir_path;
}

/* Writes data to <dir>/<name> (replacing it) and returns the path, valid until the next call. */
static inline const char *fuzz_file(const char *name, const void *data, size_t n) {
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* <dir>/<name>, a place for a target to write a copy; valid until the next call. */
static inline const char *fuzz_path(const char *name) {
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    return path;
}

#endif
