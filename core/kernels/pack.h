/* pack.h — low-bit weight matrices packed one row at a time, with the row's scale.
 *
 * A quantized row is a list of unsigned integer codes u (level indices 0..k-1)
 * and two floats: every weight is w = scale·u + offset. That one affine form
 * covers every grid of DESIGN.md §2 and is exactly what core/quant exports
 * (q̂ = level0 + code·level_step, so scale = α·level_step, offset = α·level0):
 *
 *   grid (DESIGN.md §2)           format     codes u   scale        offset
 *   sign {-1,+1}·α                PQ_FMT_B1   0..1      2α           -α
 *   SEQ ternary {-2/3,0,2/3}·α    PQ_FMT_T2   0..2      2α/3         -2α/3     (or PQ_FMT_T1_6)
 *   absmean ternary {-1,0,1}·α    PQ_FMT_T2   0..2      α            -α
 *   SEQ 2-bit {±1/4,±3/4}·α       PQ_FMT_B2   0..3      α/2          -3α/4
 *   LSQ b-bit [-2^(b-1),2^(b-1)-1]·α  B2/B3/B4/B8  0..2^b-1  α       -2^(b-1)·α
 *   int8 [-127,127]·α             PQ_FMT_B8   0..254    α            -127α
 *
 * sign(0) = 0 (an exactly zero latent weight) has no 1-bit code: core/quant
 * exports it as +1 (code 1), and that is what is stored here.
 *
 * Storage, chosen so SIMD kernels unpack with a shift and a mask and whole
 * 64-byte vectors hold one block: no shuffles and no mask registers
 * (a first 1-bit layout unpacked through k-masks ran at half the speed of the
 * bit-plane one on this AVX-512 CPU). A row is cut into full blocks of
 * PQ_BLOCK weights, then a tail of up to 4 vectors of 64 weights (so that a
 * 576-wide row costs 576 weights, not 768); T1_6 rows are whole blocks of
 * PQ_BLOCK_T1_6. Padding is code 0, which contributes nothing because kernels
 * pad the activations with zeros. Inside a full block:
 *   B8    byte j = weight j (64-byte groups, 4 per block)
 *   B4    64-byte groups of 128 weights: byte j holds weight j (low nibble) and 64+j (high)
 *   B2,T2 one 64-byte group of 256 weights: byte j, bits 2k..2k+1 hold weight 64k+j
 *   B3    the low 2 bits as B2 (64 bytes), then the high bit as B1 (32 bytes)
 *   B1    32 bytes; byte j, bit k holds weight 32k+j
 *   T1_6  320 weights in 64 bytes: byte j holds the trits d_k (k=0..4) of weights
 *         64k+j as v = Σ d_k·3^(4-k), stored as ceil(v·256/243), so that trit k is
 *         floor(3·m_k/256) with m_0 = byte, m_{k+1} = 3·m_k mod 256 (the
 *         llama.cpp TQ1_0 trick): 8-bit multiplies and compares, no division.
 * Inside a tail vector (64 weights, 64·bits/8 bytes; a SIMD kernel broadcasts it
 * and shifts each lane by its own count):
 *   B8    byte j = weight j
 *   B4    32 bytes: byte j holds weight j (low nibble) and 32+j (high)
 *   B2,T2 16 bytes: byte j, bits 2k..2k+1 hold weight 16k+j
 *   B3    the low 2 bits as B2 (16 bytes), then the high bit as B1 (8 bytes)
 *   B1    8 bytes: byte j, bit k holds weight 8k+j
 * Bits per weight are exactly 1, 2, 1.6, 2, 3, 4, 8 (plus 8 bytes of scale and
 * offset per row, and padding to a multiple of 64 weights, 320 for T1_6). */
#ifndef PQ_PACK_H
#define PQ_PACK_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    PQ_FMT_B1 = 0, /* 1 bit, codes 0..1 */
    PQ_FMT_T2,     /* ternary at 2 bits, codes 0..2 */
    PQ_FMT_T1_6,   /* ternary at 1.6 bits (5 trits per byte), codes 0..2 */
    PQ_FMT_B2,     /* 2 bits, codes 0..3 */
    PQ_FMT_B3,     /* 3 bits, codes 0..7 */
    PQ_FMT_B4,     /* 4 bits, codes 0..15 */
    PQ_FMT_B8,     /* 8 bits, codes 0..255 */
    PQ_FMT_COUNT
} pq_format;

