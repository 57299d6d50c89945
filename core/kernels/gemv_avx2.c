/* gemv_avx2.c — the AVX2 + FMA kernels (for CPUs without AVX-512 VNNI).
 *
 * Same scheme as gemv_avx512.c with 32-byte vectors: vector m of a block holds
 * the codes of weights 32m..32m+31. The int8 dot product is vpmaddubsw (u8 × s8
 * into saturating int16 pairs) then vpmaddwd into int32. Codes up to 15 cannot
 * saturate (2·15·127 < 32767); 8-bit codes could (2·255·127), so B8 multiplies
 * the signed code c = u - 128 by the activation with llama.cpp's sign trick
 * (|c| ≤ 128: 2·128·127 = 32512 fits) and adds 128·Σq back: still exact. */
#include "kernels/kern.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma")))
#define INL static inline __attribute__((always_inline)) TGT
#define MAXV 10 /* 32-byte vectors per block: 8 (256 weights), 10 for T1_6 */

INL __m256i splat8(int v) { return _mm256_set1_epi8((char)v); }

/* Bit k of each byte of the 32-byte 1-bit plane at p (weights 32k..32k+31), moved
 * to bit `pos` with everything else cleared. */
INL __m256i bit_plane(const uint8_t *p, int k, int pos) {
    __m256i h = _mm256_loadu_si256((const __m256i *)p);
    __m256i x = k >= pos ? _mm256_srl_epi16(h, _mm_cvtsi32_si128(k - pos)) : _mm256_sll_epi16(h, _mm_cvtsi32_si128(pos - k));
    return _mm256_and_si256(x, splat8(1 << pos));
}

INL int unpack_block(pq_format f, const uint8_t *p, __m256i v[MAXV]) {
    switch (f) {
    case PQ_FMT_B8:
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) v[m] = _mm256_loadu_si256((const __m256i *)(p + 32 * m));
        return 8;
    case PQ_FMT_B4:
#pragma GCC unroll 2
        for (int g = 0; g < 2; g++)
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(p + 64 * g + 32 * h));
                v[4 * g + h] = _mm256_and_si256(x, splat8(0x0F));
                v[4 * g + 2 + h] = _mm256_and_si256(_mm256_srli_epi16(x, 4), splat8(0x0F));
            }
        return 8;
    case PQ_FMT_B2:
    case PQ_FMT_T2:
    case PQ_FMT_B3:
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(p + 32 * h));
            v[0 + h] = _mm256_and_si256(x, splat8(3));
            v[2 + h] = _mm256_and_si256(_mm256_srli_epi16(x, 2), splat8(3));
            v[4 + h] = _mm256_and_si256(_mm256_srli_epi16(x, 4), splat8(3));
            v[6 + h] = _mm256_and_si256(_mm256_srli_epi16(x, 6), splat8(3));
        }
        if (f == PQ_FMT_B3)
#pragma GCC unroll 8
            for (int m = 0; m < 8; m++) v[m] = _mm256_or_si256(v[m], bit_plane(p + 64, m, 2));
        return 8;
    case PQ_FMT_B1:
#pragma GCC unroll 8
        for (int m = 0; m < 8; m++) v[m] = bit_plane(p, m, 0);
        return 8;
    case PQ_FMT_T1_6:
        /* as in gemv_avx512.c: trits are the high bytes of 3·m in 16-bit lanes */
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(p + 32 * h));
            __m256i even = _mm256_maddubs_epi16(x, _mm256_set1_epi16(3));
            __m256i odd = _mm256_maddubs_epi16(x, _mm256_set1_epi16(3 << 8));
#pragma GCC unroll 5
            for (int k = 0; k < 5; k++) {
                v[2 * k + h] = _mm256_or_si256(_mm256_srli_epi16(even, 8),
                                               _mm256_and_si256(odd, _mm256_set1_epi16((short)0xFF00)));
                if (k < 4) {
                    even = _mm256_maddubs_epi16(even, _mm256_set1_epi16(3));
                    odd = _mm256_maddubs_epi16(odd, _mm256_set1_epi16(3));
                }
            }
        }
        return 10;
    default: return 0;
    }
}

