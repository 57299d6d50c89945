#!/usr/bin/env bash
# The Slurm executor on a real cluster (issue 18): munged, slurmctld and slurmd from
# Debian's packages, started here as a single-node cluster on localhost. A reduced
# budget suite (pretrain -> qat -> eval) run through --executor slurm gives exactly
# the local executor's rows; a job killed together with slurmd is reported with its
# log, and after slurmd restarts a rerun resubmits only what is not done (twice
# with --detach: the second submits nothing) and again gives the same rows;
# pq suite status / cancel follow and stop a detached suite; a runs directory the
# node does not see is one clear error. Fails, never skips, when the cluster cannot start.
set -u
. "$(dirname "$0")/lib.sh"
PQ=$(realpath "$PQ")
follower=
. "$(dirname "$0")/../cluster/slurm_cluster.sh"
finish() {
    [ -n "$follower" ] && pkill -P "$follower" 2>/dev/null # the pq under the background subshell
    stop_cluster
    rm -rf "$tmp"
}
trap finish EXIT

# ---- the cluster --------------------------------------------------------------------
start_cluster

# ---- the suite ---------------------------------------------------------------------
$PQ data build --quiet >/dev/null || fail "pq data build failed"
mkdir -p "$tmp/suites"
cp -r suites/models "$tmp/suites/models"
/usr/bin/python3 - "$tmp/suites/budget.json" <<'PY'
import json, sys
d = json.load(open("suites/budget.json"))
d.pop("contrasts", None)
for t in d["tiers"].values():
    t.pop("seeds", None)
    t.update(models=["tiny"], seed=1, total_tokens=16384, bits=[2], fp_fractions=[0.5], eval_limit=10, tasks=["cloze"])
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
export PQ_PROGRESS=0 PQ_SLURM_POLL=0.5
suite() { local action=$1 runs=$2; shift 2; $PQ suite $action budget --tier smoke --suites "$tmp/suites" --runs-dir "$tmp/$runs" "$@"; }
slurm() { local runs=$1; shift; suite run $runs --out "$tmp/out-$runs" --executor slurm "$@"; }
strip() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d.pop('manifest'); print(json.dumps(d, sort_keys=True))" "$1"; }
same_rows() { [ "$(strip "$tmp/out-local/smoke/budget.json")" = "$(strip "$tmp/out-$1/smoke/budget.json")" ]; }

suite run local --out "$tmp/out-local" -j 2 2>"$tmp/local.log" || { cat "$tmp/local.log"; fail "local suite run failed"; }

# Through Slurm: the same rows, from three jobs chained by afterok.
slurm a 2>"$tmp/a.log" || { cat "$tmp/a.log"; show_logs; fail "slurm suite run failed"; }
grep -q "submitted 3 slurm jobs" "$tmp/a.log" || { cat "$tmp/a.log"; fail "expected 3 jobs"; }
same_rows a || fail "rows through Slurm differ from the local executor's"
[ "$(ls "$tmp"/a/*/slurm.json | wc -l)" = 3 ] || fail "job ids not recorded in the run directories"
suite status a > "$tmp/status.txt" || fail "status of a finished suite failed"
grep -q "3 runs: 3 done, 0 running, 0 queued, 0 failed, 0 cancelled, 0 not submitted" "$tmp/status.txt" || { cat "$tmp/status.txt"; fail "status of a finished suite"; }

# A node failure mid-suite: slurmd killed together with the running qat process, then restarted.
slurm b 2>"$tmp/b.log" &
follower=$!
job_pids() { pgrep -f -- "--out $tmp/b/$1-"; }
for _ in $(seq 1200); do [ -n "$(job_pids qat)" ] && break; sleep 0.05; done
pids=$(job_pids qat)
[ -n "$pids" ] || { cat "$tmp/b.log"; fail "the qat job never ran"; }
node_failure $pids
wait $follower; rc=$?
follower=
[ $rc = 1 ] || { cat "$tmp/b.log"; fail "the followed suite exited $rc after its job was killed, expected 1"; }
grep -q "pq suite: qat run failed (slurm job [0-9]* FAILED" "$tmp/b.log" && grep -q "log: $tmp/b/qat-.*/log.txt" "$tmp/b.log" ||
    { cat "$tmp/b.log"; fail "the failed job is not reported with its log"; }
