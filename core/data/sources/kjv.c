/* kjv.c — the King James Bible of Debian's bible-kjv-text (/usr/lib/bible.data).
 *
 * The container (as found in bible-kjv-text 4.38; all integers big-endian):
 *   84 bytes   magic "EC02" + "Compressed Data File", zero padded
 *   u32        window size W (65536): uncompressed bytes per window
 *   u32        window count N
 *   u32[N+1]   file offsets of the windows; offset[N] = file size
 *   3 bytes    a Unix compress header (1F 9D, flags: block mode | max bits)
 *   N windows, each an independent Unix-compress LZW stream without header
 *              that decodes to W bytes (the last one to at most W).
 * The concatenated windows are plain text, one verse per line:
 *   "Ge1:1 In the beginning God created the heaven and the earth."
 * We emit one document per chapter, one verse per line, references dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsio.h"
#include "base/util.h"
#include "data/sources/source.h"

/* ---- Unix compress LZW ------------------------------------------------------ */

/* compress writes codes in groups of 8; when the code width changes (or after a
 * CLEAR) the rest of the current group is padding. We count the codes read at
 * the current width and skip to the next group boundary, as ncompress does. */
int pq_lzw_decode(const uint8_t *in, size_t n, int maxbits, pq_buf *out) {
    if (maxbits < 9 || maxbits > 16) return pq_fail("LZW: max code width %d out of range 9..16", maxbits);
    enum { CLEAR = 256, FIRST = 257 };
    uint32_t maxmaxcode = 1u << maxbits;
    uint16_t *prefix = pq_malloc(sizeof(uint16_t) << 16);
    uint8_t *suffix = pq_malloc(1u << 16);
    uint8_t *stack = pq_malloc(1u << 16);
    for (int i = 0; i < 256; i++) suffix[i] = (uint8_t)i, prefix[i] = 0;
    int n_bits = 9;
    uint32_t maxcode = (1u << n_bits) - 1, free_ent = FIRST;
    uint64_t bitpos = 0, total = (uint64_t)n * 8, group_codes = 0;
    int32_t oldcode = -1;
    uint8_t finchar = 0;
    int rc = 0;
    for (;;) {
        if (free_ent > maxcode) {
            uint64_t r = group_codes % 8;
            if (r) bitpos += (8 - r) * (uint64_t)n_bits;
            group_codes = 0;
            n_bits++;
            maxcode = n_bits == maxbits ? maxmaxcode : (1u << n_bits) - 1;
        }
        if (bitpos + (uint64_t)n_bits > total) break;
        /* Read n_bits (<= 16) least-significant-bit first; 3 bytes always cover them. */
        size_t byte = (size_t)(bitpos >> 3);
        uint32_t w = in[byte];
        if (byte + 1 < n) w |= (uint32_t)in[byte + 1] << 8;
        if (byte + 2 < n) w |= (uint32_t)in[byte + 2] << 16;
        uint32_t code = (w >> (bitpos & 7)) & ((1u << n_bits) - 1);
        bitpos += (uint64_t)n_bits;
        group_codes++;
        if (oldcode == -1) {
            if (code >= 256) { rc = pq_fail("LZW: first code %u is not a literal", code); break; }
            finchar = (uint8_t)code;
            oldcode = (int32_t)code;
            pq_buf_putc(out, (char)finchar);
            continue;
        }
        if (code == CLEAR) {
            free_ent = FIRST - 1;
            uint64_t r = group_codes % 8;
            if (r) bitpos += (8 - r) * (uint64_t)n_bits;
            group_codes = 0;
            n_bits = 9;
            maxcode = (1u << n_bits) - 1;
            continue;
        }
        uint32_t incode = code, sp = 1u << 16;
        if (code >= free_ent) { /* the KwKwK case: the code being defined right now */
            if (code > free_ent) { rc = pq_fail("LZW: code %u beyond the table (%u) at bit %llu", code, free_ent,
                                                (unsigned long long)(bitpos - (uint64_t)n_bits)); break; }
            stack[--sp] = finchar;
            code = (uint32_t)oldcode;
        }
        while (code >= 256) {
            stack[--sp] = suffix[code];
            code = prefix[code];
        }
        finchar = suffix[code];
        stack[--sp] = finchar;
        pq_buf_put(out, stack + sp, (1u << 16) - sp);
        if (free_ent < maxmaxcode) {
            prefix[free_ent] = (uint16_t)oldcode;
            suffix[free_ent] = finchar;
            free_ent++;
        }
        oldcode = (int32_t)incode;
    }
    free(prefix);
    free(suffix);
    free(stack);
    return rc;
}

