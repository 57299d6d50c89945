#!/usr/bin/env bash
# pq bench train --quick writes a well-formed train.json: tokens/s, GFLOP/s and the
# sgemm ceiling at 1 and 2 threads for each config, the OpenBLAS core type and whether the
# machine was quiet.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
"$PQ" bench train --quick --out "$tmp" 2> "$tmp/log"
f="$tmp/train.json"
[ -f "$f" ] || { echo "FAIL: no train.json"; cat "$tmp/log"; exit 1; }
for key in '"openblas_core"' '"tokens_per_sec"' '"gflops"' '"sgemm_ceiling_gflops"' '"fraction_of_ceiling"' \
           '"1": {' '"2": {' '"name": "tiny"' '"manifest"'; do
    grep -q "$key" "$f" || { echo "FAIL: $key missing from train.json"; exit 1; }
done
# every measured rate is a positive number (values below 1 are fine: tiny shapes on a busy machine)
/usr/bin/python3 - "$f" <<'PY' || { echo "FAIL: non-positive rate"; exit 1; }
import json, sys
bad = []
def walk(v, path):
    if isinstance(v, dict):
        for k, x in v.items():
            if k in ("tokens_per_sec", "gflops", "sgemm_ceiling_gflops") and not (isinstance(x, (int, float)) and x > 0):
                bad.append(f"{path}.{k} = {x!r}")
            walk(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(x, f"{path}[{i}]")
walk(json.load(open(sys.argv[1])), "")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
# the machine is judged around the timings (bench_quiet.h): a verdict, its reasons and both samples,
# and a busy machine is said on stderr, not only in the file
/usr/bin/python3 - "$f" "$tmp/log" <<'PY' || { echo "FAIL: machine verdict"; exit 1; }
import json, sys
d = json.load(open(sys.argv[1]))
m = d["machine"]
assert d["machine_quiet"] in (True, False) and m["quiet"] == d["machine_quiet"], "machine_quiet"
assert m["before"]["spin_median_ms"] > 0 and m["after"]["spin_median_ms"] > 0, "spin samples"
assert 0 <= m["others_cpu_fraction"] <= 1, "others_cpu_fraction"
busy_said = "MACHINE BUSY" in open(sys.argv[2]).read()
assert busy_said == (not m["quiet"]) and (m["quiet"] == (m["why"] == "")), "warning line vs verdict"
PY
echo "pretrain_bench: ok"
