#!/usr/bin/env bash
# Statistics end to end (README "Statistics"): a suite tier with two seeds gives
# one row per configuration with seeds, per_seed and ci95; eval runs keep their
# per-unit arrays (units.json); the declared contrasts come out with intervals
# whose values are the rows'; pq check's {"ci": k} rule follows the stored
# interval; a bad contrast declaration is a one-line error naming file and field.
set -u
. "$(dirname "$0")/lib.sh"

$PQ data build --quiet >/dev/null || fail "pq data build failed"

mkdir -p "$tmp/suites"
cp -r suites/models "$tmp/suites/models"
/usr/bin/python3 - "$tmp/suites/budget.json" <<'PY'
import json, sys
d = json.load(open("suites/budget.json"))
for t in d["tiers"].values():
    t.pop("seed", None)
    t.update({"models": ["tiny"], "total_tokens": 12288, "bits": [2], "fp_fractions": [0.9, 1.0], "eval_limit": 10,
              "seeds": [1, 2]})
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
run() { PQ_PROGRESS=0 $PQ suite run budget --tier smoke --suites "$tmp/suites" --runs-dir "$tmp/runs" --out "$tmp/out" -j 2 "$@"; }
run 2>"$tmp/run.log" || { cat "$tmp/run.log"; fail "suite run with two seeds failed"; }
ls "$tmp"/runs/eval-*/units.json >/dev/null 2>&1 || fail "eval runs kept no units.json"
mkdir -p "$tmp/ref/smoke"

/usr/bin/python3 - "$tmp/out/smoke/budget.json" <<'PY' || fail "results do not follow the statistics schema"
import json, math, sys
d = json.load(open(sys.argv[1]))
rows = d["rows"]
assert len(rows) == 2, "one row per configuration, not per seed: %d rows" % len(rows)
for r in rows:
    assert r["seeds"] == [1, 2], r["seeds"]
    assert len(r["run_ids"]) == 4, r["run_ids"]       # qat + eval per seed (the pretrain is the qat's input)
    ps = r["per_seed"]["val_loss"]
    assert len(ps) == 2 and abs(sum(ps) / 2 - r["val_loss"]) < 1e-9, (ps, r["val_loss"])
    lo, hi = r["ci95"]["val_loss"]
    assert lo < r["val_loss"] < hi, (lo, r["val_loss"], hi)
    lo, hi = r["ci95"]["acc_avg"]
    assert lo <= r["acc_avg"] <= hi
    assert set(r["ci95"]["acc"]) == set(r["acc"])
by = {r["fp_fraction"]: r for r in rows}
c = {x["name"]: x for x in d["contrasts"]}
x = c["fp90_vs_ptq"]
assert x["unit"] == "document" and x["paired"] and x["n_seeds"] == 2 and x["n_units"] > 10, x
assert abs(x["a_value"] - by[0.9]["val_loss"]) < 1e-9 and abs(x["b_value"] - by[1.0]["val_loss"]) < 1e-9, x
assert abs(x["effect"] - (x["a_value"] - x["b_value"])) < 1e-9
lo, hi = x["ci95"]
assert lo < x["effect"] < hi and x["se"] > 0 and abs(x["mde"] - 2.8 * x["se"]) < 1e-12
assert x["verdict_hint"] == ("within_noise" if lo <= 0 <= hi else "a_better" if hi < 0 else "b_better")
y = c["fp90_vs_ptq_acc"]
assert y["unit"] == "item" and y["n_units"] == 50, y   # 5 multiple-choice tasks x 10 items
assert "fp90_vs_scratch" not in c, "a side that was not run makes no instance"
# The reference for pq check: move one row's val_loss by 0.9 and another's by 1.1 half-widths of
# the difference's interval; both rows carry the same interval, so that half-width is sqrt(2) of theirs.
for r, k in zip(rows, (0.9, 1.1)):
    lo, hi = r["ci95"]["val_loss"]
    r["val_loss"] += k * 2 ** 0.5 * (hi - lo) / 2
json.dump(d, open(sys.argv[1].replace("out/smoke", "ref/smoke"), "w"))
PY

# {"ci": 1}: the row moved by 0.9 half-widths of the difference passes, the one moved by 1.1 is a regression.
/usr/bin/python3 - "$tmp/suites/budget.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["tolerances"] = {"val_loss": {"ci": 1}}
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
PQ_PROGRESS=0 $PQ check budget --tier smoke --reuse --suites "$tmp/suites" --runs-dir "$tmp/runs" --reference "$tmp/ref" \
    >"$tmp/check.txt" 2>&1 && fail "pq check passed a move beyond the interval: $(cat "$tmp/check.txt")"
grep -q "1 regressions" "$tmp/check.txt" || fail "pq check: expected exactly one regression: $(cat "$tmp/check.txt")"
grep -q "1 moved within tolerance" "$tmp/check.txt" || fail "pq check: expected one move within: $(cat "$tmp/check.txt")"

# A contrast naming a field outside the suite's key: one line naming file, line and field.
/usr/bin/python3 - "$tmp/suites/budget.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["contrasts"][1]["a"] = {"fp_fractoin": 0.9}
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
err=$(PQ_PROGRESS=0 $PQ suite run budget --tier smoke --suites "$tmp/suites" --runs-dir "$tmp/runs" --dry-run 2>&1 >/dev/null)
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "expected a one-line error, got: $err"
case "$err" in
    *budget.json:*"contrasts[1] (fp90_vs_ptq).a: 'fp_fractoin' is not one of the suite's key fields"*) ;;
    *) fail "unexpected error: $err" ;;
esac
echo "suite_stats: ok"
