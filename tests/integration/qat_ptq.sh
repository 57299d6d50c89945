#!/usr/bin/env bash
# pq ptq: RTN and GPTQ produce quantized checkpoints (codes verified on load by
# the QAT path's own checks), GPTQ beats RTN on validation loss at 2 and 3 bits,
# and bad usage fails clearly. Synthetic tokens: no corpus needed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PQ_PROGRESS=0

cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 128, "vocab": 256, "ctx": 32},
 "train": {"batch": 8, "lr": 3e-3, "warmup": 5, "seed": 3, "tokens": 102400,
           "eval_interval": 0, "eval_tokens": 2048, "ckpt_interval": 0}}
JSON
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:50000 --out "$tmp/fp" 2>/dev/null
for b in 2 3; do
    for m in rtn gptq; do
        "$PQ" ptq --from "$tmp/fp/model.ckpt" --method $m --bits $b --data synthetic:50000 --calib-tokens 4096 \
            --out "$tmp/$m$b" 2>/dev/null
    done
    python3 - "$tmp/rtn$b/results.json" "$tmp/gptq$b/results.json" <<'PY' || fail "gptq vs rtn at $b bits"
import json, sys
r, g = (json.load(open(f)) for f in sys.argv[1:3])
assert r["fp_val_loss"] == g["fp_val_loss"]
assert r["fp_val_loss"] < r["final_val_loss"], "RTN did not lose anything?"
assert g["final_val_loss"] < r["final_val_loss"], (g["final_val_loss"], r["final_val_loss"])
assert all(l["err_gptq"] <= l["err_rtn"] * (1 + 1e-6) for l in g["layers"])
assert g["size"]["packed_bytes"] > 0 and g["size"]["storage_bits"] in (2, 3)
PY
done
# a quantized checkpoint is a valid QAT start? No: it must be refused with a clear line.
set +e
"$PQ" ptq --from "$tmp/fp/model.ckpt" --method gptq --bits 2 --out "$tmp/x" 2>"$tmp/err"; rc=$?
[ $rc = 2 ] && grep -q -- "--data" "$tmp/err" || fail "gptq without data: rc=$rc"
"$PQ" ptq --from "$tmp/fp/model.ckpt" --method awq --bits 2 --out "$tmp/x" 2>/dev/null; rc=$?
[ $rc = 2 ] || fail "unknown method gave rc=$rc"
"$PQ" ptq --from "$tmp/nowhere.ckpt" --method rtn --bits 2 --out "$tmp/x" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "nowhere.ckpt" "$tmp/err" || fail "missing checkpoint: rc=$rc $(cat "$tmp/err")"
set -e
echo "qat_ptq: ok"
