#include "base/util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/mman.h>
#include <unistd.h>

#define PQ_ERROR_MAX 1024
static _Thread_local char last_error[PQ_ERROR_MAX];

/* vsnprintf into a buffer that is also one of its arguments is undefined
 * behaviour (it garbled "X: %s" with pq_error() into "X: X: ..."), so every
 * message is formatted into a scratch buffer and then copied. */
int pq_fail(const char *fmt, ...) {
    char msg[PQ_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* An error is one line: control characters quoted from an input file
     * (a JSON string's "\n", say) become '?'. */
    for (char *c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    memcpy(last_error, msg, sizeof msg);
    return -1;
}

int pq_fail_prefix(const char *fmt, ...) {
    char prefix[PQ_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    return pq_fail("%s: %s", prefix, last_error);
}

const char *pq_error(void) { return last_error; }

void pq_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("pq: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *check_alloc(void *p, size_t n) {
    if (!p && n) pq_die("out of memory allocating %zu bytes", n);
    return p;
}

void *pq_malloc(size_t n) { return check_alloc(malloc(n ? n : 1), n); }
void *pq_calloc(size_t count, size_t size) { return check_alloc(calloc(count ? count : 1, size ? size : 1), count * size); }
void *pq_realloc(void *p, size_t n) { return check_alloc(realloc(p, n ? n : 1), n); }
char *pq_strdup(const char *s) { return check_alloc(strdup(s), strlen(s) + 1); }

void *pq_aligned_alloc(size_t n) {
    size_t rounded = (n + 63) & ~(size_t)63;
    return check_alloc(aligned_alloc(64, rounded ? rounded : 64), n);
}

/* 2 MiB: the huge page size on x86-64 and most arm64 kernels. */
#define HUGE_PAGE ((size_t)2 << 20)

void *pq_huge_alloc(size_t n) {
    if (n < HUGE_PAGE) return pq_aligned_alloc(n);
    size_t rounded = (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = check_alloc(aligned_alloc(HUGE_PAGE, rounded), n);
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE); /* advice only: without it the memory is still there */
#endif
    return p;
}

void *pq_pages_alloc(size_t n) {
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return check_alloc(p == MAP_FAILED ? NULL : p, n ? n : 1);
}

void pq_pages_free(void *p, size_t n) {
    if (p) munmap(p, n ? n : 1);
}

void pq_pages_release(void *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (p && hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

double pq_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
