#!/usr/bin/env bash
# The harness: a suite killed mid-run and rerun gives exactly the rows of an
# uninterrupted run; finished runs are reused; bad suite files are clear errors.
set -u
. "$(dirname "$0")/lib.sh"

$PQ data build --quiet >/dev/null || fail "pq data build failed"

# A reduced copy of the budget suite: one model, one bit width, two splits.
mkdir -p "$tmp/suites"
cp -r suites/models "$tmp/suites/models" 2>/dev/null
/usr/bin/python3 - "$tmp/suites/budget.json" <<'PY'
import json, sys
d = json.load(open("suites/budget.json"))
for t in d["tiers"].values():
    t.update({"models": ["tiny"], "total_tokens": 24576, "bits": [2], "fp_fractions": [0.5, 1.0], "eval_limit": 20})
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
# Model configs are read relative to the working directory (suites/models).
run() { PQ_PROGRESS=0 $PQ suite run budget --tier smoke --suites "$tmp/suites" --runs-dir "$1" --out "$2" -j 1; }

run "$tmp/runs-a" "$tmp/out-a" 2>"$tmp/a.log" || { cat "$tmp/a.log"; fail "uninterrupted suite run failed"; }
# It opens with what it will cost (harness/plan_summary.h): FP checkpoints of 12,288 and
# 24,576 tokens, QAT of 12,288 from the first and of 0 from the second, an eval of each.
grep -qx "pq suite: to run: 2 pretrain, 2 qat, 2 eval" "$tmp/a.log" &&
    grep -qx "pq suite:   tiny: 2 pretrain 37K tokens, 2 qat 12K tokens" "$tmp/a.log" || { cat "$tmp/a.log"; fail "no cost summary"; }

# Kill a second, independent run as soon as its first training run has a checkpoint.
setsid bash -c "$(declare -f run); PQ='$PQ' tmp='$tmp'; run '$tmp/runs-b' '$tmp/out-b'" 2>"$tmp/b.log" &
pid=$!
for _ in $(seq 600); do
    ls "$tmp"/runs-b/*/state.ckpt >/dev/null 2>&1 && break
    sleep 0.05
done
kill -KILL -- -$pid 2>/dev/null
wait $pid 2>/dev/null
ls "$tmp"/runs-b/*/DONE >/dev/null 2>&1 && echo "note: a run had finished before the kill"
run "$tmp/runs-b" "$tmp/out-b" 2>"$tmp/b2.log" || { cat "$tmp/b2.log"; fail "resumed suite run failed"; }

strip() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d.pop('manifest'); print(json.dumps(d, sort_keys=True))" "$1"; }
[ "$(strip "$tmp/out-a/smoke/budget.json")" = "$(strip "$tmp/out-b/smoke/budget.json")" ] ||
    fail "killed + resumed suite differs from the uninterrupted one"
grep -q '"val_loss"' "$tmp/out-a/smoke/budget.json" || fail "no val_loss in the aggregated rows"
grep -q '"acc_avg"' "$tmp/out-a/smoke/budget.json" || fail "no accuracy in the aggregated rows"
[ -s "$tmp/out-a/smoke/budget.csv" ] || fail "no CSV twin"
# Finished runs keep their outputs but drop the resumable state.
ls "$tmp"/runs-a/*/model.ckpt >/dev/null 2>&1 || fail "finished runs lost their model.ckpt"
! ls "$tmp"/runs-a/*/state.ckpt >/dev/null 2>&1 || fail "finished runs kept state.ckpt"

# A rerun finds every run done and runs nothing.
run "$tmp/runs-a" "$tmp/out-a" 2>"$tmp/c.log" || fail "rerun failed"
grep -q "6 runs, 6 already done, 0 to run" "$tmp/c.log" || { cat "$tmp/c.log"; fail "rerun recomputed finished runs"; }
! grep -q "to run:" "$tmp/c.log" || fail "a rerun with nothing to do printed a cost summary"

# Without --out, results go under $PQ_WORK (here a fresh one; data and runs given).
data="${PQ_WORK:-work}/data"
PQ_WORK="$tmp/w" PQ_PROGRESS=0 $PQ suite run budget --tier smoke --suites "$tmp/suites" --runs-dir "$tmp/runs-a" \
    --data-dir "$data" -j 1 2>"$tmp/w.log" || { cat "$tmp/w.log"; fail "suite run under PQ_WORK failed"; }
[ -f "$tmp/w/results/smoke/budget.json" ] || fail "results did not go to \$PQ_WORK/results"

# Bad input: a malformed suite file names file, line and field; exit 1.
sed -i 's/"total_tokens": 24576/"total_tokens": "many"/' "$tmp/suites/budget.json"
run "$tmp/runs-a" "$tmp/out-a" 2>"$tmp/d.log"; rc=$?
[ $rc -eq 1 ] || fail "malformed suite: exit $rc, expected 1"
grep -q "budget.json:[0-9]*: tiers.smoke.total_tokens: expected an integer" "$tmp/d.log" || { cat "$tmp/d.log"; fail "malformed suite: unclear error"; }
$PQ suite run nosuch 2>"$tmp/e.log"; [ $? -eq 1 ] && grep -q "unknown suite 'nosuch'" "$tmp/e.log" || fail "unknown suite: unclear error"
echo "harness_resume: ok"
