/* buf.h — a growable byte buffer: text and binary files built in memory before
 * one atomic write (the corpus decoders, GGUF export, SentencePiece
 * normalization, Slurm batch scripts). Start from {0}; pq_buf_free releases it. */
#ifndef PQ_BUF_H
#define PQ_BUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len, cap;
} pq_buf;

/* Room for extra more bytes and a NUL after them. */
void pq_buf_reserve(pq_buf *b, size_t extra);
void pq_buf_put(pq_buf *b, const void *data, size_t n);
void pq_buf_putc(pq_buf *b, char c);
void pq_buf_puts(pq_buf *b, const char *s);
void pq_buf_printf(pq_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* NUL-terminates without counting the NUL; returns data. */
char *pq_buf_cstr(pq_buf *b);
/* Removes trailing spaces, tabs and newlines. */
void pq_buf_rtrim(pq_buf *b);
void pq_buf_clear(pq_buf *b);
void pq_buf_free(pq_buf *b);

#endif
