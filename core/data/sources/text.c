/* text.c — UTF-8 cleaning, paragraph reflow and a string set:
 * the plumbing every source decoder uses. */
#include "data/sources/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/util.h"

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static int utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int len;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 0;
    if ((size_t)len > n) return 0;
    unsigned cp = c & (0x3F >> (len - 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

int pq_utf8_valid(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) { i++; continue; }
        int k = utf8_seq(p + i, n - i);
        if (!k) return 0;
        i += (size_t)k;
    }
    return 1;
}

static void put_codepoint(pq_buf *b, unsigned cp) {
    char t[4];
    if (cp < 0x80) pq_buf_putc(b, (char)cp);
    else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6)), t[1] = (char)(0x80 | (cp & 0x3F));
        pq_buf_put(b, t, 2);
    } else {
        t[0] = (char)(0xE0 | (cp >> 12)), t[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), t[2] = (char)(0x80 | (cp & 0x3F));
        pq_buf_put(b, t, 3);
    }
}

/* Windows-1252's 0x80..0x9F (0 = undefined there: dropped). */
static const unsigned short cp1252_high[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

void pq_text_append_clean(pq_buf *out, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    int valid = pq_utf8_valid(s, n);
    pq_buf_reserve(out, n);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '\r') {
            pq_buf_putc(out, '\n');
            i += (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
        } else if (c < 0x20) {
            if (c == '\n' || c == '\t') pq_buf_putc(out, (char)c);
            i++;
        } else if (c == 0x7F) {
            i++;
        } else if (c < 0x80) {
            pq_buf_putc(out, (char)c);
            i++;
        } else if (valid) {
            int k = utf8_seq(p + i, n - i);
            pq_buf_put(out, p + i, (size_t)k);
            i += (size_t)k;
        } else {
            unsigned cp = c < 0xA0 ? cp1252_high[c - 0x80] : c;
            if (cp) put_codepoint(out, cp);
            i++;
        }
    }
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

void pq_text_reflow(pq_buf *out, const char *s, size_t n) {
    size_t start_len = out->len;
    int in_par = 0, pending_break = 0;
    size_t i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        size_t a = i, z = e;
        while (a < z && is_space(s[a])) a++;
        while (z > a && (is_space(s[z - 1]) || s[z - 1] == '\r')) z--;
        if (a == z) {
            if (in_par) pending_break = 1;
            in_par = 0;
        } else {
            if (pending_break && out->len > start_len) pq_buf_putc(out, '\n');
            else if (in_par) pq_buf_putc(out, ' ');
            pending_break = 0;
            int prev_space = 0;
            for (size_t k = a; k < z; k++) {
                if (is_space(s[k])) {
                    if (!prev_space) pq_buf_putc(out, ' ');
                    prev_space = 1;
                } else {
                    pq_buf_putc(out, s[k]);
                    prev_space = 0;
                }
            }
            in_par = 1;
        }
        i = e + 1;
    }
}

int64_t pq_text_words(const char *s, size_t n) {
    int64_t w = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        int sp = s[i] == ' ' || s[i] == '\n' || s[i] == '\t';
        if (!sp && !in) w++;
        in = !sp;
    }
    return w;
}

/* ---- string set: open addressing, FNV-1a ---------------------------------- */

static void strset_insert(char **slots, size_t cap, char *key) {
    size_t i = (size_t)pq_fnv1a64(key, strlen(key)) & (cap - 1);
    while (slots[i]) i = (i + 1) & (cap - 1);
    slots[i] = key;
}

void pq_strset_add(pq_strset *s, const char *key) {
    if (pq_strset_has(s, key)) return;
    if ((s->count + 1) * 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        char **slots = pq_calloc(cap, sizeof(char *));
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i]) strset_insert(slots, cap, s->slots[i]);
        free(s->slots);
        s->slots = slots;
        s->cap = cap;
    }
    strset_insert(s->slots, s->cap, pq_strdup(key));
    s->count++;
}

int pq_strset_has(const pq_strset *s, const char *key) {
    if (!s->cap) return 0;
    size_t i = (size_t)pq_fnv1a64(key, strlen(key)) & (s->cap - 1);
    while (s->slots[i]) {
        if (!strcmp(s->slots[i], key)) return 1;
        i = (i + 1) & (s->cap - 1);
    }
    return 0;
}

void pq_strset_free(pq_strset *s) {
    for (size_t i = 0; i < s->cap; i++) free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

int pq_sink_emit(pq_sink *sink, const char *id, const char *text, size_t n, int heldout) {
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\n' || text[n - 1] == '\t')) n--;
    size_t a = 0;
    while (a < n && (text[a] == ' ' || text[a] == '\n' || text[a] == '\t')) a++;
    if (a == n) return 0;
    return sink->emit(sink->ctx, id, text + a, n - a, heldout);
}

int pq_fail_in(const char *what) { return pq_fail_prefix("%s", what); }
