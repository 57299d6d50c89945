/* infer.h — one-token-at-a-time decoding with packed low-bit weights.
 *
 * The same transformer as core/model (RMSNorm, RoPE θ 10000 with rotate_half
 * pairs, grouped-query attention, SwiGLU, tied embedding/head), run for one new
 * token per step against a KV cache, with every block linear held in a packed
 * format (pack.h) and multiplied by the kernels of gemv.h; q|k|v and gate|up,
 * which read the same input, are stacked into one matrix each. A quantized
 * checkpoint (core/quant/qexport.h: "<name>.qcodes" + ".qscale" + meta.quant)
 * gives packed linears: the k-level grid goes to the smallest format that holds
 * it (ternary: T2, or T1_6 when asked), with scale = α·level_step and
 * offset = α·level0, exactly the weights the fake-quant forward used. A
 * full-precision checkpoint keeps its linears in fp32 (OpenBLAS sgemv): the
 * 16/32-bit point of the speed comparison. Embedding and norms stay fp32; the
 * output head is int8 (per-row absmax, round to nearest) by default where the
 * decode already runs int8 activations through packed linears, whose rounding
 * error is of the same order (pq_infer_head_accuracy measures its cost), and
 * fp32 with fp32 activations or an fp32 checkpoint, whose decode is exact.
 *
 * Logits agree with pq_model_logits on the fake-quant model (tested in
 * tests/unit/test_kernels_infer.c): within 1e-4 of (1 + max|logit|) with fp32
 * activations; int8 activations add their rounding error (a few % of the
 * largest logit on the test model). */
#ifndef PQ_INFER_H
#define PQ_INFER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/ckpt.h"
#include "kernels/gemv.h"
#include "model/config.h"

typedef struct {
    pq_act_kind act; /* activations of the packed linears (default PQ_ACT_Q8) */
    int ternary_1_6; /* 3-level grids at 1.6 bits/weight instead of 2 */
    int head_b8;     /* 1: int8 output head, 0: fp32, -1 (default): int8 when act is q8 and the linears are packed */
    int isa;         /* a pq_isa, or -1: the best this CPU runs */
    int threads;     /* 0: pq_threads() */
} pq_infer_options;

pq_infer_options pq_infer_defaults(void);

typedef struct pq_infer pq_infer;

/* Loads a model checkpoint (quantized or not). NULL + pq_error() naming the
 * file and what is wrong (missing tensor, bad quant metadata, codes out of range). */
pq_infer *pq_infer_load(const char *path, const pq_infer_options *opt);
/* The same from a checkpoint in memory; `what` names it in errors. */
pq_infer *pq_infer_from_ckpt(const pq_ckpt *c, const char *what, const pq_infer_options *opt);
/* The same, emptying c's tensors as they are used (0 elements after; its metadata
 * stays): the fp32 ones (embedding, norms, the linears of a full-precision model)
 * become the decoder's without a copy, and what the decoder does not keep (a quantized
 * checkpoint's dequantized weights, codes once packed) is freed as it goes, so that
 * building costs about the checkpoint, not the checkpoint plus the decoder. The
 * decoder is the same as pq_infer_from_ckpt's; on failure c may be partly emptied. */
pq_infer *pq_infer_take_ckpt(pq_ckpt *c, const char *what, const pq_infer_options *opt);
/* A model of this shape with random weights, its linears in `format` (a
 * pq_format, or -1 for fp32): what decode speed measurements need. */
pq_infer *pq_infer_random(const pq_model_config *cfg, int format, const pq_infer_options *opt, uint64_t seed);
void pq_infer_free(pq_infer *m);

const pq_model_config *pq_infer_config(const pq_infer *m);
/* Threads of the packed linears from now on (<= 0: pq_threads()). */
void pq_infer_set_threads(pq_infer *m, int threads);
/* Switches the output head to int8 rows (on) or back to the fp32 embedding. */
void pq_infer_set_head_b8(pq_infer *m, int on);
/* Whether the output head is int8. */
int pq_infer_head_b8(const pq_infer *m);
/* "b2", "t1.6", ..., or "f32": the format of the block linears. */
const char *pq_infer_format(const pq_infer *m);
/* Bytes of weights read per decoded token (block linears + head). */
size_t pq_infer_weight_bytes(const pq_infer *m);

/* Empties the KV cache (the next token is at position 0). */
void pq_infer_reset(pq_infer *m);
/* Position of the next token. */
int pq_infer_pos(const pq_infer *m);
/* Appends one token and returns the logits for the next one (vocab floats,
 * owned by m, valid until the next call). NULL + pq_error() if the context is
 * full or the token is outside the vocabulary. */
const float *pq_infer_step(pq_infer *m, int token);

/* The int8 head's cost on a token sequence (real text), teacher-forced: the
 * sequence is decoded in windows of up to ctx tokens from an empty cache, and
 * at every position the int8 head's logits are compared with the fp32 head's
 * on the same hidden state: top-1 agreement, max and mean |logit difference|,
 * the largest difference relative to the position's max |logit|, and the mean
 * negative log-likelihood of the next token under each head (what perplexity
 * would see). Leaves the head as it was. Returns a JSON object, or NULL +
 * pq_error() on a token outside the vocabulary. */
json_t *pq_infer_head_accuracy(pq_infer *m, const int32_t *tokens, int n);

/* Decode speed of one model: tokens/s of single-token steps (after a prompt of
 * prefill tokens), median over repeats. Returns a JSON object
 * {format, weight_bytes, tokens_per_s, ms_per_token, effective_gbs, ...}. */
json_t *pq_infer_measure(pq_infer *m, int prefill, int tokens);

/* `pq bench kernels` part: decode tokens/s per model size and bit width on
 * random weights; *out receives a JSON array. */
int pq_bench_decode(int quick, json_t **out);
/* `pq bench decode --model CKPT`: decode speed of one checkpoint into out_dir/results.json;
 * with n_text > 0 tokens of text, also pq_infer_head_accuracy on them. */
int pq_bench_decode_model(const char *ckpt, const char *out_dir, const pq_infer_options *opt, const int32_t *text,
                          int n_text);

#endif
