/* pack.c — packing and unpacking the row formats of pack.h. */
#include "kernels/pack.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

static const struct {
    const char *name;
    double bits;
    int levels;
    int block;
    size_t block_bytes;
} format_info[PQ_FMT_COUNT] = {
    [PQ_FMT_B1] = {"b1", 1.0, 2, PQ_BLOCK, 32},
    [PQ_FMT_T2] = {"t2", 2.0, 3, PQ_BLOCK, 64},
    [PQ_FMT_T1_6] = {"t1.6", 1.6, 3, PQ_BLOCK_T1_6, 64},
    [PQ_FMT_B2] = {"b2", 2.0, 4, PQ_BLOCK, 64},
    [PQ_FMT_B3] = {"b3", 3.0, 8, PQ_BLOCK, 96},
    [PQ_FMT_B4] = {"b4", 4.0, 16, PQ_BLOCK, 128},
    [PQ_FMT_B8] = {"b8", 8.0, 256, PQ_BLOCK, 256},
};

const char *pq_format_name(pq_format f) { return (unsigned)f < PQ_FMT_COUNT ? format_info[f].name : "?"; }
double pq_format_bits(pq_format f) { return format_info[f].bits; }
int pq_format_levels(pq_format f) { return format_info[f].levels; }

int pq_format_parse(const char *name, pq_format *out) {
    for (int f = 0; f < PQ_FMT_COUNT; f++)
        if (!strcmp(name, format_info[f].name)) {
            *out = (pq_format)f;
            return 0;
        }
    return pq_fail("unknown packed format '%s' (b1, t2, t1.6, b2, b3, b4, b8)", name);
}

int pq_format_for_levels(int levels, int ternary_1_6, pq_format *out) {
    if (levels < 2 || levels > 256) return pq_fail("no packed format holds %d levels", levels);
    if (levels == 2) *out = PQ_FMT_B1;
    else if (levels == 3) *out = ternary_1_6 ? PQ_FMT_T1_6 : PQ_FMT_T2;
    else if (levels <= 4) *out = PQ_FMT_B2;
    else if (levels <= 8) *out = PQ_FMT_B3;
    else if (levels <= 16) *out = PQ_FMT_B4;
    else *out = PQ_FMT_B8;
    return 0;
}

/* --- where one code lives inside a block ------------------------------------ */

static void put_bits(uint8_t *b, int shift, int nbits, int u) {
    b[0] = (uint8_t)(b[0] | ((u & ((1 << nbits) - 1)) << shift));
}
static int get_bits(const uint8_t *b, int shift, int nbits) { return (b[0] >> shift) & ((1 << nbits) - 1); }

/* Trit k (0..4) of a T1_6 byte, by the same arithmetic the SIMD kernels use. */
static int t16_trit(uint8_t q, int k) {
    unsigned m = q;
    for (int i = 0; i < k; i++) m = (m * 3) & 0xFF;
    return (int)((m * 3) >> 8);
}

static void pack_block(pq_format f, const uint8_t *u, int n, uint8_t *out) {
    /* u holds n <= block codes; missing ones are code 0 (the block is zeroed by the caller). */
    switch (f) {
    case PQ_FMT_B1:
        for (int i = 0; i < n; i++) put_bits(out + i % 32, i / 32, 1, u[i]);
        break;
    case PQ_FMT_T2:
    case PQ_FMT_B2:
        for (int i = 0; i < n; i++) put_bits(out + i % 64, 2 * (i / 64), 2, u[i]);
        break;
    case PQ_FMT_B3:
        for (int i = 0; i < n; i++) {
            put_bits(out + i % 64, 2 * (i / 64), 2, u[i] & 3);
            put_bits(out + 64 + i % 32, i / 32, 1, u[i] >> 2);
        }
        break;
    case PQ_FMT_B4:
        for (int i = 0; i < n; i++) put_bits(out + (i / 128) * 64 + i % 64, 4 * ((i / 64) % 2), 4, u[i]);
        break;
    case PQ_FMT_B8:
        memcpy(out, u, (size_t)n);
        break;
    case PQ_FMT_T1_6:
        for (int j = 0; j < 64; j++) {
            unsigned v = 0;
            for (int k = 0; k < 5; k++) {
                int i = 64 * k + j;
                v = v * 3 + (unsigned)(i < n ? u[i] : 0);
            }
            out[j] = (uint8_t)((v * 256 + 242) / 243); /* ceil(v·256/243) */
        }
        break;
    default:
        break;
    }
}

