#!/usr/bin/python3
"""A tiny LLaMA-shaped Hugging Face directory and an independent numpy forward of it.

    hf_llama.py make DIR --dtype f32|f16|bf16 [--untied] [--theta X] [--eps E] [--shards N]
                         [--llama3] [--drop NAME] [--arch A] [--ffn-in-config N] [--dim D --ffn F] [--vocab V]
                         [--ctx C (max_position_embeddings, default 64)]
                         --tokens 1,2,3
        writes DIR/config.json, DIR/model.safetensors (or N shards + index) with the
        safetensors bytes written by hand, and DIR/ref_logits.f64: the logits [T, vocab]
        of the tokens by the float64 reference forward below, computed from the weights
        as stored (after rounding to the dtype).
    hf_llama.py compare A.f32 DIR/ref_logits.f64   max |a - ref| / max |ref| <= 1e-5
    hf_llama.py same-tensors A.safetensors B.safetensors NAME...   bytes equal per tensor
    hf_llama.py gguf-check FILE.gguf HFDIR [N_TOKENS]
        an independent GGUF v3 reader: checks the llama.* metadata against HFDIR/config.json,
        dequantizes every tensor (F32, F16, Q4_0, Q8_0, Q2_K, TQ1_0, TQ2_0, each as llama.cpp's
        dequantize_row_<type> in ggml-quants.c computes it), undoes llama.cpp's q/k row order and
        requires each to equal HFDIR/model.safetensors (pq's export of the same checkpoint)
        bit for bit; prints the tensor types.

The reference follows Hugging Face's LlamaForCausalLM (modeling_llama.py): RMSNorm
x * rsqrt(mean(x^2) + eps) * w, RoPE with rotate_half (pairs i, i + hd/2) and inv_freq =
theta^(-2i/hd) (llama3 scaling as _compute_llama3_parameters), grouped-query causal
attention scaled by 1/sqrt(hd), SwiGLU MLP, final norm, lm_head (or the embedding when
tied). It shares no code with pq."""
import json, math, os, struct, sys
import numpy as np

