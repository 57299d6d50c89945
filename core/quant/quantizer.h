/* quantizer.h — weight fake-quantization with one scale per output row.
 *
 * A quantizer maps a weight matrix W (rows x cols, row-major; one row = one
 * output channel) and per-row scales α to W_Q = α·q̂(W/α), where q̂ takes values
 * in a small level set. QAT trains the latent W (and, for learnable ranges, α)
 * through the backward pass below; export stores q̂ as integer codes.
 *
 * Members, named in configs by these strings (DESIGN.md §2 gives the ParetoQ
 * equations, which are implemented exactly as in the authors' released code):
 *
 *   name      bits            levels q̂ (times α)                    α
 *   sign      1               {-1, +1}; sign(0) = 0                  learned, init mean|W|
 *   sign_max  1               the same                                learned, init max|W| (the 1-bit
 *                                                                     scale-init comparison of Fig. 6)
 *   seq       1.58,2,3,4,8    k = 3 or 2^b equally spaced levels     learned, init max|W|
 *                             -1+(2i+1)/k: {-2/3,0,2/3}, {±1/4,±3/4}, {±1/8..±7/8}, ...
 *   lsq       1.58,2,3,4,8    integers clamp(round(u), n, p),        learned, init max|W|/p
 *                             n = -2^(b-1), p = 2^(b-1)-1; 1.58: n=-1, p=1
 *   lsq_wide  1.58,2,3,4,8    the same                               learned, init max|W|/|n| = max|W|/2^(b-1):
 *                                                                     u starts in [n, -n], so the extra negative
 *                                                                     level n is in use (with max|W|/p, u >= -1
 *                                                                     and n = -2 is never reached at 2 bits);
 *                                                                     identical to lsq at 1.58 bits
 *   paretoq   1,1.58,2,3,4,8  the paper's choice: sign@1, seq@1.58 and 2, lsq@3,4,8
 *   minmax    1,1.58,2,3,4,8  k = 2 (1 bit), 3 (1.58) or 2^b levels    statistic: α = max|W| per row,
 *                             spread evenly over [-1, 1]: -1+2i/(k-1)  recomputed every forward
 *   clip      (as minmax)     same grid, values beyond ±1 clamp       statistic: α = min(max|W|, 3·rms(W))
 *   rtn       (as minmax)     same grid as minmax                     frozen at init (max|W|); PTQ baseline
 *   absmean   1.58            {-1, 0, +1} = clamp(round(W/α), -1, 1)  statistic: α = mean|W| (BitNet b1.58)
 *   int8      8               integers -127..127                     statistic: α = max|W|/127
 *
 * Learned ranges (sign, seq, lsq) get dL/dα from the equations of DESIGN.md §2.
 * Statistics-based ranges (minmax, clip, absmean, int8) and rtn are not trained:
 * their backward is a straight-through estimator on W only, masked where the
 * weight is clipped (|u| > 1 for minmax/clip/rtn, outside [-127,127] for int8;
 * absmean passes every gradient through, as BitNet's w + (q(w) - w).detach()).
 * The gradient through the statistic itself is ignored, by design of STE.
 *
 * Numerics: u = W/α in float (a division, as in the reference code, so decision
 * thresholds match it bit for bit); rounding is half-to-even (rintf under the
 * default rounding mode, as torch.round); α is clamped below at 1e-5 inside
 * forward and backward (the stored α itself is left alone, and dL/dα is computed
 * at the clamped value and handed to α unchanged, as the reference code does).
 * grad_scale = 1/sqrt(numel(W)·Qp), Qp = 1 at 1, 1.58 and 2 bits, 2^(b-1)-1 above. */
#ifndef PQ_QUANTIZER_H
#define PQ_QUANTIZER_H

#include <stdint.h>

typedef enum {
    PQ_Q_SIGN,
    PQ_Q_SEQ,
    PQ_Q_LSQ,
    PQ_Q_MINMAX,
    PQ_Q_CLIP,
    PQ_Q_RTN,
    PQ_Q_ABSMEAN,
    PQ_Q_INT8,
} pq_qmethod;

/* Bit widths are written as in the paper; 1.58 means ternary (3 levels). */
typedef enum { PQ_BITS_1 = 1, PQ_BITS_TERNARY = 158, PQ_BITS_2 = 2, PQ_BITS_3 = 3, PQ_BITS_4 = 4, PQ_BITS_8 = 8 } pq_qbits;

