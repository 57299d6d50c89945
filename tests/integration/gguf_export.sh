#!/usr/bin/env bash
# pq export --format gguf (issue 19): an imported tiny LLaMA (tests/integration/hf_llama.py,
# every row's max |w| = 0.5 so that lsq_wide's PTQ scales are powers of two) quantized at
# 1.58, 2, 3, 4 and 8 bits is written as GGUF v3; an independent Python reader checks the
# llama.* metadata and that every tensor, dequantized as llama.cpp does (Q4_0, Q8_0, F32)
# and with llama.cpp's q/k row order undone, equals the model's weights bit for bit; the
# block types are used where exact (Q4_0 at <= 4 bits, Q8_0 at 8) and F32 with a reason
# where not (rtn's half-integer 4-bit levels, a QAT model's scales that are not fp16, a row
# of 48), and QAT models trained with --scale-fp16 in TQ2_0/Q2_K/Q4_0/Q8_0; the tokenizer metadata (GPT-2 byte alphabet, merges); and, where npm can install
# @huggingface/gguf, that reader parses the file too (metadata and tensor infos).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
HF="$PY $(dirname "$0")/hf_llama.py"
export PQ_PROGRESS=0

$HF make "$tmp/hf" --pow2-rows --untied --theta 500000 --llama3 --tokens 1
"$PQ" import hf "$tmp/hf" --out "$tmp/m.ckpt" >/dev/null
# a tiny pq tokenizer: 42 merges of letter pairs -> vocab 300
{ printf 'pq-bpe 1\nvocab 300\nbos 256\neos 257\nmerges 42\n'
  for i in $(seq 0 41); do echo "$((97 + i % 26)) $((98 + i % 24))"; done; } > "$tmp/tok.bpe"

export_check() { # ckpt, expected type on attn_q, [tokenizer]
    local ck=$1 want=$2 tok=${3:-}
    "$PQ" export --format gguf --from "$ck" --out "$tmp/x.gguf" ${tok:+--tokenizer "$tok"} >"$tmp/rep" 2>"$tmp/err" ||
        fail "$ck: gguf export: $(cat "$tmp/err")"
    grep -q "blk.0.attn_q.weight *$want" "$tmp/rep" || fail "$ck: attn_q is not $want: $(grep attn_q "$tmp/rep" | head -1)"
    rm -rf "$tmp/st"
    "$PQ" export --format safetensors --from "$ck" --out "$tmp/st" >/dev/null
    $HF gguf-check "$tmp/x.gguf" "$tmp/st" ${tok:+300} >"$tmp/chk" || fail "$ck: $(cat "$tmp/chk")"
    echo "  $(basename "$ck" .ckpt | sed "s/^model$/$(basename "$(dirname "$ck")")/") $want: $(cat "$tmp/chk")"
}
export_check "$tmp/m.ckpt" F32 "$tmp/tok.bpe"
for b in 1.58 2 3 4 8; do
    "$PQ" ptq --from "$tmp/m.ckpt" --method rtn --quantizer lsq_wide --bits $b --out "$tmp/p$b" >/dev/null 2>&1
    export_check "$tmp/p$b/model.ckpt" $([ $b = 8 ] && echo Q8_0 || echo Q4_0)
done
grep -q "blk.0.ffn_down.weight *F32 .*row length 48 is not a multiple of 32" "$tmp/rep" || fail "ffn_down: no reason given"
"$PQ" ptq --from "$tmp/m.ckpt" --method rtn --bits 4 --out "$tmp/rtn4" >/dev/null 2>&1
export_check "$tmp/rtn4/model.ckpt" F32
grep -q "attn_q.weight *F32 .*levels are not integer multiples" "$tmp/rep" || fail "rtn 4-bit: no reason given"
"$PQ" qat --from "$tmp/m.ckpt" --data synthetic:20000 --bits 4 --quantizer lsq_wide --tokens 1024 --batch 4 \
    --seq-len 32 --eval-interval 0 --eval-tokens 256 --ckpt-interval 0 --out "$tmp/qat" >/dev/null 2>&1
export_check "$tmp/qat/model.ckpt" F32
grep -q "attn_q.weight *F32 .*is not an fp16 number" "$tmp/rep" || fail "QAT scales: no reason given"