def bf16_round(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return u

def encode(a, dtype):
    """(bytes, the float64 values those bytes hold)"""
    if dtype == "f32":
        b = a.astype("<f4")
        return b.tobytes(), b.astype(np.float64), "F32"
    if dtype == "f16":
        b = a.astype("<f2")
        return b.tobytes(), b.astype(np.float64), "F16"
    u = bf16_round(a).astype("<u2")
    back = (u.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return u.tobytes(), back, "BF16"

def write_safetensors(path, tensors):
    """tensors: list of (name, dtype name, shape, bytes)"""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape, b in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for t in tensors:
            f.write(t[3])

def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: data[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}

def inv_freq(cfg, hd):
    f = cfg["rope_theta"] ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    rs = cfg.get("rope_scaling")
    if rs:
        old, lo, hi, fac = rs["original_max_position_embeddings"], rs["low_freq_factor"], rs["high_freq_factor"], rs["factor"]
        wl = 2 * math.pi / f
        smooth = (old / wl - lo) / (hi - lo)
        f = np.where(wl < old / hi, f, np.where(wl > old / lo, f / fac, (1 - smooth) * f / fac + smooth * f))
    return f

def forward(cfg, w, tokens):
    D, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, T = D // H, cfg["rms_norm_eps"], len(tokens)
    rms = lambda x, g: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g
    ang = np.arange(T)[:, None] * inv_freq(cfg, hd)[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    def rope(x):  # x [T, heads, hd]; rotate_half
        a, b = x[..., : hd // 2], x[..., hd // 2:]
        return np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)
    x = w["model.embed_tokens.weight"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope((h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, H, hd))
        k = rope((h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, KV, hd))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, KV, hd)
        o = np.empty((T, H, hd))
        for i in range(H):
            j = i // (H // KV)
            s = q[:, i] @ k[:, j].T / math.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            o[:, i] = (s / s.sum(-1, keepdims=True)) @ v[:, j]
        x = x + o.reshape(T, D) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g, u = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return rms(x, w["model.norm.weight"]) @ head.T

def make(argv):
    d, opt = argv[0], {"--dtype": "f32", "--theta": "10000", "--eps": "1e-5", "--shards": "1", "--arch": "LlamaForCausalLM"}
    flags, i = set(), 1
    while i < len(argv):
        if argv[i] in ("--untied", "--llama3", "--pow2-rows"):
            flags.add(argv[i]); i += 1
        else:
            opt[argv[i]] = argv[i + 1]; i += 2
    D, L, H, KV, F, V, C = int(opt.get("--dim", 32)), 2, 4, 2, int(opt.get("--ffn", 48)), int(opt.get("--vocab", 300)), int(opt.get("--ctx", 64))
    cfg = {"architectures": [opt["--arch"]], "model_type": "llama", "hidden_size": D, "num_hidden_layers": L,
           "num_attention_heads": H, "num_key_value_heads": KV, "intermediate_size": int(opt.get("--ffn-in-config", F)),
           "vocab_size": V, "max_position_embeddings": C, "rope_theta": float(opt["--theta"]),
           "rms_norm_eps": float(opt["--eps"]), "tie_word_embeddings": "--untied" not in flags, "hidden_act": "silu",
           "attention_bias": False, "torch_dtype": "float32", "rope_scaling": None}
    if "--llama3" in flags:  # original context short enough that all three bands occur at hd = 8
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings": 64}
    rng = np.random.default_rng(int(opt.get("--seed", "7")))
    hd = D // H
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for l in range(L):
        p = "model.layers.%d." % l
        shapes.update({p + "input_layernorm.weight": (D,), p + "self_attn.q_proj.weight": (H * hd, D),
                       p + "self_attn.k_proj.weight": (KV * hd, D), p + "self_attn.v_proj.weight": (KV * hd, D),
                       p + "self_attn.o_proj.weight": (D, D), p + "post_attention_layernorm.weight": (D,),
                       p + "mlp.gate_proj.weight": (F, D), p + "mlp.up_proj.weight": (F, D), p + "mlp.down_proj.weight": (D, F)})
    if "--untied" in flags:
        shapes["lm_head.weight"] = (V, D)
    tensors, w = [], {}
    for name, shape in shapes.items():
        a = 1 + 0.2 * rng.standard_normal(shape) if len(shape) == 1 else rng.standard_normal(shape) / math.sqrt(shape[-1])
        if "--pow2-rows" in flags and len(shape) == 2:  # every row's max |w| = 0.5: power-of-two PTQ scales
            a = np.clip(a, -0.45, 0.45)
            a[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = 0.5 * rng.choice([-1, 1], shape[0])
        b, back, dt = encode(a, opt["--dtype"])
        w[name] = back.reshape(shape)
        if name != opt.get("--drop"):
            tensors.append((name, dt, shape, b))
    os.makedirs(d, exist_ok=True)
    n = int(opt["--shards"])
    if n == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors)
    else:
        wm = {}
        for s in range(n):
            part = tensors[s::n]
            fn = "model-%05d-of-%05d.safetensors" % (s + 1, n)
            write_safetensors(os.path.join(d, fn), part)
            wm.update({t[0]: fn for t in part})
        json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
    tokens = [int(t) for t in opt["--tokens"].split(",")]
    forward(cfg, w, tokens).astype("<f8").tofile(os.path.join(d, "ref_logits.f64"))

def compare(a_path, ref_path):
    ref = np.fromfile(ref_path, "<f8")
    a = np.fromfile(a_path, "<f4").astype(np.float64)
    if a.shape != ref.shape:
        sys.exit("compare: %d logits, reference has %d" % (a.size, ref.size))
    rel = np.abs(a - ref).max() / np.abs(ref).max()
    print("max |pq - ref| / max |ref| = %.2e over %d logits (max |ref| %.3f)" % (rel, a.size, np.abs(ref).max()))
    sys.exit(0 if rel <= 1e-5 else 1)

def same_tensors(a, b, names):
    ta, tb = read_safetensors(a), read_safetensors(b)
    for n in names or sorted(ta):
        if ta.get(n) is None or ta.get(n) != tb.get(n):
            sys.exit("tensor %s differs" % n)

# The 256-weight block types, as ggml-quants.c's dequantize_row_<type> computes them (float32
# products and differences, element order as there). Each takes blocks [nb, bytes] -> [nb*256].
def f16(u8):
    return u8.copy().view("<f2").astype(np.float32).reshape(-1, 1)

def deq_tq2_0(blk):  # qs[64], d: weight 128j + 32l + m = bits 2l of qs[32j + m]
    qs, d = blk[:, :64].reshape(-1, 2, 1, 32), f16(blk[:, 64:66])
    q = (qs >> (2 * np.arange(4)).reshape(1, 1, 4, 1)) & 3          # [nb, j, l, m]
    return ((q.astype(np.int16) - 1).astype(np.float32).reshape(-1, 256) * d).reshape(-1)

def deq_tq1_0(blk):  # qs[48], qh[4], d: trit n of byte q is ((q * 3^n mod 256) * 3) >> 8
    pow3 = np.array([1, 3, 9, 27, 81, 243], np.uint16)
    trit = lambda q, n: (((q.astype(np.uint16)[..., None] * pow3[:n]) & 255) * 3) >> 8
    a = trit(blk[:, :32], 5).transpose(0, 2, 1).reshape(-1, 160)    # n-major: weight 32n + m
    b = trit(blk[:, 32:48], 5).transpose(0, 2, 1).reshape(-1, 80)
    c = trit(blk[:, 48:52], 4).transpose(0, 2, 1).reshape(-1, 16)
    t = np.concatenate([a, b, c], 1).astype(np.int16) - 1
    return (t.astype(np.float32) * f16(blk[:, 52:54])).reshape(-1)

def deq_q2_k(blk):  # scales[16], qs[64], d, dmin: weight 128n + 32j + 16h + l uses scales[8n + 2j + h]
    sc, qs, d, dmin = blk[:, :16], blk[:, 16:80].reshape(-1, 2, 1, 2, 16), f16(blk[:, 80:82]), f16(blk[:, 82:84])
    q = ((qs >> (2 * np.arange(4)).reshape(1, 1, 4, 1, 1)) & 3).reshape(-1, 16, 16).astype(np.float32)
    dl = (d * (sc & 15).astype(np.float32))[:, :, None]
    ml = (dmin * (sc >> 4).astype(np.float32))[:, :, None]
    return (dl * q - ml).reshape(-1)

K_QUANTS = {10: deq_q2_k, 34: deq_tq1_0, 35: deq_tq2_0}
K_BYTES = {10: 84, 34: 54, 35: 66}

def read_gguf(path):
    data = open(path, "rb").read()
    pos = 0
    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]
    def string():
        nonlocal pos
        n = take("Q"); s = data[pos:pos + n].decode("utf-8"); pos += n
        return s
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def value(t):
        if t == 8: return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(scalar[t])
    assert data[:4] == b"GGUF" and struct.unpack_from("<I", data, 4)[0] == 3, "not GGUF v3"
    pos = 8
    nt, nkv = take("Q"), take("Q")
    meta = {}
    for _ in range(nkv):
        k = string(); meta[k] = value(take("I"))
    infos = []
    for _ in range(nt):
        name = string(); nd = take("I"); dims = [take("Q") for _ in range(nd)]
        infos.append((name, dims, take("I"), take("Q")))
    align = meta.get("general.alignment", 32)
    start = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, t, off in infos:
        n = int(np.prod(dims)); b = data[start + off:]
        if t == 0: a = np.frombuffer(b, "<f4", n)
        elif t == 1: a = np.frombuffer(b, "<f2", n).astype(np.float32)
        elif t in (2, 8):
            bs = 18 if t == 2 else 34
            blk = np.frombuffer(b, np.uint8, n // 32 * bs).reshape(-1, bs)
            d = blk[:, :2].copy().view("<f2").astype(np.float32)
            if t == 2:
                q = np.concatenate([blk[:, 2:] & 15, blk[:, 2:] >> 4], 1).astype(np.float32) - 8
            else:
                q = blk[:, 2:].view(np.int8).astype(np.float32)
            a = (q * d).reshape(-1)  # float32 products, as llama.cpp's dequantize_row_q4_0/q8_0
        elif t in K_QUANTS:
            a = K_QUANTS[t](np.frombuffer(b, np.uint8, n // 256 * K_BYTES[t]).reshape(-1, K_BYTES[t]))
        else: raise SystemExit("tensor %s: type %d not read by this checker" % (name, t))
        tensors[name] = (a.reshape(list(reversed(dims))), t)
    return meta, tensors

def gguf_check(path, hfdir, n_tokens=None):
    meta, tensors = read_gguf(path)
    cfg = json.load(open(os.path.join(hfdir, "config.json")))
    want = {"general.architecture": "llama", "llama.embedding_length": cfg["hidden_size"],
            "llama.block_count": cfg["num_hidden_layers"], "llama.attention.head_count": cfg["num_attention_heads"],
            "llama.attention.head_count_kv": cfg["num_key_value_heads"], "llama.feed_forward_length": cfg["intermediate_size"],
            "llama.context_length": cfg["max_position_embeddings"]}
    for k, v in want.items():
        assert meta.get(k) == v, "%s: %r, expected %r" % (k, meta.get(k), v)
    assert abs(meta["llama.rope.freq_base"] - cfg["rope_theta"]) <= 1e-6 * cfg["rope_theta"]
    assert np.float32(meta["llama.attention.layer_norm_rms_epsilon"]) == np.float32(cfg["rms_norm_eps"])
    if n_tokens:
        assert len(meta["tokenizer.ggml.tokens"]) == cfg["vocab_size"] == int(n_tokens)
        assert len(meta["tokenizer.ggml.merges"]) == len(meta["tokenizer.ggml.tokens"]) - 258 or cfg["vocab_size"] > 258
        assert meta["tokenizer.ggml.tokens"][32] == "Ġ" and meta["tokenizer.ggml.tokens"][65] == "A"
    ref = {k: np.frombuffer(v, "<f4") for k, v in read_safetensors(os.path.join(hfdir, "model.safetensors")).items()
           if not k.endswith((".qcodes", ".qscale"))}
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg["hidden_size"] // H
    mapn = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
            "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm",
            "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    types = {}
    for k, r in ref.items():
        if k == "model.embed_tokens.weight": g = "token_embd.weight"
        elif k == "model.norm.weight": g = "output_norm.weight"
        elif k == "lm_head.weight": g = "output.weight"
        else:
            l, rest = k[len("model.layers."):].split(".", 1)
            g = "blk.%s.%s.weight" % (l, mapn[rest[: -len(".weight")]])
        a, t = tensors[g]
        if g.endswith(("attn_q.weight", "attn_k.weight")):  # llama.cpp's pairs back to halves
            n = a.shape[0] // hd
            a = a.reshape(n, hd // 2, 2, -1).swapaxes(1, 2).reshape(a.shape)
        if a.reshape(-1).tobytes() != r.tobytes():
            raise SystemExit("tensor %s (%s, type %d) differs from the model's weights" % (g, k, t))
        types[t] = types.get(t, 0) + 1
    print("gguf: %d tensors equal the model bit for bit; types %s" % (len(ref), types))

if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "make": make(rest)
    elif cmd == "compare": compare(*rest)
    elif cmd == "same-tensors": same_tensors(rest[0], rest[1], rest[2:])
    elif cmd == "gguf-check": gguf_check(*rest)
