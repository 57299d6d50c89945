/* gguf.h — a pq checkpoint as a GGUF v3 file for llama.cpp (architecture "llama").
 *
 * Metadata: general.* and llama.* (context, widths, heads, rope.freq_base,
 * attention.layer_norm_rms_epsilon, vocab_size) and, given a pq tokenizer file, the
 * tokenizer as GPT-2-style byte-level BPE (tokens in GPT-2's byte-to-unicode alphabet,
 * merges "left right", BOS/EOS as control tokens). LLaMA-3 RoPE scaling is written as
 * llama.cpp's rope_freqs.weight (the factor each frequency is divided by).
 *
 * Tensors under llama.cpp's names (token_embd, blk.N.attn_q, ..., output_norm, output).
 * llama.cpp rotates interleaved pairs (2i, 2i+1), pq and Hugging Face rotate halves
 * (i, i + hd/2), so the rows of attn_q and attn_k are permuted per head as llama.cpp's
 * converter does. Each quantized linear is stored in the llama.cpp type that holds its
 * levels EXACTLY, checked weight by weight: Q4_0 (d·(q−8), q in 0..15, one fp16 d per 32
 * weights) when every level is d·k with integer k in [−8, 7] and d = α/m (m = 1 or 2)
 * is an fp16 number (1, 1.58, 2, 3 and 4 bits), Q8_0 likewise for k in [−128, 127]
 * (8 bits); otherwise F32, the dequantized weights themselves, with the reason recorded
 * in the report (typically: the row scale α is not an fp16 number). Norms, the embedding
 * and the head are F32. */
#ifndef PQ_GGUF_H
#define PQ_GGUF_H

#include <jansson.h>

#include "base/ckpt.h"

/* Writes path (temp + rename). tokenizer: a pq-bpe file or NULL (then no tokenizer
 * metadata: llama.cpp needs one to run the file). *report (may be NULL) receives
 * {"tensors": [{"name", "type", "reason"?}], ...}. -1 + pq_error() naming the file. */
int pq_gguf_export(const pq_ckpt *c, const char *what, const char *tokenizer, const char *path, json_t **report);

#endif
