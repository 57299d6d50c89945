/* gemv_avx512.c — the AVX-512 (F/BW/VL + VNNI) kernels.
 *
 * One 64-byte vector holds 64 weights after unpacking, as unsigned bytes u.
 * With int8 activations the dot product is vpdpbusd (u8 × s8, four products
 * summed into each int32 lane): one instruction per 64 weights, exact. With
 * fp32 activations the bytes are widened to floats and FMA'd. A block is
 * unpacked once per row and reused for up to PQ_TOKEN_TILE tokens; one
 * accumulator per unpacked vector keeps the dependency chains short.
 *
 * This file is compiled twice: as itself (pq_kern_avx512) and, included by
 * gemv_avx512_vbmi.c with PQ_AVX512_VBMI defined, for CPUs that also have
 * AVX512-VBMI (pq_kern_avx512_vbmi), whose byte permutes let the int8 T1_6
 * kernel look trits up in a table (Ice Lake and later, Zen 4 and later;
 * Skylake-X and Cascade Lake have VNNI at most, not VBMI). */
#include "kernels/kern.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#ifdef PQ_AVX512_VBMI
#define TGT __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi")))
#define KERNEL_ENTRY pq_kern_avx512_vbmi
#define T16_LOOKUP 1
#else
#define TGT __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define KERNEL_ENTRY pq_kern_avx512
#define T16_LOOKUP 0
#endif
#define INL static inline __attribute__((always_inline)) TGT
#define MAXV 5 /* unpacked vectors per block: 4 (256 weights), 5 for T1_6 (320) */

INL __m512i splat8(int v) { return _mm512_set1_epi8((char)v); }
/* One 32-bit value repeated in the low half, another in the high half. Spelled
 * out lane by lane so that GCC loads it from its constant pool: built from two
 * broadcasts and an insert, it was rebuilt for every row (three instructions,
 * two of them on the shuffle pipes, per constant). */
INL __m512i halves32(uint32_t lo, uint32_t hi) {
    return _mm512_setr_epi32((int)lo, (int)lo, (int)lo, (int)lo, (int)lo, (int)lo, (int)lo, (int)lo, (int)hi, (int)hi,
                             (int)hi, (int)hi, (int)hi, (int)hi, (int)hi, (int)hi);
}
/* 64 packed bytes, loaded once into a register. Left alone, the compiler folds
 * the load into each shift and mask that reads it, and on this CPU (Zen 5)
 * every folded load of a line still in flight from DRAM counts again: the
 * 2-bit GEMV streamed at half the speed of a plain read of the same bytes. */
INL __m512i load_once(const uint8_t *p) {
    __m512i x = _mm512_loadu_si512(p);
    __asm__("" : "+v"(x));
    return x;
}
/* acc + the four u8 x s8 products of each int32 lane of u and x (vpdpbusd).
 * The intrinsic leaves GCC 12 free to pick the destination, and it copied
 * accumulators into a scratch register and back around each vpdpbusd: two
 * moves on a loop-carried chain whose vpdpbusd already takes 4 cycles (a
 * 1-bit row loop ran 25% faster once the accumulator was tied to the
 * destination, as the instruction wants). */
INL __m512i dpbusd(__m512i acc, __m512i u, __m512i x) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "vm"(x));
    return acc;
}
/* The 1-bit plane of a block (32 bytes; byte j, bit k = weight 32k+j) as four
 * vectors of 64 weights each, with the bit moved to position `pos` of each
 * byte and everything else cleared. Vector i takes bit 2i in its low half and
 * bit 2i+1 in its high half: one 32-bit rotate per half puts it in place. */
INL __m512i plane_rotation(int pos, int i) {
    return halves32((uint32_t)(pos - 2 * i) & 31, (uint32_t)(pos - 2 * i - 1) & 31);
}
INL void bit_plane(const uint8_t *p, int pos, __m512i out[4]) {
    __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) out[i] = _mm512_and_si512(_mm512_rolv_epi32(h, plane_rotation(pos, i)), splat8(1 << pos));
}