# llama.cpp's 256-weight types need rows of 256: a wider model (dim 256, ffn 384, so ffn_down's
# rows of 384 fall back to Q4_0). Ternary -> TQ2_0 (TQ1_0 on request), 2 bits (lsq_wide's
# {-2,-1,0,1} and SEQ's {±1/4, ±3/4}, times α = 0.5) -> Q2_K; SEQ ternary's d = α·2/3 is not
# an fp16 number -> F32 with the reason. The reader dequantizes each as ggml-quants.c does.
$HF make "$tmp/hfw" --pow2-rows --dim 256 --ffn 384 --tokens 1
"$PQ" import hf "$tmp/hfw" --out "$tmp/w.ckpt" >/dev/null
wide_check() { # quantizer, bits, expected type on attn_q, [--ternary T]
    local out="$tmp/w-$1-$2${4:-}"
    "$PQ" ptq --from "$tmp/w.ckpt" --method rtn --quantizer "$1" --bits "$2" --out "$out" >/dev/null 2>&1 || fail "ptq $1 $2"
    "$PQ" export --format gguf --from "$out/model.ckpt" --out "$tmp/x.gguf" ${4:+--ternary "$4"} >"$tmp/rep" 2>"$tmp/err" ||
        fail "$1 $2: gguf export: $(cat "$tmp/err")"
    grep -q "blk.0.attn_q.weight *$3" "$tmp/rep" || fail "$1 $2: attn_q is not $3: $(grep attn_q "$tmp/rep" | head -1)"
    rm -rf "$tmp/st"
    "$PQ" export --format safetensors --from "$out/model.ckpt" --out "$tmp/st" >/dev/null
    $HF gguf-check "$tmp/x.gguf" "$tmp/st" >"$tmp/chk" || fail "$1 $2: $(cat "$tmp/chk")"
    echo "  wide $1 $2 ${4:-} -> $3: $(cat "$tmp/chk")"
}
wide_check lsq_wide 1.58 TQ2_0
grep -q "blk.0.ffn_down.weight *Q4_0 .*TQ2_0: row length 384 is not a multiple of 256" "$tmp/rep" || fail "ffn_down: no TQ2_0 reason"
wide_check lsq_wide 1.58 TQ1_0 TQ1_0
wide_check lsq_wide 2 Q2_K
wide_check seq 2 Q2_K
wide_check seq 1.58 F32
grep -q "attn_q.weight *F32 .*TQ2_0: row 0's scale 0.333333343 is not an fp16 number" "$tmp/rep" || fail "SEQ ternary: no reason given"
wide_check lsq_wide 4 Q4_0

# QAT with --scale-fp16 (quant/quantizer.h): on a model whose scales are not powers of two (no
# --pow2-rows), each row's level unit is trained on an fp16 number, so the QAT model itself goes
# into the compact types bit for bit: SEQ ternary -> TQ2_0, SEQ 2-bit and sign -> Q2_K, lsq 3/4
# -> Q4_0, lsq 8 -> Q8_0. Without the flag the same QAT exports as F32 (the reason above).
$HF make "$tmp/hfq" --dim 256 --ffn 384 --tokens 1 --seed 11
"$PQ" import hf "$tmp/hfq" --out "$tmp/q.ckpt" >/dev/null
qat_check() { # quantizer, bits, expected type on attn_q and on ffn_down (rows of 384)
    local out="$tmp/q-$1-$2"
    "$PQ" qat --from "$tmp/q.ckpt" --data synthetic:20000 --bits "$2" --quantizer "$1" --tokens 1024 --batch 4 --seq-len 32 \
        --lr 1e-3 --eval-interval 0 --eval-tokens 256 --ckpt-interval 0 --scale-fp16 --out "$out" >/dev/null 2>"$tmp/err" ||
        fail "qat --scale-fp16 $1 $2: $(tail -1 "$tmp/err")"
    "$PQ" export --format gguf --from "$out/model.ckpt" --out "$tmp/x.gguf" >"$tmp/rep" 2>"$tmp/err" ||
        fail "qat $1 $2: gguf export: $(cat "$tmp/err")"
    grep -q "blk.0.attn_q.weight *$3 *\$" "$tmp/rep" || fail "qat $1 $2: attn_q is not $3: $(grep attn_q "$tmp/rep" | head -1)"
    grep -q "blk.1.ffn_down.weight *$4 " "$tmp/rep" || fail "qat $1 $2: ffn_down is not $4: $(grep ffn_down "$tmp/rep" | head -1)"
    rm -rf "$tmp/st"
    "$PQ" export --format safetensors --from "$out/model.ckpt" --out "$tmp/st" >/dev/null
    $HF gguf-check "$tmp/x.gguf" "$tmp/st" >"$tmp/chk" || fail "qat $1 $2: $(cat "$tmp/chk")"
    echo "  qat --scale-fp16 $1 $2 -> $3: $(cat "$tmp/chk")"
}
qat_check seq 1.58 TQ2_0 F32 # ±2/3 is no multiple of a power-of-two step: rows of 384 stay F32
qat_check seq 2 Q2_K Q4_0
qat_check sign 1 Q2_K Q4_0
qat_check lsq 3 Q4_0 Q4_0
qat_check lsq 4 Q4_0 Q4_0
qat_check lsq 8 Q8_0 Q8_0
# pq ptq takes the flag too (rtn with lsq's grid at 2 bits; GPTQ rounds with the same scales)
"$PQ" ptq --from "$tmp/q.ckpt" --method rtn --quantizer lsq --bits 2 --scale-fp16 --out "$tmp/ptq2" >/dev/null 2>&1 ||
    fail "ptq --scale-fp16"
