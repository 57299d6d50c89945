/* util.h — errors, allocation and time: the few things every module needs.
 *
 * Error convention (as in SQLite): library functions that can fail on bad input
 * return -1 (or NULL) after recording a one-line message with pq_fail(); the
 * caller reads it with pq_error(). Only the command layer prints and exits.
 * Allocation failure is not bad input: the pq_* allocators abort with a message. */
#ifndef PQ_UTIL_H
#define PQ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define PQ_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Records a one-line error message (printf-style) and returns -1. The message
 * is formatted into a separate buffer first, so an argument that is pq_error()
 * itself reads the old message, not a half-written new one; but to add context
 * to the current message use pq_fail_prefix, not pq_fail("%s: %s", x, pq_error()). */
int pq_fail(const char *fmt, ...) PQ_PRINTF(1, 2);
/* Prepends "<formatted>: " to the current message and returns -1:
 * pq_fail_prefix("%s: layer %d", path, 3) turns "bad magic" into
 * "path: layer 3: bad magic". */
int pq_fail_prefix(const char *fmt, ...) PQ_PRINTF(1, 2);
/* The last message recorded by pq_fail() on this thread ("" if none). */
const char *pq_error(void);

/* Prints "pq: <message>" to stderr and exits with status 1. */
_Noreturn void pq_die(const char *fmt, ...) PQ_PRINTF(1, 2);

void *pq_malloc(size_t n);
void *pq_calloc(size_t count, size_t size);
void *pq_realloc(void *p, size_t n);
char *pq_strdup(const char *s);
/* 64-byte aligned (one cache line / one AVX-512 register); release with free(). */
void *pq_aligned_alloc(size_t n);
/* Like pq_aligned_alloc, but from n = 2 MiB on the block is 2 MiB-aligned and
 * the kernel is asked to back it with huge pages (transparent huge pages in
 * "madvise" mode, Debian's default): a decoder streams tens of megabytes of
 * weights per token, and 4 KiB pages cost a TLB miss every 4 KiB. free() it. */
void *pq_huge_alloc(size_t n);
/* Zeroed, page-aligned memory straight from the kernel (mmap): pages cost
 * nothing until first written, so a buffer that is never touched (a model's
 * gradients in eval) never counts in the resident set. Release with
 * pq_pages_free(p, n) with the same n. */
void *pq_pages_alloc(size_t n);
void pq_pages_free(void *p, size_t n);
/* Gives the whole pages inside [p, p + n) back to the kernel: they read as zero
 * afterwards and count in the resident set again only once written. For
 * scratch whose contents are dead (gradients between steps). */
void pq_pages_release(void *p, size_t n);

/* Seconds on a monotonic clock. */
double pq_now(void);

#define PQ_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PQ_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PQ_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