/* One tail vector (64 weights, pack.h's tail layout) as two 32-byte halves. */
INL void unpack_tail(pq_format f, const uint8_t *p, __m256i v[2]) {
    switch (f) {
    case PQ_FMT_B8:
        v[0] = _mm256_loadu_si256((const __m256i *)p);
        v[1] = _mm256_loadu_si256((const __m256i *)(p + 32));
        return;
    case PQ_FMT_B4: {
        __m256i x = _mm256_loadu_si256((const __m256i *)p);
        v[0] = _mm256_and_si256(x, splat8(0x0F));
        v[1] = _mm256_and_si256(_mm256_srli_epi16(x, 4), splat8(0x0F));
        return;
    }
    case PQ_FMT_B2:
    case PQ_FMT_T2:
    case PQ_FMT_B3: {
        __m256i x = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
        v[0] = _mm256_and_si256(_mm256_srlv_epi32(x, _mm256_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2)), splat8(3));
        v[1] = _mm256_and_si256(_mm256_srlv_epi32(x, _mm256_setr_epi32(4, 4, 4, 4, 6, 6, 6, 6)), splat8(3));
        if (f != PQ_FMT_B3) return;
        p += 16; /* then the high bit plane of B3: as B1, shifted to bit 2 */
    }
        __attribute__((fallthrough));
    case PQ_FMT_B1: {
        long long b;
        __builtin_memcpy(&b, p, 8);
        __m256i y = _mm256_set1_epi64x(b);
        __m256i h0 = _mm256_and_si256(_mm256_srlv_epi64(y, _mm256_setr_epi64x(0, 1, 2, 3)), splat8(1));
        __m256i h1 = _mm256_and_si256(_mm256_srlv_epi64(y, _mm256_setr_epi64x(4, 5, 6, 7)), splat8(1));
        if (f == PQ_FMT_B1) {
            v[0] = h0, v[1] = h1;
        } else {
            v[0] = _mm256_or_si256(v[0], _mm256_slli_epi16(h0, 2));
            v[1] = _mm256_or_si256(v[1], _mm256_slli_epi16(h1, 2));
        }
        return;
    }
    default:
        v[0] = v[1] = _mm256_setzero_si256();
        return;
    }
}

/* Σ u·q over 32 bytes into 8 int32 lanes. */
INL __m256i dot_u8_s8(pq_format f, __m256i u, __m256i q) {
    __m256i p16;
    if (f == PQ_FMT_B8) {
        __m256i c = _mm256_xor_si256(u, splat8(0x80)); /* u - 128 as int8 */
        p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(c), _mm256_sign_epi8(q, c));
    } else {
        p16 = _mm256_maddubs_epi16(u, q);
    }
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Σ u·q over a whole block of codes below 16, one vpmaddwd for all of it: the
 * vpmaddubsw pair sums (at most 2·15·127 = 3810 each) are added as int16 first,
 * 8 vectors (10 for T1_6, codes below 3) staying under 32767, so the sum is
 * exact. Half the multiplies of a vpmaddwd per vector: the multiply ports were
 * the limit. */
INL __m256i block_dot16(const __m256i v[MAXV], int nv, const int8_t *q) {
    __m256i p[MAXV];
#pragma GCC unroll 10
    for (int m = 0; m < nv; m++) p[m] = _mm256_maddubs_epi16(v[m], _mm256_loadu_si256((const __m256i *)(q + 32 * m)));
    __m256i s = _mm256_add_epi16(_mm256_add_epi16(_mm256_add_epi16(p[0], p[1]), _mm256_add_epi16(p[2], p[3])),
                                 _mm256_add_epi16(_mm256_add_epi16(p[4], p[5]), _mm256_add_epi16(p[6], p[7])));
    if (nv == 10) s = _mm256_add_epi16(s, _mm256_add_epi16(p[8], p[9]));
    return _mm256_madd_epi16(s, _mm256_set1_epi16(1));
}

INL int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

