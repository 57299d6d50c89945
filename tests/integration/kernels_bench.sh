#!/usr/bin/env bash
# pq bench kernels --quick: kernels.json has every format on the quick shapes,
# OpenBLAS next to them, a measured bandwidth, the summary and decode speeds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
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
# issue 20: a streamed set of at least 512 MiB, the cold/hot, quiet and twin checks, warnings that say when one failed
assert r["manifest"]["config"]["stream_buffer_bytes"] >= 512 << 20
ch, mach, s = r["checks"]["cold_hot"], r["checks"]["machine"], r["summary"]
assert ch["checked"] > 0 and isinstance(ch["passed"], bool) and "rule" in ch, ch
assert isinstance(mach["quiet"], bool) and len(mach["before"]["spin_ms"]) == 5, mach
assert s["cold_hot_check_passed"] == ch["passed"] and s["machine_quiet"] == mach["quiet"]
# every configuration timed in each of the rounds (interleaved with the others of its shape):
# its median, over all its calls, lies within its rounds' medians
rounds = r["manifest"]["config"]["rounds"]
assert rounds == 3, rounds
for e in k:
    rm = e["round_median_us"]
    assert len(rm) == rounds and e["reps"] >= 3 * rounds, e
    assert min(rm) * 0.999 <= e["median_us"] <= max(rm) * 1.001, e
# the twin check: t2 and b2 (one kernel) timed alike on one thread
tw = r["checks"]["twins"]
assert tw["checked"] > 0 and isinstance(tw["passed"], bool) and tw["max_ratio"] >= 1.0, tw
assert s["twin_check_passed"] == tw["passed"] and tw["passed"] == (tw["failed"] == 0), tw
assert (len(s["warnings"]) == 0) == (ch["passed"] and mach["quiet"] and tw["passed"]), s["warnings"]
assert all(w.startswith(("MACHINE BUSY", "COLD/HOT CHECK FAILED", "TWIN CHECK FAILED")) for w in s["warnings"])
peers = s["vs_peers_8192x2048_1T"]
assert {p["type"] for p in peers} == {"TQ2_0", "Q4_0", "F32"}
assert all(p["variant"] and p["source"] and p["measured_in_this_run"] is False for p in peers), peers
assert any("q4_0_8x8" in p["variant"] for p in peers)
for key, rounds in s["decode_speedup_2bit_over_4bit_each_round"].items():
    assert len(rounds) == 3 and sorted(rounds)[1] == s["decode_speedup_2bit_over_4bit"][key], (key, rounds)
PY
echo "kernels_bench: ok"