/* Unpacks one block into v[0..nvec): v[i] holds the codes of weights 64i..64i+63
 * (the layouts are described in pack.h). */
INL int unpack_block(pq_format f, const uint8_t *p, __m512i v[MAXV]) {
    switch (f) {
    case PQ_FMT_B8:
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) v[i] = _mm512_loadu_si512(p + 64 * i);
        return 4;
    case PQ_FMT_B4:
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++) {
            __m512i x = load_once(p + 64 * g);
            v[2 * g] = _mm512_and_si512(x, splat8(0x0F));
            v[2 * g + 1] = _mm512_and_si512(_mm512_srli_epi16(x, 4), splat8(0x0F));
        }
        return 4;
    case PQ_FMT_B2:
    case PQ_FMT_T2:
    case PQ_FMT_B3: {
        __m512i x = load_once(p);
        v[0] = _mm512_and_si512(x, splat8(3));
        v[1] = _mm512_and_si512(_mm512_srli_epi16(x, 2), splat8(3));
        v[2] = _mm512_and_si512(_mm512_srli_epi16(x, 4), splat8(3));
        v[3] = _mm512_and_si512(_mm512_srli_epi16(x, 6), splat8(3));
        if (f == PQ_FMT_B3) {
            __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(p + 64)));
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) /* v | (rotated & 4) */
                v[i] = _mm512_ternarylogic_epi32(v[i], _mm512_rolv_epi32(h, plane_rotation(2, i)), splat8(4), 0xF8);
        }
        return 4;
    }
    case PQ_FMT_B1:
        bit_plane(p, 0, v);
        return 4;
    case PQ_FMT_T1_6: {
        /* trit k = floor(3·m_k/256) and m_{k+1} = 3·m_k mod 256 are the high and
         * low bytes of the 16-bit product 3·m_k. Even and odd bytes each live in
         * their own 16-bit lanes: vpmaddubsw by (3, 0) multiplies the low byte
         * of every lane by 3 and ignores the high one, so one instruction per
         * stream steps k -> k+1, and the trits are the high bytes. (A variant
         * with shift-and-add for one stream measured 25% slower: ALU-bound.) */
        __m512i x = load_once(p);
        __m512i even = _mm512_maddubs_epi16(x, _mm512_set1_epi16(3));     /* 3·m of even bytes */
        __m512i odd = _mm512_maddubs_epi16(x, _mm512_set1_epi16(3 << 8)); /* 3·m of odd bytes */
#pragma GCC unroll 5
        for (int k = 0; k < 5; k++) {
            v[k] = _mm512_ternarylogic_epi32(_mm512_srli_epi16(even, 8), odd, _mm512_set1_epi16((short)0xFF00), 0xF8);
            if (k < 4) {
                even = _mm512_maddubs_epi16(even, _mm512_set1_epi16(3));
                odd = _mm512_maddubs_epi16(odd, _mm512_set1_epi16(3));
            }
        }
        return 5;
    }
    default: return 0;
    }
}

/* The int8 path's unpack for 1-, 1.6- and 2-bit blocks: masks only, no shifts.
 * Vector i keeps its codes in place, so they arrive multiplied by a power of
 * two (2-bit plane k: 4^k; 1-bit vector i: 2^(2i) in its low half and
 * 2^(2i+1) in its high half; T1_6 below). vpdpbusd sums them exactly all the
 * same (at most 4·192·128 per lane and block, far inside int32 for
 * PQ_MAX_COLS), and scaled_shift() says by how much to shift each int32 lane
 * of accumulator i back at the end: exact, since every term is a multiple of
 * it. Shifts per block would cost a vector pipe per 64 weights, and on this
 * CPU masks issue twice as fast. */
INL int has_scaled_unpack(pq_format f) {
    return f == PQ_FMT_B1 || f == PQ_FMT_B2 || f == PQ_FMT_T2 || (f == PQ_FMT_T1_6 && T16_LOOKUP);
}

