#!/usr/bin/env python3
"""make_hf.py — a LLaMA-architecture Hugging Face directory of any shape, random BF16 weights,
made with PyTorch alone (the GPU machine has torch, not necessarily numpy; for the tests'
small directories with a reference forward see tests/integration/hf_llama.py, whose config
fields and weight scales this follows).

    make_hf.py DIR [--dim 576 --layers 30 --heads 9 --kv-heads 3 --ffn 1536 --vocab 32000
                    --ctx 2048] [--theta X] [--eps E] [--llama3 ORIG_CTX] [--untied]
                   [--arch MobileLLMForCausalLM] [--tokenizer FILE] [--seed S]

Defaults are MobileLLM-125M's shape (tied head, θ 10000, ε 1e-5). Writes DIR/config.json and
DIR/model.safetensors (the bytes written by hand), and copies --tokenizer into DIR
(tokenizer.model or tokenizer.json, by its name). Weights: N(0, 1/fan_in), norms 1 + 0.2 N(0, 1)."""
import argparse
import ctypes
import json
import os
import shutil
import struct

import torch


def raw(t):
    """The tensor's bytes, without numpy."""
    t = t.contiguous()
    return (ctypes.c_char * (t.numel() * t.element_size())).from_address(t.data_ptr())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    for k, v in [("dim", 576), ("layers", 30), ("heads", 9), ("kv-heads", 3), ("ffn", 1536), ("vocab", 32000),
                 ("ctx", 2048), ("seed", 7), ("llama3", 0)]:
        ap.add_argument("--" + k, type=int, default=v)
    ap.add_argument("--theta", type=float, default=10000.0)
    ap.add_argument("--eps", type=float, default=1e-5)
    ap.add_argument("--untied", action="store_true")
    ap.add_argument("--arch", default="MobileLLMForCausalLM")
    ap.add_argument("--tokenizer")
    a = ap.parse_args()
    D, L, H, KV, F, V = a.dim, a.layers, a.heads, a.kv_heads, a.ffn, a.vocab
    hd = D // H
    cfg = {"architectures": [a.arch], "model_type": "llama", "hidden_size": D, "num_hidden_layers": L,
           "num_attention_heads": H, "num_key_value_heads": KV, "intermediate_size": F, "vocab_size": V,
           "max_position_embeddings": a.ctx, "rope_theta": a.theta, "rms_norm_eps": a.eps,
           "tie_word_embeddings": not a.untied, "hidden_act": "silu", "attention_bias": False,
           "torch_dtype": "bfloat16", "rope_scaling": None, "bos_token_id": 1, "eos_token_id": 2}
    if a.llama3:
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": a.llama3}
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for l in range(L):
        p = "model.layers.%d." % l
        shapes.update({p + "input_layernorm.weight": (D,), p + "self_attn.q_proj.weight": (H * hd, D),
                       p + "self_attn.k_proj.weight": (KV * hd, D), p + "self_attn.v_proj.weight": (KV * hd, D),
                       p + "self_attn.o_proj.weight": (D, D), p + "post_attention_layernorm.weight": (D,),
                       p + "mlp.gate_proj.weight": (F, D), p + "mlp.up_proj.weight": (F, D),
                       p + "mlp.down_proj.weight": (D, F)})
    if a.untied:
        shapes["lm_head.weight"] = (V, D)
    g = torch.Generator().manual_seed(a.seed)
    tensors, header, off = [], {"__metadata__": {"format": "pt"}}, 0
    for name, shape in shapes.items():
        x = torch.randn(shape, generator=g)
        x = 1 + 0.2 * x if len(shape) == 1 else x / shape[-1] ** 0.5
        t = x.to(torch.bfloat16)  # round to nearest even
        n = t.numel() * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
        tensors.append(t)
    os.makedirs(a.dir, exist_ok=True)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(a.dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for t in tensors:
            f.write(raw(t))
    with open(os.path.join(a.dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    if a.tokenizer:
        shutil.copy(a.tokenizer, os.path.join(a.dir, os.path.basename(a.tokenizer)))
    n_params = sum(t.numel() for t in tensors)
    print("%s: %d tensors, %d parameters, %.0f MB" % (a.dir, len(tensors), n_params, off / 1e6))


if __name__ == "__main__":
    main()