"$PQ" export --format gguf --from "$tmp/ptq2/model.ckpt" --out "$tmp/x.gguf" >"$tmp/rep" || fail "ptq --scale-fp16: export"
grep -q "blk.0.attn_q.weight *Q2_K *\$" "$tmp/rep" || fail "ptq --scale-fp16: attn_q is not Q2_K"
rm -rf "$tmp/st" && "$PQ" export --format safetensors --from "$tmp/ptq2/model.ckpt" --out "$tmp/st" >/dev/null
$HF gguf-check "$tmp/x.gguf" "$tmp/st" >"$tmp/chk" || fail "ptq --scale-fp16: $(cat "$tmp/chk")"
echo "  ptq --scale-fp16 lsq 2 -> Q2_K: $(cat "$tmp/chk")"
rc=0; "$PQ" qat --from "$tmp/q.ckpt" --data synthetic:20000 --bits 2 --quantizer minmax --tokens 0 --scale-fp16 \
    --out "$tmp/q-minmax" >/dev/null 2>"$tmp/err" || rc=$?
[ $rc = 2 ] && grep -q "cannot take fp16 scales" "$tmp/err" || fail "minmax 2-bit --scale-fp16: exit $rc, $(cat "$tmp/err")"

# The reference reader of the Hugging Face ecosystem, where npm can fetch it.
if command -v npm >/dev/null && [ "${PQ_NO_NPM:-0}" != 1 ] &&
    (cd "$tmp" && timeout 120 npm install --silent --no-audit --no-fund @huggingface/gguf@0.4.6 >/dev/null 2>&1); then
    "$PQ" export --format gguf --from "$tmp/p4/model.ckpt" --out "$tmp/p4.gguf" --tokenizer "$tmp/tok.bpe" >/dev/null
    cat > "$tmp/read.mjs" <<'JS'
import { gguf } from "@huggingface/gguf";
const { metadata, tensorInfos } = await gguf(process.argv[2], { allowLocalFile: true });
const t = Object.fromEntries(tensorInfos.map(x => [x.name, [x.shape.map(Number), x.dtype]]));
const ok = metadata["general.architecture"] === "llama" && Number(metadata["llama.block_count"]) === 2 &&
  metadata["tokenizer.ggml.tokens"].length === 300 && metadata["tokenizer.ggml.merges"].length === 42 &&
  tensorInfos.length === 22 && t["blk.1.attn_k.weight"][0].join() === "32,16" && t["blk.1.attn_k.weight"][1] === 2 &&
  t["output.weight"][0].join() === "32,300" && t["rope_freqs.weight"][0].join() === "4";
console.log(ok ? "ok" : "mismatch " + JSON.stringify(t));
JS
    r=$(cd "$tmp" && node read.mjs "$tmp/p4.gguf") || fail "@huggingface/gguf could not read the file"
    [ "$r" = ok ] || fail "@huggingface/gguf: $r"
    echo "  @huggingface/gguf 0.4.6 reads metadata and tensor infos"
else
    echo "  SKIP: @huggingface/gguf (npm not available or PQ_NO_NPM=1); the Python reader above still ran"
fi
echo "gguf_export: ok"