/* The int8 path's T1_6 unpack looks the trits up instead of computing them:
 * unpack_block's arithmetic takes ten multiplies per 64 bytes, and this CPU
 * issues multiplies (vpmaddubsw, vpdpbusd) on two of its four vector pipes,
 * so the 1.6-bit rows ran at half the speed the other pipes allowed. Trits
 * 1..4 of every byte value sit in a 256-byte table, one trit per 2-bit field
 * (built once per call by unpack_block's own arithmetic, so the two agree on
 * every byte); four registers hold it and two vpermt2b plus a blend on bit 7
 * index it. Trit 0 is floor(3m/256): 1 from m = 86, 2 from m = 171, and
 * vpavgb's ninth bit tests both: bit 7 of (m + c + 1) / 2 is set when
 * m + c + 1 >= 256. Vector 0 holds 64·trit 0, vector k (1..4) 4^(k-1)·trit k. */
typedef struct { __m512i t[4]; } t16_table;

#if T16_LOOKUP

INL t16_table t16_table_build(void) {
    t16_table T;
    uint8_t bytes[64];
    for (int j = 0; j < 4; j++) {
        for (int i = 0; i < 64; i++) bytes[i] = (uint8_t)(64 * j + i);
        __m512i v[MAXV];
        unpack_block(PQ_FMT_T1_6, bytes, v);
        T.t[j] = _mm512_or_si512(_mm512_or_si512(v[1], _mm512_slli_epi16(v[2], 2)),
                                 _mm512_or_si512(_mm512_slli_epi16(v[3], 4), _mm512_slli_epi16(v[4], 6)));
    }
    return T;
}

INL void unpack_t16_scaled(const uint8_t *p, const t16_table *T, __m512i v[MAXV]) {
    __m512i m = load_once(p);
    __m512i low = _mm512_permutex2var_epi8(T->t[0], m, T->t[1]), high = _mm512_permutex2var_epi8(T->t[2], m, T->t[3]);
    __m512i fields = _mm512_mask_blend_epi8(_mm512_movepi8_mask(m), low, high);
    __m512i ge86 = _mm512_and_si512(_mm512_avg_epu8(m, splat8(169)), splat8(0x80));
    __m512i ge171 = _mm512_and_si512(_mm512_avg_epu8(m, splat8(84)), splat8(0x80));
    v[0] = _mm512_avg_epu8(ge86, ge171); /* 64·trit 0: (128a + 128b + 1) / 2 */
#pragma GCC unroll 4
    for (int i = 1; i < 5; i++) v[i] = _mm512_and_si512(fields, splat8(3 << 2 * (i - 1)));
}
#endif

INL int unpack_block_scaled(pq_format f, const uint8_t *p, const t16_table *T, __m512i v[MAXV]) {
#if T16_LOOKUP
    if (f == PQ_FMT_T1_6) return unpack_t16_scaled(p, T, v), 5;
#endif
    if (f == PQ_FMT_B1) {
        __m512i h = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            v[i] = _mm512_and_si512(h, halves32(0x01010101u << 2 * i, 0x01010101u << (2 * i + 1)));
    } else {
        __m512i x = load_once(p);
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) v[i] = _mm512_and_si512(x, splat8(3 << 2 * i));
    }
    return 4;
}

/* The shift of accumulator i's lanes in the low (half 0) or high (half 1)
 * 256 bits: they differ only for B1. */
INL int scaled_shift(pq_format f, int i, int half) {
    if (f == PQ_FMT_T1_6) return i == 0 ? 6 : 2 * (i - 1);
    return f == PQ_FMT_B1 ? 2 * i + half : 2 * i;
}

/* One tail vector (64 weights, pack.h's tail layout) as 64 code bytes: the
 * packed bytes are broadcast and every lane shifted by its own count. */
