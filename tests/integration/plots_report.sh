#!/usr/bin/env bash
# plots/report.py: REPORT.md places each figure next to the paper's finding, with verdicts computed
# from the numbers (a changed number changes the verdict), deterministically.
# The fixtures (tests/fixtures/plots/results) are invented numbers for tests only.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
FIX=$ROOT/tests/fixtures/plots/results
. "$(dirname "$0")/lib.sh"

$PY -c 'import matplotlib' 2>/dev/null || fail "python3-matplotlib is not installed (run make deps)"
$PY "$ROOT/plots/make_all.py" --results "$FIX" --out "$tmp/a" 2>/dev/null || fail "make_all.py failed"
$PY "$ROOT/plots/report.py" --results "$FIX" --out "$tmp/a" 2>/dev/null || fail "report.py failed"
R=$tmp/a/REPORT.md
[ "$(grep -c '^## Fig\|^## Kernel' "$R")" -eq 10 ] || fail "REPORT.md lacks a section per artifact"
[ "$(grep -c '^!\[.*\](figures/.*\.png)' "$R")" -eq 10 ] || fail "REPORT.md does not show every figure"
for f in $(grep -o '(figures/[^)]*\.png)' "$R" | tr -d '()' | sort -u); do
    [ -e "$tmp/a/$f" ] || fail "REPORT.md links a missing figure $f"
done
[ "$(grep -c '^- \*\*Paper:\*\*' "$R")" -eq "$(grep -c '^  \*\*Ours (' "$R")" ] || fail "a finding lacks our sentence"
grep -q "tier \`fixture\`" "$R" || fail "REPORT.md does not name the tier"
# Sentences carry the contrasts' numbers: effect, 95% interval, seeds, mde next to the paper's effect.
grep -q "m1 1-bit 90% vs scratch +0.648 \[+0.629, +0.667\]" "$R" || fail "budget finding lacks its interval"
grep -q "3 seeds; smallest detectable effect 0.028 nats/token" "$R" || fail "budget finding lacks seeds and mde"
grep -q "Paper: optimum near 90% FP" "$R" || fail "budget finding lacks the paper's effect"
grep -q "m1 2-bit vs 3-bit (0.4 vs 0.1, ×4) +0.3 \[+0.281, +0.319\]" "$R" || fail "transition finding not computed"
grep -q "Agrees in 25, disagrees in 0, within noise in 0 of 25" "$R" || fail "tokens finding not computed"
# Controls (issue 15): the transition verdict rests on the recipe-LR QAT rows alone (2 contrasts, not the
# equal-LR or fp-control ones as well) and its sentence reports the controls; quantfn names sign_max/lsq_wide.
grep -q "recipe's LR (≤2-bit at twice the 3-4-bit LR) .*: m1 2-bit vs 3-bit (0.4 vs 0.1, ×4) +0.3 \[+0.281, +0.319\]; m2 2-bit vs 3-bit (0.4 vs 0.1, ×4) +0.3 \[+0.281, +0.319\]. Agrees in 2, disagrees in 0, within noise in 0 of 2" "$R" \
    || fail "transition verdict mixes the control rows"
grep -q "At equal LR (the LR confound removed) the ≤2-bit minus ≥3-bit gap is +0.05 in each of 2" "$R" \
    || fail "transition sentence lacks the equal-LR control"
grep -q "2-bit QAT minus the same fine-tune in full precision: +0.32 in each of 2" "$R" \
    || fail "transition sentence lacks the fp control"
grep -q "sign (mean|W|) vs sign_max (max|W|): m1 +0.1 \[+0.0806, +0.119\]" "$R" || fail "quantfn lacks sign_max"
grep -q "seq/lsq vs lsq_wide: m1 +0.2 \[+0.181, +0.219\]" "$R" || fail "quantfn lacks lsq_wide"
grep -q "^| Fig. 2 | .* | ✅ agrees |" "$R" || fail "summary lacks the budget verdict"
# A task the FP models do not pass above chance is named and left out of the accuracy verdict.
grep -q "^| order | 50.0 | .* | \*\*no: left out of verdicts\*\* |" "$R" || fail "task at chance not reported"
grep -q "Left out of the verdicts: .*(order)" "$R" || fail "accuracy finding uses a task at chance"
# Every finding that does not agree has its "Not reproduced, and why" entry.
grep -q "^## Not reproduced, and why" "$R" || fail "no 'Not reproduced, and why' section"
[ "$(sed -n '/^## Not reproduced/,$p' "$R" | grep -c '^### ')" -eq "$(grep -c '^| .* | \(◐\|❌\|≈\|⚠\)' "$R")" ] \
    || fail "not every unreproduced finding is explained"
