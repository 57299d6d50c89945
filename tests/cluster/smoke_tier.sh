#!/usr/bin/env bash
# The whole smoke tier through the Slurm executor (issue 18), on the single-node
# cluster of slurm_cluster.sh: every run one sbatch job, interrupted once (slurmd
# and the running jobs killed after INTERRUPT_AFTER runs are done, then slurmd
# restarted: the failed jobs are reported with their logs, and a rerun resubmits
# only what is not done), then `pq check --tier smoke` against results/smoke, and
# every row compared with the reference exactly (all but the timings). Timing runs
# (decode, bench_kernels) must have had the node to themselves. Takes the time of a
# local `pq suite run all --tier smoke -j $(nproc)` plus a little: not part of
# `make test`; `make test-slurm-tier` runs it. Run from the repository root.
#   PQ=./pq  PQ_DATA_DIR=work/data (built if missing)  INTERRUPT_AFTER=40 (0: no interruption)
#   KEEP=1 keeps the scratch directory (runs, logs, results) under $TMPDIR.
set -u
PQ=$(realpath "${PQ:-./pq}")
DATA=${PQ_DATA_DIR:-${PQ_WORK:-work}/data}
INTERRUPT_AFTER=${INTERRUPT_AFTER:-40}
fail() { echo "FAIL: $*" >&2; exit 1; }
say() { echo "slurm smoke tier: $*"; }
[ -f suites/budget.json ] && [ -d results/smoke ] || fail "run from the repository root (suites/, results/smoke)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pq_slurm_tier_XXXXXX")
follower=
. tests/cluster/slurm_cluster.sh
finish() {
    [ -n "$follower" ] && pkill -P "$follower" 2>/dev/null # the pq under the background subshell
    stop_cluster
    if [ "${KEEP:-0}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap finish EXIT
start_cluster

mkdir -p "$DATA" && DATA=$(realpath "$DATA")
$PQ data build --data-dir "$DATA" --quiet >"$tmp/data.log" 2>&1 || { cat "$tmp/data.log"; fail "pq data build --data-dir $DATA failed"; }
export PQ_WORK=$tmp PQ_PROGRESS=0 PQ_SLURM_POLL=${PQ_SLURM_POLL:-2}
runs=$tmp/runs
suite() { $PQ suite run all --tier smoke --executor slurm --data-dir "$DATA" --runs-dir "$runs" --out "$tmp/results" "$@"; }
done_count() { ls "$runs"/*/DONE 2>/dev/null | wc -l; }
t0=$(date +%s)

# ---- first invocation, interrupted by a node failure -------------------------------
suite 2>"$tmp/run1.log" &
follower=$!
killed=0
if [ "$INTERRUPT_AFTER" -gt 0 ]; then
    job_pids() { pgrep -f -- "--out $runs/"; }
    while kill -0 $follower 2>/dev/null; do
        [ "$(done_count)" -ge "$INTERRUPT_AFTER" ] && [ -n "$(job_pids)" ] && break
        sleep 1
    done
    kill -0 $follower 2>/dev/null || { cat "$tmp/run1.log"; fail "the suite ended before $INTERRUPT_AFTER runs were done"; }
    pids=$(job_pids)
    killed=$(echo $pids | wc -w)
    at=$(done_count)
    node_failure $pids
fi
wait $follower; rc=$?
follower=
if [ "$INTERRUPT_AFTER" -gt 0 ]; then
    [ $rc = 1 ] || { tail -n 30 "$tmp/run1.log"; fail "the interrupted invocation exited $rc, expected 1"; }
    reported=$(grep -c "^pq suite: .* run failed (slurm job [0-9]* " "$tmp/run1.log")
    logs=$(grep -c "^pq suite:   log: $runs/.*/log.txt" "$tmp/run1.log")
    [ "$reported" -ge 1 ] && [ "$logs" = "$reported" ] || { cat "$tmp/run1.log"; fail "the killed jobs are not reported with their logs"; }
    first=$(grep -o "submitted [0-9]* slurm jobs" "$tmp/run1.log")
    # ---- the rerun: only what is not done ------------------------------------------------
    left=$(( $(grep -o "^pq suite: [0-9]* runs" "$tmp/run1.log" | grep -o "[0-9]*") - $(done_count) ))
    suite 2>"$tmp/run2.log" || { tail -n 30 "$tmp/run2.log"; fail "the rerun after the node failure failed"; }
    grep -q "submitted $left slurm jobs" "$tmp/run2.log" || { cat "$tmp/run2.log"; fail "the rerun did not resubmit exactly the $left runs not done"; }
    say "first invocation: $first; slurmd and the $killed running jobs killed after $at runs were done;" \
        "$reported failed runs reported with their logs, exit 1"
    say "rerun: $(grep -o "[0-9]* already done, [0-9]* to run" "$tmp/run2.log"), submitted $left slurm jobs, exit 0"
else
    [ $rc = 0 ] || { tail -n 30 "$tmp/run1.log"; fail "pq suite run --executor slurm exited $rc"; }
    say "$(grep -o "submitted [0-9]* slurm jobs" "$tmp/run1.log"), exit 0"
fi
total=$(grep -o "^pq suite: [0-9]* runs" "$tmp/run1.log" | grep -o "[0-9]*")
[ "$(done_count)" = "$total" ] || fail "$(done_count) of $total runs done"
say "$total runs done in $(( ($(date +%s) - t0) / 60 )) min ($(nproc) CPUs, --cpus-per-run 1)"

# ---- timing runs had the node to themselves ---------------------------------------
/usr/bin/python3 - "$tmp/log/jobcomp.txt" <<'PY' || fail "a timing job shared the node"
import re, sys
jobs = []
for line in open(sys.argv[1]):
    f = dict(re.findall(r"(\w+)=(\S*)", line))
    if f.get("Name", "").startswith("pq-") and f.get("JobState") != "CANCELLED" and f.get("StartTime", "") < f.get("EndTime", ""):
        jobs.append((f["Name"], f["JobId"], f["StartTime"], f["EndTime"]))
timing = [j for j in jobs if j[0].startswith(("pq-decode-", "pq-bench_kernels-"))]
overlaps = [(t, o) for t in timing for o in jobs if o is not t and o[2] < t[3] and o[3] > t[2]]
for t, o in overlaps: print("timing job %s (%s) overlaps %s (%s)" % (t[1], t[0], o[1], o[0]), file=sys.stderr)
print("slurm smoke tier: %d timing jobs (decode, bench_kernels) ran alone on the node" % len(timing))
sys.exit(1 if overlaps or not timing else 0)
PY

# ---- the same results as the local executor ----------------------------------------
$PQ check --tier smoke --reuse --data-dir "$DATA" --runs-dir "$runs" > "$tmp/check.txt" 2>&1; rc=$?
summary=$(grep "^pq check" "$tmp/check.txt")
[ $rc = 0 ] && echo "$summary" | grep -q " 0 regressions, 0 missing" || { cat "$tmp/check.txt"; fail "pq check against results/smoke: exit $rc"; }
say "$summary"
/usr/bin/python3 - results/smoke "$tmp/results/smoke" <<'PY' || fail "rows differ from the stored reference"
# Every suite's rows, contrasts and statistics equal to the reference's, bit for bit,
# leaving out the timings (kernels, tokens_per_s), the manifest and the run ids
# (which include the source hashes of the code that made the reference).
import json, os, sys
def strip(x):
    if isinstance(x, dict):
        if x.get("metric") == "tokens_per_s": return None
        return {k: strip(v) for k, v in x.items() if k not in ("tokens_per_s", "run_ids", "manifest")}
    if isinstance(x, list): return [y for y in map(strip, x) if y is not None]
    return x
ref_dir, new_dir = sys.argv[1:]
same = differ = 0
for name in sorted(os.listdir(ref_dir)):
    if not name.endswith(".json") or name == "kernels.json": continue
    a, b = (strip(json.load(open(os.path.join(d, name)))) for d in (ref_dir, new_dir))
    if a == b: same += 1
    else: differ += 1; print("differs from the reference: " + name, file=sys.stderr)
print("slurm smoke tier: %d suites' rows identical to results/smoke (timings aside), %d differ" % (same, differ))
sys.exit(1 if differ else 0)
PY
say ok