INL __m512i unpack_tail(pq_format f, const uint8_t *p) {
    switch (f) {
    case PQ_FMT_B8: return _mm512_loadu_si512(p);
    case PQ_FMT_B4: {
        __m512i x = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
        __m512i cnt = halves32(0, 0x40004);
        return _mm512_and_si512(_mm512_srlv_epi16(x, cnt), splat8(0x0F));
    }
    case PQ_FMT_B2:
    case PQ_FMT_T2:
    case PQ_FMT_B3: {
        __m512i x = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
        __m512i cnt = _mm512_setr_epi32(0, 0, 0, 0, 0x20002, 0x20002, 0x20002, 0x20002, 0x40004, 0x40004, 0x40004,
                                        0x40004, 0x60006, 0x60006, 0x60006, 0x60006);
        __m512i u = _mm512_and_si512(_mm512_srlv_epi16(x, cnt), splat8(3));
        if (f == PQ_FMT_B3) { /* bit k of byte j -> bit 2 of byte j in 64-bit lane k */
            long long hb;
            __builtin_memcpy(&hb, p + 16, 8);
            __m512i rot = _mm512_setr_epi32(2, 2, 1, 1, 0, 0, 31, 31, 30, 30, 29, 29, 28, 28, 27, 27);
            u = _mm512_ternarylogic_epi32(u, _mm512_rolv_epi32(_mm512_set1_epi64(hb), rot), splat8(4), 0xF8);
        }
        return u;
    }
    case PQ_FMT_B1: {
        long long b;
        __builtin_memcpy(&b, p, 8);
        __m512i cnt = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        return _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi64(b), cnt), splat8(1));
    }
    default: return _mm512_setzero_si512();
    }
}

/* Asks for the weights PREFETCH_BYTES further on (the rest of this row, then
 * the next rows: a matrix is one contiguous stream). The hardware prefetchers
 * alone kept the kernels at 65-80% of the bandwidth a plain read reaches; from
 * 6 to 16 KiB ahead they all ran within a few percent of it. */
#define PREFETCH_BYTES 8192
INL void prefetch_ahead(pq_format F, const uint8_t *p) {
    const int lines = F == PQ_FMT_B8 ? 4 : F == PQ_FMT_B4 || F == PQ_FMT_B3 ? 2 : 1; /* block bytes / 64, rounded up */
#pragma GCC unroll 4
    for (int i = 0; i < lines; i++) _mm_prefetch((const char *)p + PREFETCH_BYTES + 64 * i, _MM_HINT_T0);
}

/* The block at p (its activations at q, the next token's `stride` bytes on)
 * into accumulator set u, for NT tokens. */
INL void q8_block(const uint8_t *p, const int8_t *q, size_t stride, pq_format F, int NT, int u, int prefetch,
                  const t16_table *T, __m512i acc[PQ_TOKEN_TILE][2][MAXV]) {
    __m512i v[MAXV];
    if (prefetch) prefetch_ahead(F, p);
    int nv = has_scaled_unpack(F) ? unpack_block_scaled(F, p, T, v) : unpack_block(F, p, v);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
#pragma GCC unroll 5
        for (int i = 0; i < nv; i++) acc[t][u][i] = dpbusd(acc[t][u][i], v[i], _mm512_loadu_si512(q + t * stride + 64 * i));
}

/* The tail vector at p (pack.h's tail layout; its activations at q) into a
 * class-0 accumulator, or B1's own (see q8_row). */
INL void q8_tail_vec(const uint8_t *p, const int8_t *q, size_t stride, pq_format F, int NT, int U,
                     __m512i acc[PQ_TOKEN_TILE][2][MAXV], __m512i tacc[PQ_TOKEN_TILE]) {
    __m512i u = unpack_tail(F, p);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        __m512i x = _mm512_loadu_si512(q + t * stride);
        if (F == PQ_FMT_B1)
            tacc[t] = dpbusd(tacc[t], u, x);
        else
            acc[t][U - 1][0] = dpbusd(acc[t][U - 1][0], u, x);
    }
}

/* Row r's lane sums for tokens t0..t0+NT-1, int8 activations. Blocks are taken U
 * at a time into U·nvec independent accumulators per token: with one set,
 * every block waited for the previous block's vpdpbusd (4 cycles of latency on
 * this CPU, twice what its two vpdpbusd per cycle need). Rows are read one
 * after the other, front to back: reading several rows side by side halved
 * the speed from DRAM here, even with software prefetch. */