grep -q "What it needs: zero-shot tasks passed above chance" "$R" || fail "the pareto entry lacks what it needs"
grep -q "smoke tier" "$R" && fail "a non-smoke report calls itself smoke"

# Determinism (Markdown and HTML).
$PY "$ROOT/plots/report.py" --results "$FIX" --out "$tmp/a" 2>/dev/null && cp "$R" "$tmp/R1" && cp "$tmp/a/report.html" "$tmp/H1"
$PY "$ROOT/plots/report.py" --results "$FIX" --out "$tmp/a" 2>/dev/null
cmp -s "$R" "$tmp/R1" || fail "two report runs differ"
cmp -s "$tmp/a/report.html" "$tmp/H1" || fail "two report.html runs differ"
! grep -qi 'src="http\|href="http\|<link\|@import' "$tmp/a/report.html" || fail "report.html uses external resources"

# Verdicts follow the intervals: the 90% split worse than both extremes => disagrees; intervals that
# straddle zero => within noise; no contrasts at all (an old file) => insufficient data: no intervals.
edit() {  # edit SUITE PYTHON-EXPR-ON-d  (fixture -> $tmp/moved)
    rm -rf "$tmp/moved" && mkdir "$tmp/moved" && cp "$FIX"/*.json "$tmp/moved/"
    $PY - "$FIX/$1.json" "$tmp/moved/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); exec(sys.argv[3]); json.dump(d, open(sys.argv[2], "w"))
PY
    $PY "$ROOT/plots/report.py" --results "$tmp/moved" --out "$tmp/m" 2>/dev/null || fail "report.py failed on edited $1"
}
edit budget 'for c in d["contrasts"]: c["effect"], c["ci95"] = -c["effect"], [-c["ci95"][1], -c["ci95"][0]]'
grep -q "^| Fig. 2 | .* | ❌ disagrees |" "$tmp/m/REPORT.md" || fail "budget verdict ignores the contrasts"
grep -q "Agrees in 0, disagrees in 20, within noise in 0 of 20" "$tmp/m/REPORT.md" || fail "budget counts wrong"
grep -q "^### Fig. 2: " "$tmp/m/REPORT.md" || fail "a disagreeing finding lacks its 'why' entry"
edit budget 'for c in d["contrasts"]: c["ci95"] = [c["effect"] - 1, c["effect"] + 1]'
grep -q "^| Fig. 2 | .* | ≈ within noise |" "$tmp/m/REPORT.md" || fail "intervals across zero not 'within noise'"
edit budget 'del d["contrasts"]'
grep -q "^| Fig. 2 | .* | ⚠ insufficient data |" "$tmp/m/REPORT.md" || fail "no contrasts: a difference was called"
grep -q "insufficient data: no intervals" "$tmp/m/REPORT.md" || fail "no contrasts: not said"
# Moving the budget optimum in the rows alone (no intervals) changes the description, not a verdict.
edit budget 'del d["contrasts"]
for r in d["rows"]:
    r["val_loss"] = 1.0 if r["fp_fraction"] == 0.4 else r["val_loss"]'
grep -q "0 of 10 curves are best between 80% and 95% FP" "$tmp/m/REPORT.md" || fail "point estimates not described"
# Smoke tier: the report opens by saying it cannot test the findings.
rm -rf "$tmp/smoke" && mkdir "$tmp/smoke" && for f in "$FIX"/*.json; do
    sed 's/"tier": "fixture"/"tier": "smoke"/' "$f" >"$tmp/smoke/$(basename "$f")"; done
$PY "$ROOT/plots/report.py" --results "$tmp/smoke" --out "$tmp/s" 2>/dev/null || fail "report.py failed on smoke"
sed -n 3p "$tmp/s/REPORT.md" | grep -q "This is the smoke tier: a CI check .* cannot\|This is the smoke tier: a CI check" \
    || fail "smoke report does not open with its caveat"
grep -q 'class="note">.*smoke tier' "$tmp/s/report.html" || fail "smoke report.html lacks its caveat"
rm -rf "$tmp/moved" && mkdir "$tmp/moved" && cp "$FIX"/*.json "$tmp/moved/"

# Missing suites are reported as not measured; a malformed one makes the exit non-zero.
rm "$tmp/moved/ternary.json"
printf 'not json' >"$tmp/moved/kernels.json"
$PY "$ROOT/plots/report.py" --results "$tmp/moved" --out "$tmp/m" 2>/dev/null && fail "malformed suite: expected exit 1"
grep -q "Not measured:\*\* \`ternary.json\` is missing" "$tmp/m/REPORT.md" || fail "missing suite not reported"
grep -q "Malformed results file:\*\* .*kernels.json" "$tmp/m/REPORT.md" || fail "malformed suite not reported"
echo "plots_report: ok"
