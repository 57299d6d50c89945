#!/usr/bin/env bash
# --precision bf16 of pq pretrain and qat (README: Training, bf16): the run trains (loss within 2% of
# FP32's on the same steps, weights not identical), records "precision": "bf16" in its identity
# and the matmul kernel in its manifest, never reuses an FP32 run's directory, and --precision
# fp32 is the default bitwise. An unknown precision is a usage error naming bf16.
set -u
. "$(dirname "$0")/lib.sh"
run() { "$PQ" pretrain --config suites/models/tiny.json --data synthetic:40000 --tokens 16384 "$@" >/dev/null 2>"$tmp/err"; echo $?; }
loss() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['final_val_loss'])" "$1/results.json"; }

[ "$(run --out "$tmp/fp")" = 0 ] || fail "fp32 run: $(cat "$tmp/err")"
[ "$(run --out "$tmp/fp32" --precision fp32)" = 0 ] || fail "--precision fp32: $(cat "$tmp/err")"
cmp -s "$tmp/fp/model.ckpt" "$tmp/fp32/model.ckpt" || fail "--precision fp32 differs from the default"
! grep -q '"matmul"' "$tmp/fp/results.json" || fail "an fp32 manifest has a matmul entry"
[ "$(run --out "$tmp/bf" --precision bf16)" = 0 ] || fail "bf16 run: $(cat "$tmp/err")"
python3 - "$tmp/bf/results.json" <<'PY' || fail "bf16 manifest/identity"
import json, sys
r = json.load(open(sys.argv[1]))
m = r["manifest"]
assert m["matmul"]["precision"] == "bf16", m.get("matmul")
assert "bf16" in json.dumps(m["config"]), "identity lacks precision"
PY
! cmp -s "$tmp/fp/model.ckpt" "$tmp/bf/model.ckpt" || fail "bf16 trained the fp32 weights bitwise: not rounded?"
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 0.02 * a)" \
    "$(loss "$tmp/fp")" "$(loss "$tmp/bf")" || fail "bf16 loss $(loss "$tmp/bf") vs fp32 $(loss "$tmp/fp")"
"$PQ" qat --from "$tmp/fp/model.ckpt" --bits 2 --quantizer paretoq --tokens 4096 --data synthetic:40000 \
    --out "$tmp/qat" --precision bf16 >/dev/null 2>"$tmp/err" || fail "qat --precision bf16: $(cat "$tmp/err")"
grep -q '"kernel"' "$tmp/qat/results.json" || fail "qat manifest lacks the matmul entry"
code=$(run --out "$tmp/fp" --precision bf16)
[ "$code" != 0 ] || fail "bf16 reused the finished fp32 directory"
[ "$(run --out "$tmp/x" --precision fp8)" = 2 ] || fail "--precision fp8 should be a usage error"
grep -q "bf16" "$tmp/err" || fail "message does not name bf16: $(cat "$tmp/err")"
if grep -q avx512_bf16 /proc/cpuinfo; then # pq bench bf16 --quick: the interleaved comparison's fields
    "$PQ" bench bf16 --quick --out "$tmp/bench" 2>"$tmp/err" || fail "bench bf16: $(cat "$tmp/err")"
    python3 - "$tmp/bench/bf16.json" "$tmp/err" <<'PY' || fail "bench bf16 json"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["configs"][0]
assert len(c["per_round"]) == c["rounds"] == 3, c
for k in ("fp32_tokens_per_sec", "bf16_tokens_per_sec", "speedup", "speedup_per_cpu_sec", "linear_products_speedup"):
    assert c[k] > 0, k
assert len(d["load_average_before"]) == 3 and d["manifest"]["machine"]
# the machine is judged around the timings, as pq bench train and kernels do
m = d["machine"]
assert d["machine_quiet"] in (True, False) and m["quiet"] == d["machine_quiet"], m
assert m["before"]["spin_median_ms"] > 0 and m["after"]["spin_median_ms"] > 0, m
busy_said = "MACHINE BUSY" in open(sys.argv[2]).read()
assert busy_said == (not d["machine_quiet"]), (busy_said, d["machine_quiet"])
PY
fi
echo "bf16_precision: ok (final val loss fp32 $(loss "$tmp/fp"), bf16 $(loss "$tmp/bf"))"