typedef struct {
    pq_qmethod method;
    pq_qbits bits;
    int levels;        /* k: number of distinct q̂ values (codes 0..k-1) */
    float level0;      /* q̂ of code 0 ... */
    float level_step;  /* ... and the spacing: q̂(code) = level0 + code·level_step */
    float qn, qp;      /* clamp range of u (LSQ-style methods), or ±clip (SEQ) */
    float seq_nlev;    /* SEQ: n_levels (1.5 for ternary, 2^(b-1) otherwise) */
    float seq_shift;   /* SEQ: 0 for ternary, 0.5 otherwise */
    float grad_qp;     /* Qp in grad_scale */
    int learned;       /* α is a trained parameter */
    int statistic;     /* α is recomputed from W at every forward */
    int init_max;      /* sign_max: α starts at max|W| instead of mean|W| */
    int init_wide;     /* lsq_wide: α starts at max|W|/|qn| instead of max|W|/qp */
    int scale_fp16;    /* the forward's α is rounded so that α/scale_unit_inv is an fp16 number */
    float scale_unit_inv; /* with scale_fp16: every level is an integer multiple of α/scale_unit_inv */
    char name[16];     /* resolved member name ("seq", not "paretoq") */
} pq_quantizer;

#define PQ_ALPHA_MIN 1e-5f
#define PQ_SEQ_CLIP 0.99f

/* Parses "1", "1.58" (also "1.6", "ternary"), "2", "3", "4", "8"; -1 + pq_error() otherwise. */
int pq_qbits_parse(const char *text, pq_qbits *out);
/* "1", "1.58", "2", ... */
const char *pq_qbits_name(pq_qbits b);
/* Bits per weight as a number (1.58 for ternary: log2(3) rounded, as the paper counts size). */
double pq_qbits_value(pq_qbits b);
/* Bits per stored code in the packed format (ternary: 2). */
int pq_qbits_storage(pq_qbits b);

/* Resolves a member by name ("paretoq", "sign", "sign_max", "seq", "lsq", "lsq_wide", "minmax",
 * "clip", "rtn", "absmean", "int8") at a bit width; -1 + pq_error() for an unknown name
 * or a width the member does not support. */
int pq_quantizer_init(pq_quantizer *q, const char *name, pq_qbits bits);
/* All names pq_quantizer_init accepts, NULL-terminated (for --help and tests). */
extern const char *const pq_quantizer_names[];

/* Opts q into fp16 scales (pq qat/ptq --scale-fp16): the α every forward, backward, code and
 * export uses is clamped and then rounded (to nearest, ties to even) so that the level unit
 * d = α/scale_unit_inv is an fp16 number: α itself for integer levels (lsq, lsq_wide, sign,
 * absmean, int8, ternary/1-bit grids), α/2^b for SEQ's half-integer levels, α·2/3 for SEQ
 * ternary. That is the block scale of llama.cpp's TQ1_0/TQ2_0, Q2_K, Q4_0 and Q8_0, so the
 * trained model is the one a GGUF export stores exactly (interop/gguf.h). The latent α stays
 * FP32 and its gradient is computed at the rounded value and handed on unchanged (a
 * straight-through estimator, as for the clamp). -1 + pq_error() for the grids at 2-8 bits
 * (levels −1 + 2i/(2^b − 1) are no integer multiples of one fp16 step). */
int pq_quantizer_set_scale_fp16(pq_quantizer *q);

/* The scale the forward uses for a stored α: clamped below at PQ_ALPHA_MIN and, with
 * scale_fp16, rounded as above (then never below PQ_ALPHA_MIN). Idempotent. */
float pq_quant_alpha(const pq_quantizer *q, float alpha);

/* q̂ for one normalized weight u = W/α (α already clamped). */
float pq_quant_qhat(const pq_quantizer *q, float u);
/* The integer code (0..levels-1) of one normalized weight; q̂ = level0 + code·level_step. */
int pq_quant_code(const pq_quantizer *q, float u);

/* Initial α per row (mean|W|, max|W|, max|W|/p or the statistic, per member). */
void pq_quant_init_scales(const pq_quantizer *q, const float *W, int rows, int cols, float *alpha);

/* Forward fake-quant: W_eff = α·q̂(W/α). For statistics-based members alpha is
 * first recomputed from W (so it is an output too); otherwise it is only read. */
void pq_quant_forward(const pq_quantizer *q, const float *W, float *alpha, int rows, int cols, float *W_eff);

/* Backward: given g = dL/dW_eff, ADDS dL/dW into dW and (learned members only,
 * and only when dalpha != NULL) dL/dα into dalpha. alpha must be what the
 * forward used. Callers zero the accumulators once per step. */
void pq_quant_backward(const pq_quantizer *q, const float *W, const float *alpha, int rows, int cols, const float *g,
                       float *dW, float *dalpha);

/* Integer codes (one byte each, row-major) of the quantized weights, with alpha as
 * forward used it. Weights that would quantize outside the level set cannot
 * occur, except sign(0) = 0 at 1 bit, which exports as +1 (a measure-zero event). */
void pq_quant_codes(const pq_quantizer *q, const float *W, const float *alpha, int rows, int cols, uint8_t *codes);

/* The dequantized value of a code for a row scale: α·(level0 + code·level_step). */
static inline float pq_quant_dequant(const pq_quantizer *q, float alpha, int code) {
    return pq_quant_alpha(q, alpha) * (q->level0 + (float)code * q->level_step);
}

#endif
