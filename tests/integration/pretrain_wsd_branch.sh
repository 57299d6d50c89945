#!/usr/bin/env bash
# pq pretrain with the warmup-stable-decay schedule: a run branched from another run's
# kept state inside its stable phase (--keep-steps / --branch-from) ends bitwise identical
# to the same config trained from scratch, also when the branch is killed and rerun; a
# branch point past the branch's own decay start, or from a cosine run, is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=
export PQ_PROGRESS=0

# 256 tokens per step; the stable run has 400 steps (decay from step 320), the branch 240
# (decay from step 240 - round(0.2 * 240) = 192): it branches at step 192.
cat > "$tmp/wsd.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 128, "vocab": 256, "ctx": 32},
 "train": {"batch": 8, "lr": 3e-3, "warmup": 5, "seed": 3, "tokens": 102400, "schedule": "wsd", "decay_fraction": 0.2,
           "eval_interval": 16, "eval_tokens": 2048, "ckpt_interval": 10}}
JSON
data=synthetic:50000
"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/long" --keep-steps 192,220
[ -f "$tmp/long/state-192.ckpt" ] && [ -f "$tmp/long/state-220.ckpt" ] || fail "kept states missing"
grep -q '"schedule": "wsd"' "$tmp/long/results.json" || fail "schedule not recorded"

# reference: the 240-step WSD run from scratch
"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/scratch" --tokens 61440
# its LR: warmup, stable, then linear to lr * min_lr_ratio at the last step
python3 - "$tmp/scratch/results.json" <<'PY'
import json, sys
lr = json.load(open(sys.argv[1]))["curve"]["lr"]
assert len(lr) == 240, len(lr)
assert abs(lr[0] - 3e-3 / 5) < 1e-9 and all(abs(v - 3e-3) < 1e-9 for v in lr[4:192]), lr[:200]
assert lr[192] < 3e-3 and abs(lr[239] - 3e-4) < 1e-9, lr[191:]
assert all(a > b for a, b in zip(lr[192:], lr[193:])), lr[192:]
PY

# the branch, uninterrupted and killed/rerun
"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/branch" --tokens 61440 --branch-from "$tmp/long/state-192.ckpt"
cmp "$tmp/scratch/model.ckpt" "$tmp/branch/model.ckpt" || fail "branched run differs from the run from scratch"
curve() { python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["curve"]; print(c["train_loss"], c["lr"], c["val"])' "$1"; }
[ "$(curve "$tmp/scratch/results.json")" = "$(curve "$tmp/branch/results.json")" ] || fail "loss curves differ"
grep -q '"at_step": 192' "$tmp/branch/results.json" || fail "branch point not recorded"

"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/killed" --tokens 61440 --branch-from "$tmp/long/state-192.ckpt" & pid=$!
killed=0
first=
for _ in $(seq 1 3000); do  # killed once the state after the branch point (step 200) replaces the branch's first
    if [ -f "$tmp/killed/state.ckpt" ] && [ "$(stat -c %i "$tmp/killed/state.ckpt")" != "${first:-}" ]; then
        if [ -n "${first:-}" ]; then kill -9 $pid 2>/dev/null && killed=1; break; fi
        first=$(stat -c %i "$tmp/killed/state.ckpt")
    fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.005
done
wait $pid 2>/dev/null || true
pid=
[ $killed = 1 ] && [ ! -f "$tmp/killed/results.json" ] || echo "note: branch finished before the kill; resume still checked"
"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/killed" --tokens 61440 --branch-from "$tmp/long/state-192.ckpt"
cmp "$tmp/scratch/model.ckpt" "$tmp/killed/model.ckpt" || fail "killed and rerun branch differs from the run from scratch"

# QAT from a WSD-pretrained model keeps its own recipe: cosine to 0, not the stable phase
"$PQ" qat --from "$tmp/long/model.ckpt" --bits 2 --quantizer paretoq --tokens 5120 --data $data --out "$tmp/qat" > /dev/null 2>&1
python3 - "$tmp/qat/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lr = r["curve"]["lr"]
assert r["train"]["schedule"] == "cosine", r["train"]
assert len(lr) == 20 and lr[-1] == 0 and all(a > b for a, b in zip(lr, lr[1:])), lr
PY

# refused: a branch point inside the branch's own decay (step 220 > 192), a cosine parent, another model
set +e
"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/late" --tokens 61440 --branch-from "$tmp/long/state-220.ckpt" 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "cannot branch at step 220" "$tmp/err" || { cat "$tmp/err"; fail "late branch point accepted (rc $rc)"; }
sed 's/"wsd"/"cosine"/' "$tmp/wsd.json" > "$tmp/cos.json"
"$PQ" pretrain --config "$tmp/cos.json" --data $data --out "$tmp/cos" --tokens 102400 --keep-steps 192 > /dev/null 2>&1
"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/fromcos" --tokens 61440 --branch-from "$tmp/cos/state-192.ckpt" 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "cannot branch" "$tmp/err" || { cat "$tmp/err"; fail "branch from a cosine run accepted"; }
sed 's/"ffn_dim": 128/"ffn_dim": 160/' "$tmp/wsd.json" > "$tmp/other.json"
"$PQ" pretrain --config "$tmp/other.json" --data $data --out "$tmp/other" --tokens 61440 --branch-from "$tmp/long/state-192.ckpt" 2> "$tmp/err"; rc=$?
[ $rc = 1 ] && grep -q "another model" "$tmp/err" || { cat "$tmp/err"; fail "branch into another model accepted"; }
"$PQ" pretrain --config "$tmp/wsd.json" --data $data --out "$tmp/x" --keep-steps 4,x 2> "$tmp/err"; rc=$?
[ $rc = 2 ] || fail "bad --keep-steps not a usage error"
set -e
echo "pretrain_wsd_branch: ok"
