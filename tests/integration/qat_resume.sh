#!/usr/bin/env bash
# pq qat: QAT from a pretrained checkpoint, killed with SIGKILL mid-run and rerun,
# ends bitwise identical to an uninterrupted run; --tokens 0 is PTQ with the scales
# at init; the quantized checkpoint and results.json hold what the suites need;
# bad input fails with one clear line. Synthetic tokens: no corpus needed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
pid=
trap 'if [ -n "$pid" ]; then kill -9 $pid 2>/dev/null || true; fi; rm -rf "$tmp"' EXIT
export PQ_PROGRESS=0

cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 128, "vocab": 256, "ctx": 32},
 "train": {"batch": 8, "lr": 3e-3, "warmup": 5, "seed": 3, "tokens": 102400,
           "eval_interval": 100, "eval_tokens": 2048, "ckpt_interval": 40}}
JSON
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:50000 --out "$tmp/fp" 2>/dev/null
qat() { "$PQ" qat --from "$tmp/fp/model.ckpt" --data synthetic:50000 --ckpt-interval 20 --eval-interval 50 "$@"; }

# uninterrupted reference, 2-bit SEQ (learned scales)
qat --bits 2 --quantizer paretoq --tokens 102400 --out "$tmp/a"
[ -f "$tmp/a/model.ckpt" ] && [ -f "$tmp/a/results.json" ] || fail "outputs missing"

# the same run killed once its second state checkpoint exists, then rerun
# (run pq itself in the background, not the shell function, so the kill reaches it)
"$PQ" qat --from "$tmp/fp/model.ckpt" --data synthetic:50000 --ckpt-interval 20 --eval-interval 50 \
    --bits 2 --quantizer paretoq --tokens 102400 --out "$tmp/b" 2>/dev/null & pid=$!
first=; killed=0
for _ in $(seq 1 3000); do
    if [ -f "$tmp/b/state.ckpt" ] && [ "$(stat -c %i "$tmp/b/state.ckpt")" != "${first:-}" ]; then
        if [ -n "${first:-}" ]; then kill -9 $pid 2>/dev/null && killed=1; break; fi
        first=$(stat -c %i "$tmp/b/state.ckpt")
    fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.005
done
wait $pid 2>/dev/null || true
pid=
[ $killed = 1 ] && [ ! -f "$tmp/b/results.json" ] || echo "note: run finished before the kill; resume still checked"
qat --bits 2 --quantizer paretoq --tokens 102400 --out "$tmp/b"
cmp "$tmp/a/model.ckpt" "$tmp/b/model.ckpt" || fail "quantized checkpoints differ after kill/resume"
if [ $killed = 1 ]; then grep -q '"resumed_from": 0,' "$tmp/b/results.json" && fail "rerun did not resume"; fi
cmp "$tmp/a/state.ckpt" "$tmp/b/state.ckpt" || fail "final state differs after kill/resume"
layers() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps([r['layers'], r['curve']['train_loss'], r['final_val_loss']]))" "$1"; }
[ "$(layers "$tmp/a/results.json")" = "$(layers "$tmp/b/results.json")" ] || fail "results differ after kill/resume"

# a finished run is not recomputed
qat --bits 2 --quantizer paretoq --tokens 102400 --out "$tmp/a" 2>&1 | grep -q "nothing to do" || fail "finished run recomputed"

# --tokens 0: PTQ with the scales at init; QAT improves on it
qat --bits 2 --quantizer paretoq --tokens 0 --out "$tmp/ptq"
python3 - "$tmp/a/results.json" "$tmp/ptq/results.json" <<'PY' || fail "results.json content"
import json, sys
a, p = (json.load(open(f)) for f in sys.argv[1:3])
assert a["quantizer"] == "seq" and a["bits"] == "2" and not a["ptq"] and p["ptq"], (a["quantizer"], a["ptq"], p["ptq"])
assert p["curve"]["train_loss"] == [], p["curve"]["train_loss"]
assert abs(p["initial_val_loss"] - a["initial_val_loss"]) < 1e-9, "PTQ point differs from QAT step 0"
assert a["final_val_loss"] < p["final_val_loss"], (a["final_val_loss"], p["final_val_loss"])
assert len(a["layers"]) == 2 * 7 and all(l["rel_l1"] > 0 for l in a["layers"])
assert all(l["rel_l1"] == 0 for l in p["layers"]), "PTQ moved latent weights"
assert all(len(l["alpha"]) == l["rows"] for l in a["layers"])
s = a["size"]
assert s["effective_bytes"] == s["quantized_params"] * 2 / 8 + s["fp_params"] * 2, s
assert abs(a["lr"] - 3e-4) < 1e-12, a["lr"]
PY

# statistics-based and 1-bit members run too; the evaluator-facing checkpoint loads as a model
qat --bits 1 --quantizer sign --tokens 12800 --out "$tmp/s1"
qat --bits 2 --quantizer minmax --tokens 12800 --out "$tmp/mm"
# from scratch (BitNet-style absmean ternary): random init, the config's LR, and it learns
"$PQ" qat --from-scratch --config "$tmp/cfg.json" --bits 1.58 --quantizer absmean --tokens 25600 \
    --data synthetic:50000 --out "$tmp/scratch"
python3 - "$tmp/scratch/results.json" <<'PY' || fail "from-scratch results"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["from_scratch"] and r["quantizer"] == "absmean" and r["lr"] == 3e-3, (r["from_scratch"], r["lr"])
assert r["final_val_loss"] < r["initial_val_loss"] - 1.0, (r["initial_val_loss"], r["final_val_loss"])
PY
"$PQ" ptq --from "$tmp/s1/model.ckpt" --method rtn --bits 2 --out "$tmp/x" 2>"$tmp/err" && fail "re-quantizing a quantized checkpoint"
grep -q "already a quantized checkpoint" "$tmp/err" || fail "unclear error: $(cat "$tmp/err")"

# bad input: one line, exit 1; bad usage: exit 2
head -c 1000 "$tmp/fp/model.ckpt" > "$tmp/trunc.ckpt"
set +e
"$PQ" qat --from "$tmp/trunc.ckpt" --bits 2 --quantizer paretoq --tokens 0 --data synthetic:5000 --out "$tmp/c" 2>"$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "trunc.ckpt" "$tmp/err" && [ "$(wc -l < "$tmp/err")" = 1 ] || fail "truncated checkpoint: rc=$rc $(cat "$tmp/err")"
"$PQ" qat --from "$tmp/fp/model.ckpt" --bits 5 --quantizer paretoq --tokens 0 --data synthetic:5000 --out "$tmp/c" 2>/dev/null; rc=$?
[ $rc = 2 ] || fail "--bits 5 gave rc=$rc"
"$PQ" qat --from "$tmp/fp/model.ckpt" --bits 2 --quantizer sign --tokens 0 --data synthetic:5000 --out "$tmp/c" 2>/dev/null; rc=$?
[ $rc = 2 ] || fail "sign at 2 bits gave rc=$rc"
"$PQ" qat --from "$tmp/fp/model.ckpt" --bits 2 --quantizer paretoq --data synthetic:5000 --out "$tmp/c" 2>/dev/null; rc=$?
[ $rc = 2 ] || fail "missing --tokens gave rc=$rc"
set -e
echo "qat_resume: ok"
