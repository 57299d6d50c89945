#!/usr/bin/env bash
# pq bench kernels --quick: kernels.json has every format on the quick shapes,
# OpenBLAS next to them, a measured bandwidth, the summary and decode speeds.
set -euo pipefail
PQ=${PQ:-./pq}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export PQ_PROGRESS=0
"$PQ" bench kernels --quick --out "$tmp" >"$tmp/stdout" 2>/dev/null || fail "pq bench kernels --quick failed"
grep -q "memory bandwidth" "$tmp/stdout" || fail "no bandwidth line"
python3 - "$tmp/kernels.json" <<'PY' || fail "kernels.json"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["bandwidth"]["triad_gbs_1T"] > 0
k = r["kernels"]
fmts = {e["format"] for e in k if e["kernel"] == "packed_gemv"}
assert fmts == {"b1", "t2", "t1.6", "b2", "b3", "b4", "b8"}, fmts
assert any(e["kernel"] == "openblas_sgemv" for e in k)
for e in k:
    assert e["median_us"] > 0 and e["weight_gbs"] > 0 and e["placement"] in ("resident", "streamed"), e
assert {e["placement"] for e in k if e["kernel"] == "packed_gemv"} == {"resident", "streamed"}
assert "speedup_2bit_over_4bit" in r["summary"]
d = r["decode"]
assert {e["format"] for e in d} >= {"f32", "b2", "b4"} and all(e["tokens_per_s"] > 0 for e in d)
assert r["manifest"]["kind"] == "bench_kernels"
PY
echo "kernels_bench: ok"
