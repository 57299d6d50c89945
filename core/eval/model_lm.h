/* model_lm.h — the engine's transformer (model/model.h) as a pq_lm.
 *
 * Scoring runs an inference-only forward built from the engine's own layer
 * functions (RMSNorm, linear, RoPE, SwiGLU: model/layers.h) so the numerics and
 * conventions are the training forward's. What differs is the bookkeeping that
 * makes zero-shot scoring cheap:
 *   - every group's shared prefix is computed once; its continuations attend to
 *     the prefix's keys and values (a KV cache shared within the layer pass),
 *     each continuation only to itself after that;
 *   - all rows of all groups of a call go through each linear layer as one
 *     matrix (large sgemms), attention is done per row over its two key spans;
 *   - the output head (vocab x dim, the largest matmul per token) runs only on
 *     rows whose next token is scored, not on context positions.
 * A test checks the log-probs against pq_model_forward on full sequences. */
#ifndef PQ_EVAL_MODEL_LM_H
#define PQ_EVAL_MODEL_LM_H

#include "eval/lm.h"
#include "model/model.h"

/* Wraps m (not owned; it must outlive lm; without a QAT hook: its weights as they are) in lm. */
void pq_model_lm_init(pq_lm *lm, const pq_model *m);

#include <jansson.h>

/* Loads a model checkpoint for evaluation: FP, or quantized (quant/qexport.h:
 * the block linears hold α·q̂ and meta.quant describes them; the codes are
 * checked against those weights first). *meta (if not NULL) gets a reference to
 * the checkpoint's metadata. NULL + pq_fail naming the file on any problem. */
pq_model *pq_eval_load_model(const char *path, json_t **meta);

#endif
