#!/usr/bin/env bash
# imported_cli.sh — an imported Hugging Face model through pq qat and pq eval on the GPU,
# against the same commands on the CPU (issue 19's "the GPU path"; make test-gpu checks the
# step itself, this the commands around it). Needs a GPU build of pq and PyTorch
# (tests/gpu/make_hf.py writes the directory).
#
# A dim-256 directory (2 layers, 4 heads / 2 KV heads, FFN 512, vocab 32000, context 512) with
# everything import takes from a config: RoPE θ 5e5, ε 1e-6, LLaMA-3 scaling, an untied head,
# and TOKENIZER recorded as its own. Checked:
#   pq qat --bits 2 --quantizer paretoq --scale-fp16 (24 steps): the GPU's validation loss
#     within 1e-4 relative of the CPU's;
#   pq export --format gguf of the GPU-trained model: all 14 linears Q2_K (the fp16 scales the
#     GPU trained are exact in llama.cpp's blocks);
#   pq eval --tasks all --limit 40 (the model's tokenizer) of the GPU-trained model on both
#     devices: the same accuracies, token perplexity within 1e-6 relative.
# usage: PQ=build-cuda/pq tests/gpu/imported_cli.sh TOKENIZER DATA_DIR
set -euo pipefail
PQ=${PQ:-./pq}
TOKENIZER=$1 DATA=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export PQ_PROGRESS=0

python3 "$here/make_hf.py" "$tmp/hf" --dim 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 --vocab 32000 --ctx 512 \
    --theta 500000 --eps 1e-6 --llama3 64 --untied --arch LlamaForCausalLM --tokenizer "$TOKENIZER" >/dev/null
"$PQ" import hf "$tmp/hf" --out "$tmp/m.ckpt" >/dev/null || fail "import"
for dev in cpu cuda; do
    "$PQ" qat --from "$tmp/m.ckpt" --bits 2 --quantizer paretoq --scale-fp16 --data synthetic:100000 --tokens 24576 \
        --batch 4 --seq-len 256 --eval-interval 0 --eval-tokens 8192 --ckpt-interval 0 --device $dev \
        --out "$tmp/q-$dev" >/dev/null 2>"$tmp/qat-$dev.err" || fail "qat --device $dev: $(tail -2 "$tmp/qat-$dev.err")"
done
python3 - "$tmp/q-cpu/results.json" "$tmp/q-cuda/results.json" <<'PY' || fail "qat: the GPU's loss is not the CPU's"
import json, sys
c, g = (json.load(open(p)) for p in sys.argv[1:])
d = abs(g["final_val_loss"] - c["final_val_loss"]) / c["final_val_loss"]
print("  qat 2-bit --scale-fp16: val loss cpu %.6f cuda %.6f (rel. %.1e); %.0f vs %.0f tok/s"
      % (c["final_val_loss"], g["final_val_loss"], d, c["tokens_per_sec"], g["tokens_per_sec"]))
sys.exit(d > 1e-4)
PY
"$PQ" export --format gguf --from "$tmp/q-cuda/model.ckpt" --out "$tmp/m.gguf" >"$tmp/export.out" || fail "export"
n=$(grep -c "blk\.[0-9]*\.[a-z_]*\.weight *Q2_K *$" "$tmp/export.out" || true)
[ "$n" = 14 ] || fail "GGUF of the GPU-trained model: $n of 14 linears Q2_K: $(grep blk "$tmp/export.out" | head -3)"
echo "  export gguf of the GPU-trained model: 14 of 14 linears Q2_K"
for dev in cpu cuda; do
    "$PQ" eval --model "$tmp/q-cuda/model.ckpt" --tasks all --limit 40 --data-dir "$DATA" --device $dev \
        --out "$tmp/e-$dev.json" >/dev/null 2>"$tmp/eval-$dev.err" || fail "eval --device $dev: $(tail -2 "$tmp/eval-$dev.err")"
done
python3 - "$tmp/e-cpu.json" "$tmp/e-cuda.json" <<'PY' || fail "eval: the GPU's results are not the CPU's"
import json, sys
c, g = (json.load(open(p)) for p in sys.argv[1:])
bad = 0
for name, t in c["tasks"].items():
    u = g["tasks"][name]
    if "acc" in t:
        print("  eval %-17s acc cpu %s cuda %s (%d items)" % (name, t["acc"], u["acc"], t["items"]))
        bad += t["acc"] != u["acc"] or t["acc_norm"] != u["acc_norm"]
for k in ("token_perplexity",):
    a, b = c["perplexity"][k], g["perplexity"][k]
    print("  eval pooled %s cpu %.9g cuda %.9g (rel. %.1e)" % (k, a, b, abs(a - b) / a))
    bad += abs(a - b) / a > 1e-6
sys.exit(bad)
PY
echo "imported_cli.sh: ok"
