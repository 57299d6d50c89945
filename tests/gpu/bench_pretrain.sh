#!/bin/bash
# Training speed of `pq pretrain` on the GPU (fp32 and tf32) and on the CPU for the
# ladder configs, on synthetic data (speed does not depend on the tokens), as one
# JSON document on stdout. Usage: bench_pretrain.sh PQ GPU_TOKENS CPU_TOKENS [configs...]
set -euo pipefail
PQ=$1 GPU_TOKENS=$2 CPU_TOKENS=$3
shift 3
configs=${*:-suites/models/xs.json suites/models/s.json suites/models/m.json suites/models/l.json}
tmp=$(mktemp -d /tmp/pq-bench-gpu.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for c in $configs; do
    name=$(basename "$c" .json)
    for dev in cuda:fp32 cuda:tf32 cpu:fp32; do
        d=${dev%%:*} p=${dev##*:}
        tokens=$GPU_TOKENS
        [ "$d" = cpu ] && tokens=$CPU_TOKENS
        out="$tmp/$name-$d-$p"
        "$PQ" pretrain --config "$c" --data synthetic:2000000 --out "$out" --tokens "$tokens" --device "$d" \
            --precision "$p" >/dev/null 2>"$out.log" || { cat "$out.log" >&2; exit 1; }
    done
done
python3 - "$tmp" <<'PY'
import json, os, sys
tmp = sys.argv[1]
runs = []
for d in sorted(os.listdir(tmp)):
    f = os.path.join(tmp, d, "results.json")
    if not os.path.exists(f): continue
    r = json.load(open(f))
    name, dev, prec = d.rsplit("-", 2)
    runs.append({"model": name, "device": dev, "precision": prec, "tokens": r["curve"]["tokens"],
                 "tokens_per_sec": r["tokens_per_sec"], "train_flops_per_token": r["train_flops_per_token"],
                 "final_train_loss": r["curve"].get("final_train_loss"), "final_val_loss": r.get("final_val_loss"),
                 "threads": r["manifest"].get("threads"), "manifest": r["manifest"]})
print(json.dumps({"runs": runs}, indent=1))
PY
