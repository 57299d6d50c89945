/* test_sources_sink.h — a document sink that keeps everything in memory, for
 * the source-decoder tests (included by tests/unit/test_sources_*.c only). */
#ifndef TEST_SOURCES_SINK_H
#define TEST_SOURCES_SINK_H

#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/sources/source.h"

#define FIXTURE(name) "tests/fixtures/sources/" name

typedef struct {
    int n;
    char *id[4096];
    char *text[4096];
    int heldout[4096];
} mem_sink;

static int mem_emit(void *ctx, const char *id, const char *text, size_t n, int heldout) {
    mem_sink *m = ctx;
    if (m->n >= 4096) return pq_fail("mem_sink full");
    m->id[m->n] = pq_strdup(id);
    m->text[m->n] = pq_malloc(n + 1);
    memcpy(m->text[m->n], text, n);
    m->text[m->n][n] = 0;
    m->heldout[m->n] = heldout;
    m->n++;
    return 0;
}

static inline pq_sink mem_sink_of(mem_sink *m) {
    pq_sink s = {mem_emit, m};
    return s;
}

static inline void mem_sink_free(mem_sink *m) {
    for (int i = 0; i < m->n; i++) free(m->id[i]), free(m->text[i]);
    m->n = 0;
}

/* Index of the document with this id, or -1. */
static inline int mem_find(const mem_sink *m, const char *id) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->id[i], id)) return i;
    return -1;
}

#endif
