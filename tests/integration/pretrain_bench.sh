#!/usr/bin/env bash
# pq bench train --quick writes a well-formed train.json: tokens/s, GFLOP/s and the
# sgemm ceiling at 1 and 2 threads for each config, and the OpenBLAS core type.
set -euo pipefail
PQ=${PQ:-./pq}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PQ" bench train --quick --out "$tmp" 2> "$tmp/log"
f="$tmp/train.json"
[ -f "$f" ] || { echo "FAIL: no train.json"; cat "$tmp/log"; exit 1; }
for key in '"openblas_core"' '"tokens_per_sec"' '"gflops"' '"sgemm_ceiling_gflops"' '"fraction_of_ceiling"' \
           '"1": {' '"2": {' '"name": "tiny"' '"manifest"'; do
    grep -q "$key" "$f" || { echo "FAIL: $key missing from train.json"; exit 1; }
done
# every measured rate is a positive number
if grep -E '"(tokens_per_sec|gflops|sgemm_ceiling_gflops)": (0[,.]|-|null)' "$f"; then
    echo "FAIL: non-positive rate"; exit 1
fi
echo "pretrain_bench: ok"