#define PQ_BLOCK 256      /* weights per block, every format but T1_6 */
#define PQ_BLOCK_T1_6 320 /* 64 bytes × 5 trits */
/* Rows may have at most this many columns: int32 sums of code·int8 activation stay exact. */
#define PQ_MAX_COLS 65536

typedef struct {
    pq_format format;
    int rows, cols;
    int block;           /* PQ_BLOCK or PQ_BLOCK_T1_6 */
    int nblocks;         /* full blocks per row */
    int tail_vecs;       /* then this many tail vectors of 64 weights (0..4; always 0 for T1_6) */
    size_t block_bytes;  /* packed bytes per full block */
    size_t tail_bytes;   /* packed bytes per tail vector */
    size_t row_bytes;    /* nblocks · block_bytes + tail_vecs · tail_bytes */
    uint8_t *data;       /* rows · row_bytes, 64-byte aligned */
    int data_shared;     /* data lives in a block of pq_packed_coalesce (not freed with p) */
    float *scale;        /* per row: w = scale·u + offset */
    float *offset;
} pq_packed;

/* "b1", "t2", "t1.6", "b2", "b3", "b4", "b8". */
const char *pq_format_name(pq_format f);
/* The inverse of pq_format_name; -1 + pq_error() for an unknown name. */
int pq_format_parse(const char *name, pq_format *out);
/* Bits per weight of the packed codes (1, 2, 1.6, 2, 3, 4, 8). */
double pq_format_bits(pq_format f);
/* Number of distinct codes the format stores (2, 3, 3, 4, 8, 16, 256). */
int pq_format_levels(pq_format f);
/* The format that stores a k-level grid in the fewest bits (ternary_1_6 picks
 * T1_6 over T2 for k = 3); -1 + pq_error() if k > 256 or k < 2. */
int pq_format_for_levels(int levels, int ternary_1_6, pq_format *out);

/* Packs rows×cols codes (row-major, one byte each) with per-row scale and offset
 * (offset may be NULL: zero). NULL + pq_error() on a code outside the format's
 * range (naming row and column) or a shape beyond PQ_MAX_COLS. */
pq_packed *pq_pack(pq_format f, int rows, int cols, const uint8_t *codes, const float *scale, const float *offset);
void pq_packed_free(pq_packed *p);

/* Moves the codes of mats[0..n) (NULL entries skipped) into one new allocation,
 * one after the other in that order, each 64-byte aligned, and returns it: the
 * caller frees it after the matrices. A decoder that lays out its matrices in
 * the order it reads them streams one contiguous range per token, so the
 * kernels' prefetch ahead at the end of one matrix already fetches the next
 * (small matrices each started cold from DRAM otherwise). */
uint8_t *pq_packed_coalesce(pq_packed *const *mats, int n);
/* The mechanism under it, for any buffers (the decoder's fp32 matrices too):
 * bufs[i], bytes[i] long, is copied to its place in one pq_huge_alloc block,
 * freed unless keep && keep[i], and replaced by its new address. Freeing each
 * as it is copied keeps the peak one buffer above the data. Returns the block,
 * which owns them all: free() it once, not them. */
void *pq_huge_gather(void **bufs, const size_t *bytes, const unsigned char *keep, int n);
/* n rounded up to a multiple of 64 (a cache line: where pq_huge_gather puts each buffer). */
static inline size_t pq_round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* The codes of one row, exactly as packed (cols bytes). */
void pq_unpack_row(const pq_packed *p, int row, uint8_t *codes);
/* The weights of one row: scale·u + offset in float. */
void pq_dequant_row(const pq_packed *p, int row, float *w);
/* Weight bytes a GEMV reads: packed codes plus the per-row scale and offset. */
size_t pq_packed_bytes(const pq_packed *p);

/* One code from a packed row (for references and tests; slow). */
int pq_packed_code(const pq_packed *p, int row, int col);

#endif
