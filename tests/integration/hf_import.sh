#!/usr/bin/env bash
# pq import hf / pq export --format safetensors (issue 19) on tiny LLaMA-shaped Hugging Face
# directories written by tests/integration/hf_llama.py (numpy, safetensors bytes by hand):
# pq's logits equal an independent float64 numpy forward within 1e-5 relative for tied and
# untied heads, theta != 10000, eps 1e-6, llama3 RoPE scaling, fp32/fp16/bf16, a sharded
# index; a wrong theta is caught; unsupported input fails in one line naming file and
# tensor; QAT runs on an imported model; export -> import is the same model bit for bit.
set -euo pipefail
PQ=${PQ:-./pq}
PY=/usr/bin/python3 # Debian's, with python3-numpy
HF="$PY $(dirname "$0")/hf_llama.py"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export PQ_PROGRESS=0
TOK=$(seq -s, 1 4 237)   # 60 positions: the low RoPE frequencies turn far enough to matter

check() { # name, make flags...: import, dump logits, compare with the reference
    local name=$1; shift
    $HF make "$tmp/$name" "$@" --tokens "$TOK"
    "$PQ" import hf "$tmp/$name" --out "$tmp/$name.ckpt" >/dev/null || fail "$name: import failed"
    "$PQ" import logits "$tmp/$name.ckpt" --tokens "$TOK" --out "$tmp/$name.f32"
    $HF compare "$tmp/$name.f32" "$tmp/$name/ref_logits.f64" >"$tmp/cmp" || fail "$name: $(cat "$tmp/cmp")"
    echo "  $name: $(cat "$tmp/cmp")"
}
check f32_untied_theta --dtype f32 --untied --theta 500000
check f16_tied_eps --dtype f16 --eps 1e-6
check bf16_sharded_llama3 --dtype bf16 --untied --shards 3 --llama3 --theta 20000
check f32_tied_default --dtype f32

# pq generate's packed decoder (untied head, theta, eps and llama3 scaling from the config)
# picks the reference's argmax after 59 tokens.
for name in f32_untied_theta bf16_sharded_llama3; do
    prompt=$(cut -d, -f1-59 <<<"$TOK")
    got=$("$PQ" generate --model "$tmp/$name.ckpt" --tokens "$prompt" --max-tokens 1 --temperature 0 2>/dev/null | awk -F, '{print $NF}')
    want=$($PY -c 'import numpy as np, sys; print(np.fromfile(sys.argv[1], "<f8").reshape(-1, 300)[58].argmax())' \
        "$tmp/$name/ref_logits.f64")
    [ "$got" = "$want" ] || fail "$name: pq generate chose $got after 59 tokens, the reference $want"
done

# The comparison has teeth: the same weights read with theta 10000 do not match.
$HF make "$tmp/wrong" --dtype f32 --untied --theta 500000 --tokens "$TOK"
sed -i 's/"rope_theta": 500000.0/"rope_theta": 10000.0/' "$tmp/wrong/config.json"
"$PQ" import hf "$tmp/wrong" --out "$tmp/wrong.ckpt" >/dev/null
"$PQ" import logits "$tmp/wrong.ckpt" --tokens "$TOK" --out "$tmp/wrong.f32"
! $HF compare "$tmp/wrong.f32" "$tmp/wrong/ref_logits.f64" >/dev/null || fail "a wrong rope_theta was not detected"

