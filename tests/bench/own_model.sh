#!/usr/bin/env bash
# own_model.sh — the README's "Use your own model" workflow, timed end to end on a model
# the test scripts make (tests/integration/hf_llama.py: a MobileLLM-shaped BF16 Hugging Face
# directory, 2 layers, 4 heads / 2 KV heads, dim DIM, FFN 3*DIM, vocab 1,000, context 512,
# random weights) with a LLaMA-2-like SentencePiece tokenizer.model that spm_reference.py trains
# on the corpus (vocab 1,000; needs python3-sentencepiece and the built data):
#   pq import hf -> pq qat --bits 2 --quantizer paretoq --scale-fp16 -> pq eval (the model's
#   own tokenizer) -> pq export --format gguf (the tokenizer goes with it) -> llama.cpp
#   (node-llama-cpp 3.22.1, when $PQ_NODE_LLAMA_CPP or ~/.cache/paretoq has it, as
#   gguf_llama_cpp.sh installs it) tokenizes a prompt, and decodes 16 tokens greedily.
# Prints one line per step: wall seconds, peak resident memory, and what it produced.
#
# usage: PQ=./pq tests/bench/own_model.sh [DIM] [QAT_TOKENS]   (defaults 256, 32768)
set -euo pipefail
PQ=${PQ:-./pq}
PY=/usr/bin/python3
here=$(cd "$(dirname "$0")/.." && pwd)
DIM=${1:-256} TOKENS=${2:-32768}
DATA=${PQ_WORK:-work}/data
NLC=${PQ_NODE_LLAMA_CPP:-${XDG_CACHE_HOME:-$HOME/.cache}/paretoq/node-llama-cpp-3.22.1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PQ_PROGRESS=0

step() { # name, command...: runs it, prints seconds and peak RSS
    local name=$1
    shift
    /usr/bin/time -f "%e %M" -o "$tmp/time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" ||
        { echo "FAIL: $name: $(tail -3 "$tmp/$name.err")" >&2; exit 1; }
    read -r s kb <"$tmp/time"
    printf '%-9s %7.1f s %6d MB\n' "$name" "$s" $((kb / 1024))
}

# MobileLLM's tokenizer is LLaMA-2's SentencePiece BPE: a LLaMA-2-like one trained on the corpus
mkdir "$tmp/spm"
$PY "$here/integration/spm_reference.py" "$DATA/corpus" "$tmp/spm" >/dev/null
cp "$tmp/spm/llama2.model" "$tmp/tokenizer.model"
TEXT="It is a truth universally acknowledged, that a single man in possession of a good fortune"
ids=$(printf '%s\n' "$TEXT" |
    "$PQ" tokenize --tokenizer "$tmp/tokenizer.model" --bos | tr ' ' ',')
$PY "$here/integration/hf_llama.py" make "$tmp/hf" --dtype bf16 --arch MobileLLMForCausalLM --dim "$DIM" \
    --ffn $((3 * DIM)) --vocab 1000 --ctx 512 --tokens "$ids"
cp "$tmp/tokenizer.model" "$tmp/hf/"
params=$($PY -c 'import json,sys; c=json.load(open(sys.argv[1])); D,F,V,L=c["hidden_size"],c["intermediate_size"],c["vocab_size"],c["num_hidden_layers"]; kv=D*c["num_key_value_heads"]//c["num_attention_heads"]; print(V*D + L*(2*D*D + 2*D*kv + 3*D*F + 2*D) + D)' "$tmp/hf/config.json")
echo "model: dim $DIM, FFN $((3 * DIM)), 2 layers, vocab 1000, $params parameters ($(du -sh "$tmp/hf" | cut -f1) on disk)"

step import "$PQ" import hf "$tmp/hf" --out "$tmp/m.ckpt"
step qat "$PQ" qat --from "$tmp/m.ckpt" --bits 2 --quantizer paretoq --scale-fp16 --data synthetic:100000 \
    --tokens "$TOKENS" --batch 4 --seq-len 256 --eval-interval 0 --ckpt-interval 0 --out "$tmp/q2"
echo "         QAT: $TOKENS tokens, $(awk -v t="$TOKENS" '{printf "%.0f", t / $1}' "$tmp/time") tokens/s end to end"
step eval "$PQ" eval --model "$tmp/q2/model.ckpt" --tasks all --limit 50 --data-dir "$DATA" --out "$tmp/eval.json"
$PY -c 'import json,sys; r=json.load(open(sys.argv[1])); t=r["tokenizer"]; print("         eval: tokenizer", t["kind"], "BOS", t["bos"], "from", t.get("bos_from"))' "$tmp/eval.json"
step export "$PQ" export --format gguf --from "$tmp/q2/model.ckpt" --out "$tmp/m.gguf"
echo "         GGUF $(du -h "$tmp/m.gguf" | cut -f1): $(grep -o 'Q2_K\|TQ2_0\|Q4_0\|Q8_0\|F32' "$tmp/export.out" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"

if [ ! -f "$NLC/node_modules/node-llama-cpp/package.json" ]; then
    echo "llama.cpp: skipped (node-llama-cpp 3.22.1 not in $NLC; tests/integration/gguf_llama_cpp.sh installs it)"
    exit 0
fi
ln -s "$NLC/node_modules" "$tmp/node_modules"
cat >"$tmp/run.mjs" <<'JS'
import { getLlama } from "node-llama-cpp";
const [path, text] = process.argv.slice(2);
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: path });
const seq = (await model.createContext({ contextSize: 128, threads: 1 })).getSequence();
const tokens = [model.tokens.bos, ...model.tokenize(text, false)], out = [];
let step = await seq.controlledEvaluate(tokens.map((t, i) => i < tokens.length - 1 ? t : [t, { generateNext: { logits: true } }]));
const argmax = r => { let b = -1, v = -Infinity; for (const [t, l] of r.next.logits) if (l > v) { v = l; b = t; } return b; };
for (let k = 0; k < 16; k++) {
  out.push(argmax(step[step.length - 1]));
  step = await seq.controlledEvaluate([[out[k], { generateNext: { logits: true } }]]);
}
console.log(tokens.join(","));
console.log(JSON.stringify(model.detokenize(out)));
JS
step llama.cpp node "$tmp/run.mjs" "$tmp/m.gguf" "$TEXT"
[ "$(head -1 "$tmp/llama.cpp.out")" = "$ids" ] || echo "         (llama.cpp's prompt ids differ from pq tokenize's: $(head -1 "$tmp/llama.cpp.out"))"
echo "         llama.cpp: the prompt's $(tr ',' '\n' <<<"$ids" | wc -l) ids as pq tokenize's; greedy 16 tokens: $(tail -1 "$tmp/llama.cpp.out" | cut -c1-60)"
