/* buf.c — the growable byte buffer of buf.h. */
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

void pq_buf_reserve(pq_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = pq_realloc(b->data, cap);
    b->cap = cap;
}

void pq_buf_put(pq_buf *b, const void *data, size_t n) {
    pq_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, data, n); /* data may be NULL when n is 0 */
    b->len += n;
}

void pq_buf_putc(pq_buf *b, char c) {
    pq_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

void pq_buf_puts(pq_buf *b, const char *s) { pq_buf_put(b, s, strlen(s)); }

void pq_buf_printf(pq_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    pq_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *pq_buf_cstr(pq_buf *b) {
    pq_buf_reserve(b, 0);
    b->data[b->len] = 0;
    return b->data;
}

void pq_buf_clear(pq_buf *b) { b->len = 0; }

void pq_buf_free(pq_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void pq_buf_rtrim(pq_buf *b) {
    while (b->len && (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\t'))
        b->len--;
}
