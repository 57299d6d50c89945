#!/usr/bin/env bash
# own_model_gpu.sh — the README's "Use your own model" workflow on an NVIDIA GPU, timed end to
# end, on a MobileLLM-125M-shaped Hugging Face directory that tests/gpu/make_hf.py makes with
# PyTorch (30 layers, width 576, 9 heads / 3 KV heads, FFN 1536, vocab 32000, context 2048,
# tied head, random BF16 weights: 124.6M parameters) with TOKENIZER as its tokenizer.model:
#   pq import hf -> pq qat --device cuda --bits 2 --quantizer paretoq --scale-fp16 (the
#   README's command: synthetic data, --seq-len 256, default batch 8; no validation or state
#   checkpoints on the way) -> pq eval --device cuda --tasks all (the model's tokenizer)
#   -> pq export --format gguf
# Prints one line per step: wall seconds, peak resident memory (where /usr/bin/time exists)
# and what it produced. The pq binary needs CUDA (make CUDA=1).
#
# usage: PQ=build-cuda/pq tests/bench/own_model_gpu.sh TOKENIZER.model DATA_DIR [QAT_TOKENS]
#        (QAT_TOKENS default 2000000; DATA_DIR holds tasks/; PQ_OWN_MODEL_SHAPE="--dim 64 --layers 2
#        ..." gives make_hf.py another shape)
set -euo pipefail
PQ=${PQ:-./pq}
TOKENIZER=$1 DATA=$2 TOKENS=${3:-2000000}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=${PQ_OWN_MODEL_TMP:-$(mktemp -d)}
[ -n "${PQ_OWN_MODEL_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
export PQ_PROGRESS=0

step() { # name, command...: runs it, prints seconds and peak RSS
    local name=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f "%M" -o "$tmp/$name.rss" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" ||
            { echo "FAIL: $name: $(tail -3 "$tmp/$name.err")" >&2; exit 1; }
    else
        "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || { echo "FAIL: $name: $(tail -3 "$tmp/$name.err")" >&2; exit 1; }
    fi
    t1=$(date +%s.%N)
    local mb="-"
    [ -f "$tmp/$name.rss" ] && mb=$(($(tail -1 "$tmp/$name.rss") / 1024))
    awk -v n="$name" -v a="$t0" -v b="$t1" -v m="$mb" 'BEGIN { printf "%-9s %7.1f s %6s MB\n", n, b - a, m }'
}

# shellcheck disable=SC2086 # the shape is a list of flags
step make python3 "$here/gpu/make_hf.py" "$tmp/hf" ${PQ_OWN_MODEL_SHAPE:-} --tokenizer "$TOKENIZER"
mv "$tmp/hf/$(basename "$TOKENIZER")" "$tmp/hf/tokenizer.model" 2>/dev/null || true
echo "          $(cat "$tmp/make.out") ($(du -sh "$tmp/hf" | cut -f1) on disk)"
step import "$PQ" import hf "$tmp/hf" --out "$tmp/m.ckpt"
step qat "$PQ" qat --from "$tmp/m.ckpt" --bits 2 --quantizer paretoq --scale-fp16 --tokens "$TOKENS" \
    --data synthetic:100000 --seq-len 256 --eval-interval 0 --ckpt-interval 0 --device cuda --out "$tmp/q2"
python3 - "$tmp/q2/results.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
print("          QAT: %.0f tokens/s in training (%.1f s of the process), batch %s x %d, val loss %.4f -> %.4f"
      % (r["tokens_per_sec"], r["seconds_this_process"], r["train"].get("batch"), r["seq_len"],
         r.get("initial_val_loss", float("nan")), r.get("final_val_loss", float("nan"))))
PY
step eval "$PQ" eval --model "$tmp/q2/model.ckpt" --tasks all --data-dir "$DATA" --device cuda --out "$tmp/eval.json"
python3 - "$tmp/eval.json" <<'PY' || true
import json, sys
r = json.load(open(sys.argv[1]))
t = r["tokenizer"]
print("          eval: tokenizer %s (vocab %d, BOS %d); per task: items, tokens through the model, seconds" % (t["kind"], t["vocab"], t["bos"]))
for name, v in r["tasks"].items():
    print("            %-17s %5d %9d %6.1f s" % (name, v.get("items", v.get("documents", 0)), v.get("tokens_forward", v.get("tokens", 0)), v["seconds"]))
PY
step export "$PQ" export --format gguf --from "$tmp/q2/model.ckpt" --out "$tmp/m.gguf"
echo "          GGUF $(du -h "$tmp/m.gguf" | cut -f1): $(grep -o 'Q2_K\|TQ2_0\|Q4_0\|Q8_0\|F32\|F16' "$tmp/export.out" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')"