/* The tail layout: n <= 64 codes of one tail vector. */
static void pack_tail(pq_format f, const uint8_t *u, int n, uint8_t *out) {
    switch (f) {
    case PQ_FMT_B1:
        for (int i = 0; i < n; i++) put_bits(out + i % 8, i / 8, 1, u[i]);
        break;
    case PQ_FMT_T2:
    case PQ_FMT_B2:
        for (int i = 0; i < n; i++) put_bits(out + i % 16, 2 * (i / 16), 2, u[i]);
        break;
    case PQ_FMT_B3:
        for (int i = 0; i < n; i++) {
            put_bits(out + i % 16, 2 * (i / 16), 2, u[i] & 3);
            put_bits(out + 16 + i % 8, i / 8, 1, u[i] >> 2);
        }
        break;
    case PQ_FMT_B4:
        for (int i = 0; i < n; i++) put_bits(out + i % 32, 4 * (i / 32), 4, u[i]);
        break;
    case PQ_FMT_B8:
        memcpy(out, u, (size_t)n);
        break;
    default:
        break;
    }
}

static int unpack_tail_one(pq_format f, const uint8_t *v, int i) {
    switch (f) {
    case PQ_FMT_B1: return get_bits(v + i % 8, i / 8, 1);
    case PQ_FMT_T2:
    case PQ_FMT_B2: return get_bits(v + i % 16, 2 * (i / 16), 2);
    case PQ_FMT_B3: return get_bits(v + i % 16, 2 * (i / 16), 2) | get_bits(v + 16 + i % 8, i / 8, 1) << 2;
    case PQ_FMT_B4: return get_bits(v + i % 32, 4 * (i / 32), 4);
    case PQ_FMT_B8: return v[i];
    default: return 0;
    }
}

static int unpack_one(pq_format f, const uint8_t *blk, int i) {
    switch (f) {
    case PQ_FMT_B1: return get_bits(blk + i % 32, i / 32, 1);
    case PQ_FMT_T2:
    case PQ_FMT_B2: return get_bits(blk + i % 64, 2 * (i / 64), 2);
    case PQ_FMT_B3: return get_bits(blk + i % 64, 2 * (i / 64), 2) | get_bits(blk + 64 + i % 32, i / 32, 1) << 2;
    case PQ_FMT_B4: return get_bits(blk + (i / 128) * 64 + i % 64, 4 * ((i / 64) % 2), 4);
    case PQ_FMT_B8: return blk[i];
    case PQ_FMT_T1_6: return t16_trit(blk[i % 64], i / 64);
    default: return 0;
    }
}

/* --- the matrix ------------------------------------------------------------- */

