/* ptq.h — post-training quantization of a whole model: RTN and GPTQ.
 *
 * Both quantize the block linears (q, k, v, o, gate, up, down of every layer)
 * with one pq_quantizer and per-row scales at their initial values (the
 * member's init rule applied to the full-precision weights), and return a
 * quantized checkpoint (qexport.h) that the evaluator loads like any model.
 *
 * GPTQ runs layer by layer: the Hessians of layer l's four distinct inputs
 * (attention input for q|k|v, attention output for o, MLP input for gate|up,
 * SwiGLU output for down) are collected by running the calibration tokens
 * through the model whose layers 0..l-1 are already quantized, so each layer
 * compensates the error of the ones before it (as the reference implementation
 * does); then the layer's 7 linears are quantized with pq_gptq_quantize. */
#ifndef PQ_PTQ_H
#define PQ_PTQ_H

#include <stdint.h>

#include <jansson.h>

#include "base/ckpt.h"
#include "model/model.h"
#include "quant/quantizer.h"

/* Quantizes m's block linears in place (latent weights become α·q̂) and returns
 * the quantized checkpoint. report (may be NULL) receives per-linear entries. */
pq_ckpt *pq_ptq_rtn(pq_model *m, const pq_quantizer *q, json_t *report);

/* calib: n_seq sequences of T tokens (row-major), run in micro-batches of
 * `batch`. report (may be NULL): per linear {layer, which, err_rtn, err_gptq},
 * the relative output errors ‖WX − ŴX‖²/‖WX‖² on the calibration inputs.
 * NULL + pq_error() if a Hessian cannot be factored. */
pq_ckpt *pq_ptq_gptq(pq_model *m, const pq_quantizer *q, const uint16_t *calib, int n_seq, int T, int batch, double damp,
                     int block, json_t *report);

#endif
