#include "eval/text.h"

/* Decodes one code point at s (UTF-8); returns its byte length (>= 1). An
 * invalid or truncated sequence decodes as one byte, as a lone code point. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp) {
    unsigned c = s[0];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || n > len) {
        *cp = c;
        return 1;
    }
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = c;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return n;
}

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. */
static int py_isspace(uint32_t c) {
    if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f);
    return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

int64_t pq_utf8_length(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    int64_t n = 0;
    uint32_t cp;
    for (size_t i = 0; i < len; i += utf8_next(u + i, len - i, &cp)) n++;
    return n;
}

size_t pq_text_rstrip_len(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t keep = 0; /* bytes up to the end of the last non-space code point */
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_next(u + i, len - i, &cp);
        i += n;
        if (!py_isspace(cp)) keep = i;
    }
    return keep;
}

int64_t pq_text_count_words(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    int64_t pieces = 1;
    int in_space = 0;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        i += utf8_next(u + i, len - i, &cp);
        int sp = py_isspace(cp);
        if (sp && !in_space) pieces++;
        in_space = sp;
    }
    return pieces;
}
