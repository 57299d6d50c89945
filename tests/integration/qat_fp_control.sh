#!/usr/bin/env bash
# pq qat --quantizer none: the full-precision control of a QAT run. Same LR schedule,
# data order and budget as the QAT run it controls, weights never quantized: it starts
# at the FP model's validation loss, writes a plain full-precision model.ckpt (another
# fine-tune can start from it) and reports the per-layer weight change like QAT does.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export PQ_PROGRESS=0
cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 128, "vocab": 256, "ctx": 32},
 "train": {"batch": 8, "lr": 3e-3, "warmup": 5, "seed": 3, "tokens": 25600, "eval_interval": 16, "eval_tokens": 2048}}
JSON
data=synthetic:50000
"$PQ" pretrain --config "$tmp/cfg.json" --data $data --out "$tmp/fp" > /dev/null 2>&1
for b in 2 4; do
    "$PQ" qat --from "$tmp/fp/model.ckpt" --bits $b --quantizer none --tokens 5120 --data $data --out "$tmp/ctl$b" > /dev/null 2>&1
    "$PQ" qat --from "$tmp/fp/model.ckpt" --bits $b --quantizer paretoq --tokens 5120 --data $data --out "$tmp/q$b" > /dev/null 2>&1
done
python3 - "$tmp" <<'PY'
import json, sys
t = sys.argv[1]
r = lambda p: json.load(open(t + "/" + p + "/results.json"))
fp = r("fp")
for b, ratio in ((2, 10), (4, 20)):
    c, q = r("ctl%d" % b), r("q%d" % b)
    assert c["quantizer"] == "none" and c["size"] is None, c["quantizer"]
    assert c["curve"]["lr"] == q["curve"]["lr"], "the control's schedule differs from QAT's"
    assert abs(c["lr"] - 3e-3 / ratio) < 1e-12, c["lr"]
    assert c["initial_val_loss"] == fp["final_val_loss"], (c["initial_val_loss"], fp["final_val_loss"])
    assert q["initial_val_loss"] > c["initial_val_loss"], "QAT should start above full precision"
    assert len(c["layers"]) == len(q["layers"]) == 14
    assert all(l["rel_l1"] > 0 and l["rel_l1"] == l["rel_l1_quantized"] for l in c["layers"])
PY
# the control's model.ckpt is a full-precision model: QAT can start from it
"$PQ" qat --from "$tmp/ctl2/model.ckpt" --bits 2 --quantizer paretoq --tokens 0 --data $data --out "$tmp/ptq" > /dev/null 2>&1 \
    || fail "the control's model.ckpt does not load as a full-precision model"
echo "qat_fp_control: ok"
