#!/usr/bin/env bash
# plots/report.py: REPORT.md places each figure next to the paper's finding, with verdicts computed
# from the numbers (a changed number changes the verdict), deterministically.
# The fixtures (tests/fixtures/plots/results) are invented numbers for tests only.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
FIX=$ROOT/tests/fixtures/plots/results
T=$(mktemp -d /tmp/pq_report_test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

$PY -c 'import matplotlib' 2>/dev/null || fail "python3-matplotlib is not installed (run make deps)"
$PY "$ROOT/plots/make_all.py" --results "$FIX" --out "$T/a" 2>/dev/null || fail "make_all.py failed"
$PY "$ROOT/plots/report.py" --results "$FIX" --out "$T/a" 2>/dev/null || fail "report.py failed"
R=$T/a/REPORT.md
[ "$(grep -c '^## Fig\|^## Kernel' "$R")" -eq 10 ] || fail "REPORT.md lacks a section per artifact"
[ "$(grep -c '^!\[.*\](figures/.*\.png)' "$R")" -eq 10 ] || fail "REPORT.md does not show every figure"
for f in $(grep -o '(figures/[^)]*\.png)' "$R" | tr -d '()' | sort -u); do
    [ -e "$T/a/$f" ] || fail "REPORT.md links a missing figure $f"
done
[ "$(grep -c '^- \*\*Paper:\*\*' "$R")" -eq "$(grep -c '^  \*\*Ours (' "$R")" ] || fail "a finding lacks our sentence"
grep -q "tier \`fixture\`" "$R" || fail "REPORT.md does not name the tier"
# Sentences carry numbers computed from the fixtures.
grep -q "10 of 10 curves are best between 80% and 95% FP" "$R" || fail "budget finding not computed"
grep -q "the largest drop from 2 to 3 bits (×4), ≤2-bit over ≥3-bit ×4" "$R" || fail "transition finding not computed"
grep -q "Fine-tuning has the lower validation loss in 25 of 25" "$R" || fail "tokens finding not computed"
grep -q "^| Fig. 2 | .* | ✅ agrees |" "$R" || fail "summary lacks the budget verdict"

# Determinism.
$PY "$ROOT/plots/report.py" --results "$FIX" --out "$T/a" 2>/dev/null && cp "$R" "$T/R1"
$PY "$ROOT/plots/report.py" --results "$FIX" --out "$T/a" 2>/dev/null
cmp -s "$R" "$T/R1" || fail "two report runs differ"

# Move the budget optimum to 40% FP: the verdict must flip to 'disagrees'.
mkdir "$T/moved" && cp "$FIX"/*.json "$T/moved/"
$PY - "$FIX/budget.json" "$T/moved/budget.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["rows"]:
    if r["fp_fraction"] == 0.4:
        r["val_loss"] = 1.0
json.dump(d, open(sys.argv[2], "w"))
PY
$PY "$ROOT/plots/report.py" --results "$T/moved" --out "$T/m" 2>/dev/null || fail "report.py failed on changed numbers"
grep -q "0 of 10 curves are best between 80% and 95% FP" "$T/m/REPORT.md" || fail "budget sentence ignores the numbers"
grep -q "^| Fig. 2 | .* | ❌ disagrees |" "$T/m/REPORT.md" || fail "budget verdict ignores the numbers"

# Missing suites are reported as not measured; a malformed one makes the exit non-zero.
rm "$T/moved/ternary.json"
printf 'not json' >"$T/moved/kernels.json"
$PY "$ROOT/plots/report.py" --results "$T/moved" --out "$T/m" 2>/dev/null && fail "malformed suite: expected exit 1"
grep -q "Not measured:\*\* \`ternary.json\` is missing" "$T/m/REPORT.md" || fail "missing suite not reported"
grep -q "Malformed results file:\*\* .*kernels.json" "$T/m/REPORT.md" || fail "malformed suite not reported"
echo "plots_report: ok"
