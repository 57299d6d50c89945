#!/usr/bin/env bash
# A suite invocation that measures nothing (here: an empty runs directory,
# aggregated with pq check --reuse) must not replace measured rows of an
# existing results file with "incomplete" ones; it reports the failure (exit 1).
# No data or training needed: the data's identity is three stub manifests.
set -u
. "$(dirname "$0")/lib.sh"

mkdir -p "$tmp/data/shards" "$tmp/data/tasks" "$tmp/runs" "$tmp/out/smoke"
for f in tokenizer.json shards/manifest.json tasks/manifest.json; do echo '{"content_sha256": "stub"}' >"$tmp/data/$f"; done
rows() { /usr/bin/python3 -c "import json,sys; print(json.dumps(json.load(open(sys.argv[1]))['rows'], sort_keys=True))" "$1"; }

for suite in budget transition kernels; do
    cp "results/smoke/$suite.json" "$tmp/out/smoke/"
    $PQ check $suite --tier smoke --reuse --data-dir "$tmp/data" --runs-dir "$tmp/runs" --out "$tmp/out" \
        >"$tmp/check.txt" 2>"$tmp/err.txt"
    rc=$?
    [ $rc -eq 1 ] || { cat "$tmp/err.txt"; fail "$suite: nothing measured, exit $rc, expected 1"; }
    [ "$(rows "$tmp/out/smoke/$suite.json")" = "$(rows "results/smoke/$suite.json")" ] ||
        fail "$suite: measured rows were replaced by unmeasured ones"
    grep -q "rows not measured this time keep their previous results" "$tmp/err.txt" ||
        { cat "$tmp/err.txt"; fail "$suite: the kept rows are not reported"; }
    grep -q incomplete "$tmp/out/smoke/$suite.csv" && fail "$suite: the CSV has incomplete rows"
done

# Without a previous file the unmeasured rows are written as they are.
rm "$tmp/out/smoke/budget.json"
$PQ check budget --tier smoke --reuse --data-dir "$tmp/data" --runs-dir "$tmp/runs" --out "$tmp/out" >/dev/null 2>&1
grep -q '"incomplete": true' "$tmp/out/smoke/budget.json" || fail "a first aggregation lost its incomplete rows"
# The results record where training and evaluation ran (--device; timings are always the CPU's).
device() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['manifest'].get('device'))" "$1"; }
[ "$(device "$tmp/out/smoke/budget.json")" = cpu ] || fail "manifest device: $(device "$tmp/out/smoke/budget.json")"
$PQ check budget --tier smoke --reuse --device cuda --data-dir "$tmp/data" --runs-dir "$tmp/runs" --out "$tmp/out" >/dev/null 2>&1
[ "$(device "$tmp/out/smoke/budget.json")" = cuda ] || fail "manifest device with --device cuda: $(device "$tmp/out/smoke/budget.json")"
echo "suite_keep_results: ok"
