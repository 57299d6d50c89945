/* qexport.h — quantized checkpoints: integer codes + per-row scales, packed.
 *
 * A quantized checkpoint is an ordinary model checkpoint (every tensor under its
 * usual name, so the evaluator and pq_model_from_ckpt load it unchanged; the
 * block linears hold the dequantized weights α·q̂) plus, per quantized linear
 * "<name>" [rows, cols]:
 *   "<name>.qcodes"  U8 [rows, row_bytes]  codes 0..levels-1, `storage_bits` each
 *                    (1, 2 for ternary, 2, 3, 4, 8), packed LSB-first: code j of a
 *                    row sits at bits j·b .. j·b+b-1 of the row's little-endian
 *                    bit string; each row starts on a byte (row_bytes = ceil(cols·b/8))
 *   "<name>.qscale"  F32 [rows]            α per row (as the forward used it, clamped at 1e-5)
 * and meta.quant = {quantizer, bits, levels, level0, level_step, storage_bits,
 *   packing: "lsb-rows-v1", linears: [names], quantized_params, fp_params,
 *   effective_bytes, packed_bytes}. The weight is w = α·(level0 + code·level_step)
 * — the affine form core/kernels/pack.h takes as scale = α·level_step,
 * offset = α·level0. effective_bytes follows the paper's size axis:
 * quantized params × bits/8 (1.58 for ternary) + full-precision params × 2. */
#ifndef PQ_QEXPORT_H
#define PQ_QEXPORT_H

#include <stdint.h>

#include "base/ckpt.h"
#include "quant/quantizer.h"

#define PQ_QPACKING "lsb-rows-v1"

/* Bytes of one packed row. */
size_t pq_qpack_row_bytes(int cols, int storage_bits);
/* Packs rows×cols codes (each < 2^storage_bits) into rows × row_bytes bytes. */
void pq_qpack(const uint8_t *codes, int rows, int cols, int storage_bits, uint8_t *out);
void pq_qunpack(const uint8_t *packed, int rows, int cols, int storage_bits, uint8_t *codes);

/* Records one quantized linear: stores (or overwrites, if the checkpoint already
 * has it as F32 [rows·cols]) "<name>" with the dequantized weights, and adds
 * "<name>.qcodes" and "<name>.qscale". W is the latent weight; alpha the scales
 * the forward used (for statistics-based members: what pq_quant_forward computed).
 * Returns the number of packed bytes. */
size_t pq_qexport_linear(pq_ckpt *c, const char *name, const pq_quantizer *q, const float *W, const float *alpha, int rows,
                         int cols);
/* Same, from codes already chosen (GPTQ) rather than from W. */
size_t pq_qexport_codes(pq_ckpt *c, const char *name, const pq_quantizer *q, const uint8_t *codes, const float *alpha,
                        int rows, int cols);

/* Writes meta.quant. linear_names: the quantized tensors; every other F32 tensor
 * counts as full precision (2 bytes per parameter in effective_bytes). */
void pq_qexport_finish(pq_ckpt *c, const pq_quantizer *q, const char *const *linear_names, int n_linears);

/* Effective model size in bytes: quantized × bits/8 + fp × 2. */
double pq_effective_bytes(int64_t quantized_params, int64_t fp_params, pq_qbits bits);

/* Checks a quantized checkpoint: every linear in meta.quant has codes in range
 * whose dequantized values equal the stored float weights bit for bit.
 * -1 + pq_error() naming the tensor otherwise (what a loader should call). */
int pq_qexport_verify(const pq_ckpt *c, const char *what);

/* What every loader checks before it runs a checkpoint's weights (pq eval,
 * pq generate, pq bench decode): every F32 tensor finite (a NaN or Inf weight
 * would be computed with, and is undefined in the fast exp), and, for a
 * quantized checkpoint (meta.quant), pq_qexport_verify (codes that do not give
 * the stored weights were tampered with). -1 + pq_error() naming `what` and the
 * tensor. */
int pq_check_ckpt_weights(const pq_ckpt *c, const char *what);

#endif