/* ---- the container ---------------------------------------------------------- */

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

int pq_kjv_unpack(const uint8_t *data, size_t n, const char *what, pq_buf *out) {
    if (n < 0x5c || memcmp(data, "EC02", 4)) return pq_fail("%s: not a bible-kjv data file (magic EC02 missing)", what);
    uint32_t wsize = be32(data + 0x54), nwin = be32(data + 0x58);
    if (wsize == 0 || nwin == 0 || nwin > 100000 || 0x5c + 4 * ((size_t)nwin + 1) + 3 > n)
        return pq_fail("%s: truncated window table (%u windows)", what, nwin);
    const uint8_t *tab = data + 0x5c;
    size_t first = be32(tab);
    size_t hdr = 0x5c + 4 * ((size_t)nwin + 1);
    if (first != hdr + 3 || data[hdr] != 0x1F || data[hdr + 1] != 0x9D || !(data[hdr + 2] & 0x80))
        return pq_fail("%s: no Unix compress header before the first window", what);
    int maxbits = data[hdr + 2] & 0x1F;
    if (be32(tab + 4 * (size_t)nwin) != n)
        return pq_fail("%s: truncated: window table ends at %u, file has %zu bytes", what, be32(tab + 4 * (size_t)nwin), n);
    for (uint32_t i = 0; i < nwin; i++) {
        size_t a = be32(tab + 4 * (size_t)i), b = be32(tab + 4 * ((size_t)i + 1));
        if (a > b || b > n) return pq_fail("%s: window %u has a bad extent [%zu, %zu)", what, i, a, b);
        size_t before = out->len;
        if (pq_lzw_decode(data + a, b - a, maxbits, out)) {
            char w[512];
            snprintf(w, sizeof w, "%s: window %u", what, i);
            return pq_fail_in(w);
        }
        size_t got = out->len - before;
        if (got > wsize || (i + 1 < nwin && got != wsize))
            return pq_fail("%s: window %u decodes to %zu bytes, expected %u", what, i, got, wsize);
    }
    return 0;
}

/* ---- verses to chapters ----------------------------------------------------- */

/* The file's book abbreviations and their OSIS names. */
static const char *kjv_books[][2] = {
    {"Ge", "Gen"},     {"Exo", "Exod"},   {"Lev", "Lev"},     {"Num", "Num"},     {"Deu", "Deut"},  {"Josh", "Josh"},
    {"Jdgs", "Judg"},  {"Ruth", "Ruth"},  {"1Sm", "1Sam"},    {"2Sm", "2Sam"},    {"1Ki", "1Kgs"},  {"2Ki", "2Kgs"},
    {"1Chr", "1Chr"},  {"2Chr", "2Chr"},  {"Ezra", "Ezra"},   {"Neh", "Neh"},     {"Est", "Esth"},  {"Job", "Job"},
    {"Psa", "Ps"},     {"Prv", "Prov"},   {"Eccl", "Eccl"},   {"SSol", "Song"},   {"Isa", "Isa"},   {"Jer", "Jer"},
    {"Lam", "Lam"},    {"Eze", "Ezek"},   {"Dan", "Dan"},     {"Hos", "Hos"},     {"Joel", "Joel"}, {"Amos", "Amos"},
    {"Obad", "Obad"},  {"Jonah", "Jonah"}, {"Mic", "Mic"},    {"Nahum", "Nah"},   {"Hab", "Hab"},   {"Zep", "Zeph"},
    {"Hag", "Hag"},    {"Zec", "Zech"},   {"Mal", "Mal"},     {"Mat", "Matt"},    {"Mark", "Mark"}, {"Luke", "Luke"},
    {"John", "John"},  {"Acts", "Acts"},  {"Rom", "Rom"},     {"1Cor", "1Cor"},   {"2Cor", "2Cor"}, {"Gal", "Gal"},
    {"Eph", "Eph"},    {"Phi", "Phil"},   {"Col", "Col"},     {"1Th", "1Thess"},  {"2Th", "2Thess"}, {"1Tim", "1Tim"},
    {"2Tim", "2Tim"},  {"Titus", "Titus"}, {"Phmn", "Phlm"},  {"Heb", "Heb"},     {"Jas", "Jas"},   {"1Pet", "1Pet"},
    {"2Pet", "2Pet"},  {"1Jn", "1John"},  {"2Jn", "2John"},   {"3Jn", "3John"},   {"Jude", "Jude"}, {"Rev", "Rev"},
};

