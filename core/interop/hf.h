/* hf.h — Hugging Face LLaMA-family directories <-> pq models.
 *
 * Import reads config.json (LlamaForCausalLM / MobileLLMForCausalLM: hidden_size,
 * num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size,
 * vocab_size, max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings,
 * rope_scaling of type llama3) and model.safetensors (or a sharded index), F32, F16 or
 * BF16, into a pq_model. HF's q/k weights already use the rotate-half RoPE pairing
 * (i, i + hd/2) that core/model uses, so they are copied as they are.
 *
 *   model.embed_tokens.weight -> tok_emb         model.norm.weight -> final_norm
 *   model.layers.L.input_layernorm.weight -> layers.L.attn_norm
 *   model.layers.L.self_attn.{q,k,v,o}_proj.weight -> layers.L.{wq,wk,wv,wo}
 *   model.layers.L.post_attention_layernorm.weight -> layers.L.mlp_norm
 *   model.layers.L.mlp.{gate,up,down}_proj.weight -> layers.L.{w_gate,w_up,w_down}
 *   lm_head.weight -> head (untied models only; a tied model's copy is ignored)
 *
 * Export writes the same names as F32 (a quantized checkpoint's dequantized weights),
 * plus "<hf name>.qcodes" (U8) and "<hf name>.qscale" (F32) per quantized linear, and
 * config.json with "quantization_config": {"quant_method": "paretoq", ...meta.quant}.
 * Import ignores the .qcodes/.qscale tensors, so export -> import is the model's
 * weights bit for bit. */
#ifndef PQ_HF_H
#define PQ_HF_H

#include "base/ckpt.h"
#include "model/model.h"

/* ctx_cap > 0 caps max_position_embeddings. NULL + pq_error() (one line naming the file
 * and field or tensor) on anything unsupported or malformed. */
pq_model *pq_hf_import(const char *dir, int ctx_cap);

/* The HF name of a pq tensor name ("layers.3.wq" -> "model.layers.3.self_attn.q_proj.weight"),
 * into out; -1 if it has none. */
int pq_hf_name(const char *pq_name, char *out, size_t n);

/* Writes dir/config.json and dir/model.safetensors from a model checkpoint (quantized or not). */
int pq_hf_export(const pq_ckpt *c, const char *path_for_errors, const char *dir);

#endif