INL float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INL void q8_tile(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1, int t0, pq_format F, int NT) {
    const size_t stride = (size_t)a->stride;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = W->data + (size_t)r * W->row_bytes;
        __m256i acc[PQ_TOKEN_TILE][4];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[t][j] = _mm256_setzero_si256();
        for (int b = 0; b < W->nblocks; b++) {
            __m256i v[MAXV];
            int nv = unpack_block(F, row + (size_t)b * W->block_bytes, v);
            const int8_t *q = a->q + (size_t)t0 * stride + (size_t)b * W->block;
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                if (F == PQ_FMT_B8) {
#pragma GCC unroll 8
                    for (int m = 0; m < nv; m++)
                        acc[t][m % 4] = _mm256_add_epi32(
                            acc[t][m % 4],
                            dot_u8_s8(F, v[m], _mm256_loadu_si256((const __m256i *)(q + t * stride + 32 * m))));
                } else {
                    acc[t][0] = _mm256_add_epi32(acc[t][0], block_dot16(v, nv, q + t * stride));
                }
            }
        }
        const uint8_t *tail = row + (size_t)W->nblocks * W->block_bytes;
        const int8_t *qt = a->q + (size_t)t0 * stride + (size_t)W->nblocks * W->block;
        for (int i = 0; i < W->tail_vecs; i++) {
            __m256i v[2];
            unpack_tail(F, tail + (size_t)i * W->tail_bytes, v);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++)
                for (int h = 0; h < 2; h++)
                    acc[t][(2 * i + h) % 4] = _mm256_add_epi32(
                        acc[t][(2 * i + h) % 4],
                        dot_u8_s8(F, v[h], _mm256_loadu_si256((const __m256i *)(qt + t * stride + 64 * i + 32 * h))));
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            __m256i s = _mm256_add_epi32(_mm256_add_epi32(acc[t][0], acc[t][1]), _mm256_add_epi32(acc[t][2], acc[t][3]));
            int32_t isum = hsum_epi32(s);
            if (F == PQ_FMT_B8) isum += 128 * a->qsum[t0 + t];
            y[(size_t)(t0 + t) * W->rows + r] =
                pq_q8_finish(W->scale[r], W->offset[r], a->d[t0 + t], isum, a->dqsum[t0 + t]);
        }
    }
}

/* 32 unpacked codes times the matching 32 activations of each of NT tokens
 * (x: the first token's; the next ones follow every `stride` floats). */
INL void f32_vector(__m256i u, const float *x, size_t stride, int NT, __m256 acc[PQ_TOKEN_TILE][4]) {
    __m128i lo = _mm256_castsi256_si128(u), hi = _mm256_extracti128_si256(u, 1);
    __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    __m256 w2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    __m256 w3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++) {
        const float *xt = x + t * stride;
        acc[t][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xt), acc[t][0]);
        acc[t][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xt + 8), acc[t][1]);
        acc[t][2] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xt + 16), acc[t][2]);
        acc[t][3] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xt + 24), acc[t][3]);
    }
}

INL void f32_tile(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1, int t0, pq_format F, int NT) {
    const size_t stride = (size_t)a->stride;
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = W->data + (size_t)r * W->row_bytes;
        __m256 acc[PQ_TOKEN_TILE][4];
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++)
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[t][j] = _mm256_setzero_ps();
        for (int b = 0; b < W->nblocks; b++) {
            __m256i v[MAXV];
            int nv = unpack_block(F, row + (size_t)b * W->block_bytes, v);
            const float *x = a->x + (size_t)t0 * stride + (size_t)b * W->block;
#pragma GCC unroll 10
            for (int m = 0; m < nv; m++) f32_vector(v[m], x + 32 * m, stride, NT, acc);
        }
        const uint8_t *tail = row + (size_t)W->nblocks * W->block_bytes;
        const float *xtl = a->x + (size_t)t0 * stride + (size_t)W->nblocks * W->block;
        for (int i = 0; i < W->tail_vecs; i++) {
            __m256i v[2];
            unpack_tail(F, tail + (size_t)i * W->tail_bytes, v);
            for (int h = 0; h < 2; h++) f32_vector(v[h], xtl + 64 * i + 32 * h, stride, NT, acc);
        }
#pragma GCC unroll 4
        for (int t = 0; t < NT; t++) {
            __m256 s = _mm256_add_ps(_mm256_add_ps(acc[t][0], acc[t][1]), _mm256_add_ps(acc[t][2], acc[t][3]));
            y[(size_t)(t0 + t) * W->rows + r] = pq_f32_finish(W->scale[r], W->offset[r], hsum_ps(s), a->xsum[t0 + t]);
        }
    }
}

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
INSTANTIATE(b2, PQ_FMT_B2)
INSTANTIATE(b3, PQ_FMT_B3)
INSTANTIATE(b4, PQ_FMT_B4)
INSTANTIATE(b8, PQ_FMT_B8)
INSTANTIATE(t16, PQ_FMT_T1_6)

typedef void (*tile_fn)(const pq_packed *, const pq_act_batch *, float *, int, int, int, int);

void pq_kern_avx2(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1) {
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

void pq_kern_avx2(const pq_packed *W, const pq_act_batch *a, float *y, int r0, int r1) { pq_kern_ref(W, a, y, r0, r1); }

#endif