pq_packed *pq_pack(pq_format f, int rows, int cols, const uint8_t *codes, const float *scale, const float *offset) {
    if ((unsigned)f >= PQ_FMT_COUNT) return pq_fail("pack: unknown format %d", (int)f), NULL;
    if (rows <= 0 || cols <= 0 || cols > PQ_MAX_COLS)
        return pq_fail("pack: bad shape %dx%d (cols must be 1..%d)", rows, cols, PQ_MAX_COLS), NULL;
    int levels = format_info[f].levels;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            if (codes[(size_t)r * cols + c] >= levels)
                return pq_fail("pack: code %d at row %d, column %d is outside the %d levels of format %s",
                               codes[(size_t)r * cols + c], r, c, levels, format_info[f].name),
                       NULL;
    pq_packed *p = pq_calloc(1, sizeof *p);
    p->format = f;
    p->rows = rows;
    p->cols = cols;
    p->block = format_info[f].block;
    p->block_bytes = format_info[f].block_bytes;
    if (f == PQ_FMT_T1_6) { /* whole blocks: 5 trits per byte leave no cheap narrower layout */
        p->nblocks = (cols + p->block - 1) / p->block;
        p->tail_vecs = 0;
    } else {
        p->nblocks = cols / p->block;
        p->tail_vecs = (cols % p->block + 63) / 64;
    }
    p->tail_bytes = (size_t)(64 * format_info[f].bits / 8);
    p->row_bytes = (size_t)p->nblocks * p->block_bytes + (size_t)p->tail_vecs * p->tail_bytes;
    p->data = pq_huge_alloc((size_t)rows * p->row_bytes);
    memset(p->data, 0, (size_t)rows * p->row_bytes);
    p->scale = pq_malloc((size_t)rows * sizeof(float));
    p->offset = pq_malloc((size_t)rows * sizeof(float));
    for (int r = 0; r < rows; r++) {
        p->scale[r] = scale[r];
        p->offset[r] = offset ? offset[r] : 0.0f;
        const uint8_t *u = codes + (size_t)r * cols;
        uint8_t *out = p->data + (size_t)r * p->row_bytes;
        for (int b = 0; b < p->nblocks; b++) {
            int c0 = b * p->block;
            pack_block(f, u + c0, PQ_MIN(p->block, cols - c0), out + (size_t)b * p->block_bytes);
        }
        uint8_t *tail = out + (size_t)p->nblocks * p->block_bytes;
        for (int t = 0; t < p->tail_vecs; t++) {
            int c0 = p->nblocks * p->block + 64 * t;
            pack_tail(f, u + c0, PQ_MIN(64, cols - c0), tail + (size_t)t * p->tail_bytes);
        }
    }
    return p;
}

void pq_packed_free(pq_packed *p) {
    if (!p) return;
    if (!p->data_shared) free(p->data);
    free(p->scale);
    free(p->offset);
    free(p);
}

void *pq_huge_gather(void **bufs, const size_t *bytes, const unsigned char *keep, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += pq_round64(bytes[i]);
    uint8_t *block = pq_huge_alloc(total ? total : 64);
    for (size_t i = 0, at = 0; i < (size_t)n; at += pq_round64(bytes[i]), i++) {
        memcpy(block + at, bufs[i], bytes[i]);
        if (!(keep && keep[i])) free(bufs[i]);
        bufs[i] = block + at;
    }
    return block;
}

uint8_t *pq_packed_coalesce(pq_packed *const *mats, int n) {
    void **bufs = pq_malloc((size_t)n * sizeof *bufs);
    size_t *bytes = pq_malloc((size_t)n * sizeof *bytes);
    unsigned char *shared = pq_malloc((size_t)n);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!mats[i]) continue;
        bufs[k] = mats[i]->data;
        bytes[k] = (size_t)mats[i]->rows * mats[i]->row_bytes;
        shared[k++] = (unsigned char)mats[i]->data_shared; /* already in a block: not ours to free */
    }
    uint8_t *block = pq_huge_gather(bufs, bytes, shared, k);
    k = 0;
    for (int i = 0; i < n; i++)
        if (mats[i]) mats[i]->data = bufs[k++], mats[i]->data_shared = 1;
    free(bufs), free(bytes), free(shared);
    return block;
}

int pq_packed_code(const pq_packed *p, int row, int col) {
    int b = col / p->block;
    if (b >= p->nblocks) { /* in the tail */
        int c = col - p->nblocks * p->block;
        const uint8_t *v = p->data + (size_t)row * p->row_bytes + (size_t)p->nblocks * p->block_bytes +
                           (size_t)(c / 64) * p->tail_bytes;
        return unpack_tail_one(p->format, v, c % 64);
    }
    const uint8_t *blk = p->data + (size_t)row * p->row_bytes + (size_t)(col / p->block) * p->block_bytes;
    return unpack_one(p->format, blk, col % p->block);
}

void pq_unpack_row(const pq_packed *p, int row, uint8_t *codes) {
    for (int c = 0; c < p->cols; c++) codes[c] = (uint8_t)pq_packed_code(p, row, c);
}

void pq_dequant_row(const pq_packed *p, int row, float *w) {
    float s = p->scale[row], o = p->offset[row];
    for (int c = 0; c < p->cols; c++) w[c] = s * (float)pq_packed_code(p, row, c) + o;
}

size_t pq_packed_bytes(const pq_packed *p) { return (size_t)p->rows * (p->row_bytes + 2 * sizeof(float)); }