INL void q8_row(const pq_packed *W, const pq_act_batch *a, int r, int t0, pq_format F, int NT, const t16_table *T,
                __m512i lanes[PQ_TOKEN_TILE]) {
    const int U = NT == 1 ? 2 : 1;
    const size_t stride = (size_t)a->stride;
    const uint8_t *row = W->data + (size_t)r * W->row_bytes;
    __m512i acc[PQ_TOKEN_TILE][2][MAXV];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
#pragma GCC unroll 2
        for (int u = 0; u < U; u++)
#pragma GCC unroll 5
            for (int i = 0; i < MAXV; i++) acc[t][u][i] = _mm512_setzero_si512();
    const size_t block_bytes = (size_t)W->block_bytes, block = (size_t)W->block;
    const uint8_t *p = row;
    const int8_t *q = a->q + (size_t)t0 * stride;
    int b = 0;
    for (; b + U <= W->nblocks; b += U, p += U * block_bytes, q += U * block)
#pragma GCC unroll 2
        for (int u = 0; u < U; u++) /* one prefetch per 64 bytes: B1 blocks are 32 */
            q8_block(p + u * block_bytes, q + u * block, stride, F, NT, u, F != PQ_FMT_B1 || u == 0, T, acc);
    if (b < W->nblocks) q8_block(p, q, stride, F, NT, 0, 1, T, acc); /* U = 2 leaves at most one */
    /* Tails hold plain codes: they go into a class-0 accumulator where that
     * class is not scaled (every format but B1, whose own accumulator they get;
     * T1_6 has no tails). A run-time index into acc would force every
     * accumulator into memory. */
    const uint8_t *tail = row + (size_t)W->nblocks * W->block_bytes;
    const int8_t *qt = a->q + (size_t)t0 * stride + (size_t)W->nblocks * W->block;
    __m512i tacc[PQ_TOKEN_TILE];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) tacc[t] = _mm512_setzero_si512();
    switch (W->tail_vecs) { /* straight-line code: a loop here cost 3 cycles per short row */
    case 4: q8_tail_vec(tail + 3 * W->tail_bytes, qt + 192, stride, F, NT, U, acc, tacc); /* fall through */
    case 3: q8_tail_vec(tail + 2 * W->tail_bytes, qt + 128, stride, F, NT, U, acc, tacc); /* fall through */
    case 2: q8_tail_vec(tail + W->tail_bytes, qt + 64, stride, F, NT, U, acc, tacc); /* fall through */
    case 1: q8_tail_vec(tail, qt, stride, F, NT, U, acc, tacc); break;
    default: break;
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        __m512i s = tacc[t];
#pragma GCC unroll 5
        for (int i = 0; i < MAXV; i++) {
            if (i == 4 && F != PQ_FMT_T1_6) break;
            __m512i ai = U == 2 ? _mm512_add_epi32(acc[t][0][i], acc[t][1][i]) : acc[t][0][i];
            const int lo = scaled_shift(F, i, 0), hi = scaled_shift(F, i, 1);
            if (has_scaled_unpack(F) && (lo | hi)) ai = _mm512_srav_epi32(ai, halves32((uint32_t)lo, (uint32_t)hi));
            s = F == PQ_FMT_B1 || i > 0 ? _mm512_add_epi32(s, ai) : ai; /* tacc is only B1's */
        }
        lanes[t] = s;
    }
}

/* The sums of 16 vectors of 16 int32 lanes, as one vector: a transpose-and-add
 * tree (46 instructions for 16 rows, where one horizontal sum per row takes
 * about 10; with 576-wide rows that was a fifth of the work). */
