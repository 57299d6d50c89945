#!/usr/bin/env bash
# --recompute (pq pretrain, pq qat): the backward recomputes each layer's activations from
# its input instead of keeping every layer's. The run is bitwise the same with and without
# it (model.ckpt, state.ckpt, loss curves), a run killed with it resumes without it to the
# same end, the manifest records it, and --max-memory turns it on by itself when the run
# fits only with it (one line on stderr saying so; the manifest gives the reason).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT
pid=
export PQ_PROGRESS=0

# batch 8 x 128 tokens: every layer's attention probabilities dominate the activations
cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 4, "n_heads": 4, "n_kv_heads": 2, "ffn_dim": 160, "vocab": 256, "ctx": 128},
 "train": {"batch": 8, "lr": 3e-3, "warmup": 2, "seed": 5, "tokens": 16384,
           "eval_interval": 4, "eval_tokens": 1024, "ckpt_interval": 4}}
JSON
same_run() { # dir1 dir2 what: the same weights, state and curves
    cmp "$1/model.ckpt" "$2/model.ckpt" || fail "$3: model.ckpt differs"
    cmp "$1/state.ckpt" "$2/state.ckpt" || fail "$3: state.ckpt differs"
    curve() { sed -n '/^  "curve": {/,/^  },/p' "$1" | grep -v resumed_from; }
    [ "$(curve "$1/results.json")" = "$(curve "$2/results.json")" ] || fail "$3: loss curves differ"
}
manifest_recompute() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["manifest"]; print(m["recompute"], m.get("recompute_reason", ""))' "$1"; }

"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/kept"
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/recomputed" --recompute
same_run "$tmp/kept" "$tmp/recomputed" "pretrain --recompute"
[ "$(manifest_recompute "$tmp/kept/results.json")" = "False " ] || fail "manifest: $(manifest_recompute "$tmp/kept/results.json")"
[ "$(manifest_recompute "$tmp/recomputed/results.json")" = "True " ] || fail "manifest: $(manifest_recompute "$tmp/recomputed/results.json")"

# killed with --recompute once its first state is written, resumed without it
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/mixed" --recompute & pid=$!
for _ in $(seq 1 6000); do
    [ -f "$tmp/mixed/state.ckpt" ] && { kill -9 $pid 2>/dev/null || true; break; }
    kill -0 $pid 2>/dev/null || break
    sleep 0.005
done
wait $pid 2>/dev/null || true
pid=
[ -f "$tmp/mixed/results.json" ] && echo "note: run finished before the kill; the rerun checks a finished run"
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/mixed"
same_run "$tmp/kept" "$tmp/mixed" "killed with --recompute, resumed without"

# qat (the hook's one-layer effective weights are remade for each recomputed layer)
"$PQ" qat --from "$tmp/kept/model.ckpt" --bits 2 --quantizer paretoq --tokens 8192 --data synthetic:60000 --out "$tmp/q1"
"$PQ" qat --from "$tmp/kept/model.ckpt" --bits 2 --quantizer paretoq --tokens 8192 --data synthetic:60000 --out "$tmp/q2" --recompute
same_run "$tmp/q1" "$tmp/q2" "qat --recompute"

# --max-memory between the two plans: on by itself, said once, recorded with its reason
planned() { grep -o 'planned peak [0-9.]* MiB' "$1" | awk '{print $3}'; }
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/p1" --tokens 1024 --max-memory 1T 2> "$tmp/err1"
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/p2" --tokens 1024 --max-memory 1T --recompute 2> "$tmp/err2"
full=$(planned "$tmp/err1") lean=$(planned "$tmp/err2")
awk -v f="$full" -v l="$lean" 'BEGIN { exit !(l + 4 < f) }' || fail "recompute plans $lean MiB, keeping every layer $full MiB"
limit=$(awk -v f="$full" -v l="$lean" 'BEGIN { printf "%dM", (f + l) / 2 }')
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/auto" --max-memory "$limit" 2> "$tmp/err"
grep -q "pq pretrain: --max-memory $limit: recomputing activations" "$tmp/err" || fail "no notice: $(cat "$tmp/err")"
[ "$(manifest_recompute "$tmp/auto/results.json")" = "True --max-memory $limit" ] || fail "manifest: $(manifest_recompute "$tmp/auto/results.json")"
same_run "$tmp/kept" "$tmp/auto" "recompute turned on by --max-memory"
# below even the recomputing plan: one line naming what it needs at the least, exit 1
set +e
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:60000 --out "$tmp/none" --max-memory 10M 2> "$tmp/err"
rc=$?
set -e
[ $rc = 1 ] && [ "$(wc -l < "$tmp/err")" = 1 ] && grep -q 'activations (recomputed)' "$tmp/err" || fail "too small: rc=$rc $(cat "$tmp/err")"
echo "recompute: ok"