# Unsupported or broken input: exit 1, one line naming the file and what is wrong.
expect_error() { # dir, expected substring...
    local d=$1; shift
    set +e; "$PQ" import hf "$d" --out "$tmp/bad.ckpt" >/dev/null 2>"$tmp/err"; local rc=$?; set -e
    [ "$rc" = 1 ] || fail "$d: exit $rc, expected 1"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "$d: error is not one line: $(cat "$tmp/err")"
    for s in "$@"; do grep -qF -- "$s" "$tmp/err" || fail "$d: error lacks '$s': $(cat "$tmp/err")"; done
    [ ! -e "$tmp/bad.ckpt" ] || fail "$d: a checkpoint was written"
}
$HF make "$tmp/arch" --arch MistralForCausalLM --tokens 1
expect_error "$tmp/arch" "$tmp/arch/config.json" MistralForCausalLM
$HF make "$tmp/missing" --untied --drop model.layers.1.mlp.up_proj.weight --tokens 1
expect_error "$tmp/missing" model.layers.1.mlp.up_proj.weight missing
$HF make "$tmp/shape" --ffn-in-config 40 --tokens 1
expect_error "$tmp/shape" "$tmp/shape/model.safetensors" model.layers.0.mlp.gate_proj.weight "[48, 32]" "[40, 32]"
$HF make "$tmp/trunc" --tokens 1
truncate -s -100 "$tmp/trunc/model.safetensors"
expect_error "$tmp/trunc" "$tmp/trunc/model.safetensors" truncated
$HF make "$tmp/shardmiss" --shards 2 --tokens 1
rm "$tmp/shardmiss/model-00002-of-00002.safetensors"
expect_error "$tmp/shardmiss" model-00002-of-00002.safetensors

# QAT runs on an imported model (vocab 300, synthetic tokens), and its result loads.
"$PQ" qat --from "$tmp/f32_untied_theta.ckpt" --data synthetic:20000 --bits 2 --quantizer paretoq --tokens 2048 \
    --batch 4 --seq-len 32 --lr 1e-3 --eval-interval 0 --eval-tokens 512 --ckpt-interval 0 --out "$tmp/qat" >/dev/null \
    2>"$tmp/err" || fail "qat on an imported model: $(tail -1 "$tmp/err")"
"$PQ" import logits "$tmp/qat/model.ckpt" --tokens 1,2,3 --out "$tmp/qat.f32" || fail "the QAT model does not load"

# Export -> import is the same model bit for bit (full precision and quantized): the
# logits bytes, and a second export's tensors and config, equal the first.
for m in f32_untied_theta bf16_sharded_llama3 qat/model; do
    "$PQ" export --format safetensors --from "$tmp/$m.ckpt" --out "$tmp/exp1" >/dev/null 2>"$tmp/err" ||
        fail "$m: export: $(cat "$tmp/err")"
    "$PQ" import hf "$tmp/exp1" --out "$tmp/back.ckpt" >/dev/null
    "$PQ" export --format safetensors --from "$tmp/back.ckpt" --out "$tmp/exp2" >/dev/null
    cmp -s "$tmp/exp1/config.json" "$tmp/exp2/config.json" || [ "$m" = qat/model ] || fail "$m: config.json differs"
    $HF same-tensors "$tmp/exp1/model.safetensors" "$tmp/exp2/model.safetensors" $(
        $PY -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]
print(" ".join(k for k in json.loads(f.read(n)) if k!="__metadata__" and not k.endswith((".qcodes",".qscale"))))' \
        "$tmp/exp1/model.safetensors") || fail "$m: export -> import -> export changed a weight"
    "$PQ" import logits "$tmp/$m.ckpt" --tokens "$TOK" --out "$tmp/a.f32"
    "$PQ" import logits "$tmp/back.ckpt" --tokens "$TOK" --out "$tmp/b.f32"
    cmp -s "$tmp/a.f32" "$tmp/b.f32" || fail "$m: logits differ after export -> import"
    rm -rf "$tmp/exp1" "$tmp/exp2"
done
# The input's own bytes come back: an fp32 import exported is the original tensors.
"$PQ" export --format safetensors --from "$tmp/f32_untied_theta.ckpt" --out "$tmp/exp" >/dev/null
$HF same-tensors "$tmp/f32_untied_theta/model.safetensors" "$tmp/exp/model.safetensors" || fail "fp32 export != input"
# A quantized export carries codes, scales and the quantization section.
"$PQ" export --format safetensors --from "$tmp/qat/model.ckpt" --out "$tmp/qexp" >/dev/null
$PY - "$tmp/qexp" <<'PYEOF' || fail "quantized export lacks codes, scales or quantization_config"
import json, struct, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))
assert cfg["quantization_config"]["quant_method"] == "paretoq", cfg
f = open(d + "/model.safetensors", "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n))
assert h["model.layers.0.self_attn.q_proj.weight.qcodes"]["dtype"] == "U8"
assert h["model.layers.1.mlp.down_proj.weight.qscale"]["shape"] == [32]
PYEOF
echo "hf_import: ok"