INL __m512i sum16(const __m512i s[16]) {
    __m512i t8[8], t4[4], t2[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* rows 2i, 2i+1: 8 lanes each */
        t8[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_i32x4(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) /* rows 4i..4i+3: one 128-bit quarter each */
        t4[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(t8[2 * i], t8[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_i32x4(t8[2 * i], t8[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) /* quarter q: rows q, q+4 (i = 0) or q+8, q+12 (i = 1), two lanes each */
        t2[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(t4[2 * i], t4[2 * i + 1]),
                                 _mm512_unpackhi_epi64(t4[2 * i], t4[2 * i + 1]));
    __m512 g = _mm512_castsi512_ps(t2[0]), h = _mm512_castsi512_ps(t2[1]);
    __m512i rows = _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(g, h, _MM_SHUFFLE(2, 0, 2, 0))),
                                    _mm512_castps_si512(_mm512_shuffle_ps(g, h, _MM_SHUFFLE(3, 1, 3, 1))));
    /* lane 4q + j holds row q + 4j: a 4x4 transpose puts them in order */
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), rows);
}

/* Rows [r0, r1) for tokens t0..t0+NT-1, int8 activations: 16 rows at a time
 * finished in vector registers (the same float operations, in the same order,
 * as pq_q8_finish: the results are bitwise those of the reference), the rest
 * one by one. */
INL void q8_tile(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1, int t0, pq_format F, int NT) {
#if T16_LOOKUP
    const t16_table T = F == PQ_FMT_T1_6 ? t16_table_build() : (t16_table){0};
#else
    const t16_table T = {0}; /* unused */
#endif
    int r = r0;
    for (; r + 16 <= r1; r += 16) {
        __m512i lanes[PQ_TOKEN_TILE][16];
        for (int j = 0; j < 16; j++) {
            __m512i l[PQ_TOKEN_TILE];
            q8_row(W, a, r + j, t0, F, NT, &T, l);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) lanes[t][j] = l[t];
        }
        __m512 scale = _mm512_loadu_ps(W->scale + r), offset = _mm512_loadu_ps(W->offset + r);
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            __m512 isum = _mm512_cvtepi32_ps(sum16(lanes[t]));
            __m512 out = _mm512_add_ps(_mm512_mul_ps(scale, _mm512_mul_ps(_mm512_set1_ps(a->d[t0 + t]), isum)),
                                       _mm512_mul_ps(offset, _mm512_set1_ps(a->dqsum[t0 + t])));
            _mm512_storeu_ps(y + (size_t)(t0 + t) * W->rows + r, out);
        }
    }
    for (; r < r1; r++) {
        __m512i l[PQ_TOKEN_TILE];
        q8_row(W, a, r, t0, F, NT, &T, l);
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
            y[(size_t)(t0 + t) * W->rows + r] = pq_q8_finish(W->scale[r], W->offset[r], a->d[t0 + t],
                                                             _mm512_reduce_add_epi32(l[t]), a->dqsum[t0 + t]);
    }
}

/* 16 codes (bytes j*16.. of v) as floats. */
#define WIDEN(v, j) _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32((v), (j))))

/* 64 unpacked codes times the matching 64 activations of each of NT tokens
 * (x: the first token's; the next ones follow every `stride` floats). */
INL void f32_vector(__m512i u, const float *x, size_t stride, int NT, __m512 acc[PQ_TOKEN_TILE][4]) {
    __m512 w0 = WIDEN(u, 0), w1 = WIDEN(u, 1), w2 = WIDEN(u, 2), w3 = WIDEN(u, 3);
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        const float *xt = x + t * stride;
        acc[t][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xt), acc[t][0]);
        acc[t][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xt + 16), acc[t][1]);
        acc[t][2] = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xt + 32), acc[t][2]);
        acc[t][3] = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xt + 48), acc[t][3]);
    }
}

/* Rows [r0, r1) for tokens t0..t0+NT-1, fp32 activations. */
INL void f32_tile(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1, int t0, pq_format F, int NT) {
    const size_t stride = (size_t)a->stride;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = W->data + (size_t)r * W->row_bytes;
        __m512 acc[PQ_TOKEN_TILE][4];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[t][j] = _mm512_setzero_ps();
        for (int b = 0; b < W->nblocks; b++) {
            __m512i v[MAXV];
            int nv = unpack_block(F, row + (size_t)b * W->block_bytes, v);
            const float *x = a->x + (size_t)t0 * stride + (size_t)b * W->block;
#pragma GCC unroll 5
            for (int i = 0; i < nv; i++) f32_vector(v[i], x + 64 * i, stride, NT, acc);
        }
        const uint8_t *tail = row + (size_t)W->nblocks * W->block_bytes;
        const float *xtl = a->x + (size_t)t0 * stride + (size_t)W->nblocks * W->block;
        for (int i = 0; i < W->tail_vecs; i++) {
            f32_vector(unpack_tail(F, tail + (size_t)i * W->tail_bytes), xtl + 64 * i, stride, NT, acc);
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            __m512 s = _mm512_add_ps(_mm512_add_ps(acc[t][0], acc[t][1]), _mm512_add_ps(acc[t][2], acc[t][3]));
            float dot = _mm512_reduce_add_ps(s);
            y[(size_t)(t0 + t) * W->rows + r] = pq_f32_finish(W->scale[r], W->offset[r], dot, a->xsum[t0 + t]);
        }
    }
}