# Rerun twice, detached: the first submits the two runs not done (held, through --sbatch-arg, so
# that they are still queued for the second), the second submits nothing.
slurm b --detach --sbatch-arg=--hold 2>"$tmp/b2.log" || { cat "$tmp/b2.log"; fail "resubmission failed"; }
grep -q "1 already done, 2 to run" "$tmp/b2.log" && grep -q "submitted 2 slurm jobs" "$tmp/b2.log" ||
    { cat "$tmp/b2.log"; fail "expected the 2 unfinished runs resubmitted"; }
slurm b --detach 2>"$tmp/b3.log" || { cat "$tmp/b3.log"; fail "second resubmission failed"; }
grep -q "submitted 0 slurm jobs; 2 submitted earlier are still queued or running" "$tmp/b3.log" ||
    { cat "$tmp/b3.log"; fail "jobs still queued or running were submitted twice"; }
suite status b > "$tmp/status.txt"
grep -q "3 runs: 1 done, 0 running, 2 queued, 0 failed, 0 cancelled, 0 not submitted" "$tmp/status.txt" &&
    grep -q "queued .*(JobHeldUser)" "$tmp/status.txt" || { cat "$tmp/status.txt"; fail "status of a detached suite"; }
job_of() { /usr/bin/python3 -c "import json,glob,sys; print(json.load(open(glob.glob(sys.argv[1])[0]))['job'])" "$1"; }
scontrol release "$(job_of "$tmp/b/qat-*/slurm.json")" "$(job_of "$tmp/b/eval-*/slurm.json")" || fail "scontrol release failed"
slurm b 2>"$tmp/b4.log" || { cat "$tmp/b4.log"; show_logs; fail "the rerun after the node failure failed"; }
same_rows b || fail "rows after a node failure and rerun differ from the local executor's"

# pq suite cancel stops a detached suite's jobs.
slurm c --detach 2>"$tmp/c.log" || { cat "$tmp/c.log"; fail "detached submission failed"; }
eval_job=$(job_of "$tmp/c/eval-*/slurm.json")
qat_job=$(job_of "$tmp/c/qat-*/slurm.json")
scontrol show job "$eval_job" | grep -q "Dependency=afterok:$qat_job" || { scontrol show job "$eval_job"; fail "the eval job does not wait for the qat job"; }
suite cancel c > "$tmp/cancel.txt" || { cat "$tmp/cancel.txt"; fail "cancel failed"; }
grep -q "cancelled 3 slurm jobs" "$tmp/cancel.txt" || { cat "$tmp/cancel.txt"; fail "cancel did not cancel the 3 jobs"; }
for _ in $(seq 50); do suite status c > "$tmp/status.txt"; grep -q "0 done, 0 running, 0 queued, 0 failed, 3 cancelled" "$tmp/status.txt" && break; sleep 0.2; done
grep -q "0 done, 0 running, 0 queued, 0 failed, 3 cancelled" "$tmp/status.txt" || { cat "$tmp/status.txt"; fail "jobs still queued or running after cancel"; }

# A node that does not see the runs directory: one clear line, exit 1, nothing submitted.
kill "$slurmd_pid"; wait "$slurmd_pid" 2>/dev/null
mkdir -p "$tmp/hidden"
start_slurmd unshare --mount --propagation private sh -c "mount -t tmpfs tmpfs '$tmp/hidden' && exec \"\$0\" \"\$@\""
suite run hidden/runs --out "$tmp/out-hidden" --executor slurm 2>"$tmp/h.log"; rc=$?
[ $rc = 1 ] || { cat "$tmp/h.log"; fail "a runs directory the node does not see: exit $rc, expected 1"; }
grep -q "pq suite: the runs directory $tmp/hidden/runs is not shared with the Slurm nodes" "$tmp/h.log" ||
    { cat "$tmp/h.log"; fail "no clear error for an unshared runs directory"; }
! grep -q "submitted" "$tmp/h.log" || fail "runs were submitted to nodes that cannot see them"
echo "slurm: ok"
