/* gguf.h — a pq checkpoint as a GGUF v3 file for llama.cpp (architecture "llama").
 *
 * Metadata: general.* and llama.* (context, widths, heads, rope.freq_base,
 * attention.layer_norm_rms_epsilon, vocab_size) and, given a tokenizer, its vocabulary:
 * pq's BPE or a byte-level tokenizer.json as GPT-2-style BPE (tokens in GPT-2's
 * byte-to-unicode alphabet, merges "left right", special tokens as control tokens), a
 * SentencePiece BPE model or SentencePiece-style tokenizer.json as llama.cpp's
 * SentencePiece vocab. LLaMA-3 RoPE scaling is written as
 * llama.cpp's rope_freqs.weight (the factor each frequency is divided by).
 *
 * Tensors under llama.cpp's names (token_embd, blk.N.attn_q, ..., output_norm, output).
 * llama.cpp rotates interleaved pairs (2i, 2i+1), pq and Hugging Face rotate halves
 * (i, i + hd/2), so the rows of attn_q and attn_k are permuted per head as llama.cpp's
 * converter does. Each quantized linear is stored in the most compact llama.cpp type that
 * holds its levels EXACTLY, checked weight by weight against what llama.cpp's
 * dequantize_row_<type> computes: ternary in TQ2_0 (or TQ1_0 on request; w = (t−1)·d, one
 * fp16 d per 256 weights: the row's levels must be −d, 0, d with d an fp16 number); up to 4
 * levels in Q2_K (w = d·sc·q − dmin·m per 16 weights: the row's step and lowest level must be
 * fp16 numbers times 4-bit integers: SEQ 2-bit {±¼, ±¾}·α is (α/2)·q − (α/4)·3); up to 16 levels
 * in Q4_0 (d·(q−8), q in 0..15, one fp16 d per 32 weights: every level d·k with integer k in
 * [−8, 7] and d = α/m, m a power of two, an fp16 number); then Q8_0 likewise for k in
 * [−128, 127]; otherwise F32, the dequantized weights themselves. Why a more compact type
 * was not used (typically: the row scale α is not an fp16 number, or the row length is not a
 * multiple of the block) is recorded in the report. Models trained or quantized with
 * --scale-fp16 (quant/quantizer.h) have fp16 level units and so meet the conditions. Norms, the embedding
 * and the head are F32. */
#ifndef PQ_GGUF_H
#define PQ_GGUF_H

#include <jansson.h>

#include "base/ckpt.h"

typedef struct {
    /* NULL (then no tokenizer metadata: llama.cpp needs one), pq's BPE (a pq-bpe file: as
     * GPT-2-style BPE, BOS 256 / EOS 257), a byte-level tokenizer.json (llama.cpp's gpt2
     * model with the pre-tokenizer named by pq_hf_bpe_gguf_pre), a SentencePiece-style
     * tokenizer.json or a SentencePiece BPE tokenizer.model (llama.cpp's llama model:
     * pieces, scores (a tokenizer.json's: minus the rank of the merge making the token),
     * types). */
    const char *tokenizer;
    int32_t bos, eos; /* a tokenizer.json's or tokenizer.model's BOS and EOS ids (-1: none) */
    int ternary_tq1;       /* ternary linears as TQ1_0 (1.69 bits/weight) rather than TQ2_0 (2.06, faster) */
} pq_gguf_options;

/* Writes path (temp + rename). opt may be NULL (no tokenizer, TQ2_0). *report (may be NULL)
 * receives {"tensors": [{"name", "type", "reason"?}], "notes": [text]}: reason says why each
 * more compact type was not used; notes, where llama.cpp will tokenize otherwise than pq. -1 + pq_error() naming the file. */
int pq_gguf_export(const pq_ckpt *c, const char *what, const pq_gguf_options *opt, const char *path, json_t **report);

#endif