/* One function per (format, activation kind), specialised for 1..4 tokens. */
#define INSTANTIATE(NAME, F)                                                                                 \
    static TGT void q8_##NAME(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1, int t0, int nt) { \
        switch (nt) {                                                                                        \
        case 1: q8_tile(W, a, y, r0, r1, t0, F, 1); break;                                                   \
        case 2: q8_tile(W, a, y, r0, r1, t0, F, 2); break;                                                   \
        case 3: q8_tile(W, a, y, r0, r1, t0, F, 3); break;                                                   \
        default: q8_tile(W, a, y, r0, r1, t0, F, 4); break;                                                  \
        }                                                                                                    \
    }                                                                                                        \
    static TGT void f32_##NAME(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1, int t0, int nt) { \
        switch (nt) {                                                                                        \
        case 1: f32_tile(W, a, y, r0, r1, t0, F, 1); break;                                                  \
        case 2: f32_tile(W, a, y, r0, r1, t0, F, 2); break;                                                  \
        case 3: f32_tile(W, a, y, r0, r1, t0, F, 3); break;                                                  \
        default: f32_tile(W, a, y, r0, r1, t0, F, 4); break;                                                 \
        }                                                                                                    \
    }

INSTANTIATE(b1, PQ_FMT_B1)
INSTANTIATE(b2, PQ_FMT_B2) /* also T2: the same storage */
INSTANTIATE(b3, PQ_FMT_B3)
INSTANTIATE(b4, PQ_FMT_B4)
INSTANTIATE(b8, PQ_FMT_B8)
INSTANTIATE(t16, PQ_FMT_T1_6)

typedef void (*tile_fn)(const pq_packed *, const pq_act_batch *, float *, int, int, int, int);

void KERNEL_ENTRY(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1) {
    static const tile_fn q8[PQ_FMT_COUNT] = {[PQ_FMT_B1] = q8_b1,  [PQ_FMT_T2] = q8_b2, [PQ_FMT_T1_6] = q8_t16,
                                             [PQ_FMT_B2] = q8_b2,  [PQ_FMT_B3] = q8_b3, [PQ_FMT_B4] = q8_b4,
                                             [PQ_FMT_B8] = q8_b8};
    static const tile_fn f32[PQ_FMT_COUNT] = {[PQ_FMT_B1] = f32_b1, [PQ_FMT_T2] = f32_b2, [PQ_FMT_T1_6] = f32_t16,
                                              [PQ_FMT_B2] = f32_b2, [PQ_FMT_B3] = f32_b3, [PQ_FMT_B4] = f32_b4,
                                              [PQ_FMT_B8] = f32_b8};
    tile_fn fn = (a->kind == PQ_ACT_Q8 ? q8 : f32)[W->format];
    for (int t0 = 0; t0 < a->batch; t0 += PQ_TOKEN_TILE) fn(W, a, y, r0, r1, t0, PQ_MIN(PQ_TOKEN_TILE, a->batch - t0));
}

#else /* not x86: pq_isa_supported() never offers this version */

#ifdef PQ_AVX512_VBMI
void pq_kern_avx512_vbmi(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1) { pq_kern_ref(W, a, y, r0, r1); }
#else
void pq_kern_avx512(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1) { pq_kern_ref(W, a, y, r0, r1); }
#endif

#endif
