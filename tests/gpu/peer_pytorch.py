#!/usr/bin/env python3
"""peer_pytorch.py — the PyTorch peer of `pq bench gpu`: pq's model and training step in PyTorch.

The same decoder as core/model (token embedding; per layer RMSNorm, fused q|k|v, RoPE with the
rotate_half pairing and theta 10000, causal grouped-query attention, output projection, RMSNorm,
fused gate|up, SwiGLU, down projection; final RMSNorm, head tied to the embedding; no biases,
eps 1e-5) and the same step (mean cross-entropy, backward, global-norm clipping at 1.0, AdamW with
weight decay on matrices only), on random tokens, batch and context as given. Precision as pq's
--precision: fp32 (no TF32 anywhere) or tf32 (TF32 matmuls and convolutions). Mode eager or
torch.compile (default mode, fullgraph) of the forward and backward: of the whole model
(--compile-scope model), or of each block and of the head + loss (blocks: PyTorch's "regional
compilation", which compiles one block once for all layers: minutes less for deep models). The
optimizer is torch's fused AdamW in both.

Prints one JSON object: torch/CUDA versions and, per (precision, mode), tokens/s over the timed
steps (after warm-up steps that include compilation), the compile+warm-up seconds and the last loss.
Lives in tests/gpu/ beside test_gpu.cu and bench_pretrain.sh: it only runs on a GPU machine, is
not part of pq's library, and `pq bench gpu` runs it as a child process.

usage: peer_pytorch.py --dim D --layers L --heads H --kv-heads K --ffn F --vocab V --batch B
                       --ctx T [--steps N] [--warmup N] [--precisions fp32,tf32] [--modes eager,compile]
                       [--compile-scope model|blocks]
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):
    # x [B, heads, T, hd]; rotate_half pairing (i, i + hd/2), as core/model/layers.c
    half = x.shape[-1] // 2
    a, b = x[..., :half], x[..., half:]
    return torch.cat((a * cos - b * sin, b * cos + a * sin), dim=-1)


class Block(nn.Module):
    def __init__(self, d, h, kv, f):
        super().__init__()
        self.h, self.kv, self.hd = h, kv, d // h
        self.attn_norm, self.mlp_norm = RMSNorm(d), RMSNorm(d)
        self.wqkv = nn.Linear(d, d + 2 * kv * self.hd, bias=False)
        self.wo = nn.Linear(d, d, bias=False)
        self.wgu = nn.Linear(d, 2 * f, bias=False)
        self.wdown = nn.Linear(f, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        q, k, v = self.wqkv(self.attn_norm(x)).split([D, self.kv * self.hd, self.kv * self.hd], dim=-1)
        q = rope(q.view(B, T, self.h, self.hd).transpose(1, 2), cos, sin)
        k = rope(k.view(B, T, self.kv, self.hd).transpose(1, 2), cos, sin)
        v = v.view(B, T, self.kv, self.hd).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.wo(y.transpose(1, 2).reshape(B, T, D))
        g, u = self.wgu(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.wdown(F.silu(g) * u)


class Model(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.tok_emb = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a.dim, a.heads, a.kv_heads, a.ffn) for _ in range(a.layers))
        self.final_norm = RMSNorm(a.dim)
        hd = a.dim // a.heads
        freq = 10000.0 ** (-2.0 * torch.arange(hd // 2, dtype=torch.float64) / hd)
        ang = torch.arange(a.ctx, dtype=torch.float64)[:, None] * freq[None, :]
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)
        for n, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens, targets):
        T = tokens.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.tok_emb(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.loss(x, targets)

    def loss(self, x, targets):
        logits = F.linear(self.final_norm(x), self.tok_emb.weight)  # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def set_precision(p):
    tf32 = p == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def measure(a, precision, mode):
    set_precision(precision)
    torch.manual_seed(1)
    model = Model(a).cuda()
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}], lr=3e-3,
                            betas=(0.9, 0.95), eps=1e-8, fused=True)
    fwd = model
    if mode == "compile":
        torch._dynamo.reset()  # each measurement compiles afresh (warm-up seconds include it)
        if a.compile_scope == "model":
            fwd = torch.compile(model, fullgraph=True)
        else:
            for layer in model.layers:
                layer.compile(fullgraph=True)
            model.loss = torch.compile(model.loss, fullgraph=True)
    g = torch.Generator(device="cuda").manual_seed(2)
    x = torch.randint(0, a.vocab, (a.batch, a.ctx + 1), device="cuda", generator=g)
    tokens, targets = x[:, :-1].contiguous(), x[:, 1:].contiguous()

    def step():
        loss = fwd(tokens, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    out = {"precision": precision, "mode": mode, "tokens_per_sec": a.steps * a.batch * a.ctx / dt, "steps": a.steps,
           "seconds": dt, "warmup_seconds": warm, "final_loss": loss.item()}
    if mode == "compile":
        out["compile_scope"] = a.compile_scope
    del model, opt, fwd
    torch.cuda.empty_cache()
    return out


def main():
    ap = argparse.ArgumentParser()
    for k in ("dim", "layers", "heads", "kv_heads", "ffn", "vocab", "batch", "ctx"):
        ap.add_argument("--" + k.replace("_", "-"), type=int, required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--precisions", default="fp32,tf32")
    ap.add_argument("--modes", default="eager,compile")
    ap.add_argument("--compile-scope", choices=("model", "blocks"), default="model")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("peer_pytorch.py: no CUDA device")
    runs = []
    for p in a.precisions.split(","):
        for m in a.modes.split(","):
            try:
                runs.append(measure(a, p, m))
            except Exception as e:  # a failed mode is reported, not fatal: the others still count
                runs.append({"precision": p, "mode": m, "error": "%s: %s" % (type(e).__name__, str(e)[:300])})
            print("peer_pytorch: %s %s %s" % (p, m, json.dumps(runs[-1])), file=sys.stderr, flush=True)
    print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0),
                      "shape": {k: getattr(a, k) for k in ("dim", "layers", "heads", "kv_heads", "ffn", "vocab", "batch", "ctx")},
                      "runs": runs}))


if __name__ == "__main__":
    main()