static const char *kjv_osis(const char *abbr, size_t n) {
    for (size_t i = 0; i < PQ_COUNT(kjv_books); i++)
        if (strlen(kjv_books[i][0]) == n && !memcmp(kjv_books[i][0], abbr, n)) return kjv_books[i][1];
    return NULL;
}

static int flush_chapter(pq_sink *sink, const char *book, int chapter, pq_buf *text) {
    if (!book || !text->len) return 0;
    char id[64];
    snprintf(id, sizeof id, "kjv/%s.%d", book, chapter);
    int rc = pq_sink_emit(sink, id, text->data, text->len, pq_split_bible_book_heldout(book));
    pq_buf_clear(text);
    return rc;
}

int pq_kjv_emit(const char *text, size_t n, pq_sink *sink) {
    pq_buf doc = {0};
    const char *book = NULL;
    int chapter = 0, rc = 0, lineno = 0;
    size_t i = 0;
    while (i < n && !rc) {
        size_t e = i;
        while (e < n && text[e] != '\n') e++;
        lineno++;
        /* "<abbr><chapter>:<verse> <text>"; the abbreviation may start with a digit. */
        size_t k = i;
        if (k < e && text[k] >= '1' && text[k] <= '3') k++;
        while (k < e && ((text[k] >= 'A' && text[k] <= 'Z') || (text[k] >= 'a' && text[k] <= 'z'))) k++;
        size_t abbr_end = k;
        int ch = 0, vs = 0;
        while (k < e && text[k] >= '0' && text[k] <= '9') ch = ch * 10 + (text[k++] - '0');
        int ok = abbr_end > i && ch > 0 && k < e && text[k] == ':';
        if (ok) {
            k++;
            while (k < e && text[k] >= '0' && text[k] <= '9') vs = vs * 10 + (text[k++] - '0');
            ok = vs > 0 && k < e && text[k] == ' ';
        }
        if (!ok) {
            if (lineno > 1 && e > i) { rc = pq_fail("KJV text line %d: not a verse", lineno); break; }
            i = e + 1;
            continue; /* the title line */
        }
        const char *osis = kjv_osis(text + i, abbr_end - i);
        if (!osis) { rc = pq_fail("KJV text line %d: unknown book '%.*s'", lineno, (int)(abbr_end - i), text + i); break; }
        if (osis != book || ch != chapter) {
            rc = flush_chapter(sink, book, chapter, &doc);
            book = osis, chapter = ch;
        }
        size_t a = k + 1, z = e;
        while (z > a && (text[z - 1] == ' ' || text[z - 1] == '\r')) z--;
        pq_buf_put(&doc, text + a, z - a);
        pq_buf_putc(&doc, '\n');
        i = e + 1;
    }
    if (!rc) rc = flush_chapter(sink, book, chapter, &doc);
    pq_buf_free(&doc);
    return rc;
}

/* files: usr/lib/bible.data */
int pq_decode_kjv(pq_decode_ctx *ctx) {
    if (ctx->nfiles != 1) return pq_fail("%s: the kjv decoder wants 1 file (bible.data), got %d", ctx->name, ctx->nfiles);
    size_t n;
    char *data = pq_read_file(ctx->files[0], &n);
    if (!data) return -1;
    pq_buf text = {0};
    int rc = pq_kjv_unpack((const uint8_t *)data, n, ctx->files[0], &text);
    free(data);
    if (!rc && !pq_utf8_valid(text.data, text.len)) {
        pq_buf clean = {0};
        pq_text_append_clean(&clean, text.data, text.len);
        pq_buf_free(&text);
        text = clean;
    }
    if (!rc && (rc = pq_kjv_emit(text.data, text.len, ctx->sink))) pq_fail_in(ctx->files[0]);
    pq_buf_free(&text);
    return rc;
}
