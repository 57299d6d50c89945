#!/usr/bin/env bash
# plots/: every figure and table is produced from the test fixtures, output is byte-identical across
# runs, missing suites are skipped, malformed files fail naming the file and field.
# The fixtures (tests/fixtures/plots/results) are invented numbers for tests only.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
FIX=$ROOT/tests/fixtures/plots/results
. "$(dirname "$0")/lib.sh"

$PY -c 'import matplotlib' 2>/dev/null || fail "python3-matplotlib is not installed (run make deps)"
make_all() { $PY "$ROOT/plots/make_all.py" "$@"; }

FIGS="fig1_pareto fig2_budget fig3_tokens fig4_transition fig5_grids fig6_quantfn fig7c_speed fig8_ternary
      fig9_baselines kernels"
TABLES="table_pareto_tasks table2_ternary table1_baselines table_kernels"

make_all --results "$FIX" --out "$tmp/a" 2>"$tmp/log" || { cat "$tmp/log"; fail "make_all.py failed on the fixtures"; }
for f in $FIGS; do
    [ "$(head -c 8 "$tmp/a/figures/$f.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] || fail "$f.png missing or not a PNG"
    [ "$(head -c 5 "$tmp/a/figures/$f.pdf")" = "%PDF-" ] || fail "$f.pdf missing or not a PDF"
    ! grep -aq "CreationDate" "$tmp/a/figures/$f.pdf" || fail "$f.pdf carries a creation date"
done
for t in $TABLES; do
    grep -q "^| " "$tmp/a/tables/$t.md" || fail "$t.md missing or has no table"
    grep -q '\\begin{tabular}' "$tmp/a/tables/$t.tex" || fail "$t.tex missing or has no tabular"
done
n=$(ls "$tmp/a/figures" "$tmp/a/tables" | grep -c '\.\(png\|pdf\|md\|tex\)$')
[ "$n" -eq 28 ] || fail "expected 28 output files, found $n"
ls -a "$tmp/a/figures" | grep -q '^\.tmp' && fail "temporary files left behind"
# Caption line: tier and abbreviated run ids (first 8 hex digits of a stored id) are in the table captions.
id=$($PY -c 'import json,sys; print(min(i for r in json.load(open(sys.argv[1]))["rows"] for i in r["run_ids"])[:8])' \
     "$FIX/pareto.json")
grep -q "tier fixture" "$tmp/a/tables/table_pareto_tasks.md" || fail "table caption lacks the tier"
grep -q "$id" "$tmp/a/tables/table_pareto_tasks.md" || fail "table caption lacks the run ids"
# The per-task table shows the stored value with its standard error, in percent.
grep -q "| m1 | 2 | paretoq | 1.50 | 31.5 ± 1.2 |" "$tmp/a/tables/table_pareto_tasks.md" || fail "per-task table row wrong"

# Rows of unfinished runs (flagged "incomplete" by the harness, without their parameters) are
# left out and counted in the caption.
grep -q "1 row from unfinished runs" "$tmp/a/tables/table_kernels.md" || fail "unfinished rows not reported"

# Control rows (issue 15) are references, not points of the sweep: fig4's violins take QAT rows of one
# LR rule only; fig2's optimum and points ignore the 16-bit full-budget control; fig3 draws fp_control
# as its own style; the legends name the controls.
PYTHONPATH=$ROOT/plots $PY - "$FIX" <<'PY' || fail "control rows mixed into a sweep"
import sys, pqplot as P, fig_transition as F
s = P.load(sys.argv[1] + "/transition.json", "transition")
rec, eq = F.values(s, "m1", 2, "recipe", False), F.values(s, "m1", 2, "equal", False)
ctl = F.values(s, "m1", 2, "recipe", True)
assert len(rec) == len(eq) == len(ctl) == 21, (len(rec), len(eq), len(ctl))
assert min(v for v, _ in rec) > 0.3 and max(v for v, _ in eq) < 0.2 and max(v for v, _ in ctl) < 0.1
PY

# Determinism: a second run gives byte-identical files.
make_all --results "$FIX" --out "$tmp/b" 2>/dev/null || fail "second run failed"
diff -r "$tmp/a" "$tmp/b" >/dev/null || fail "two runs differ: $(diff -rq "$tmp/a" "$tmp/b" | head -3)"

# One script alone.
$PY "$ROOT/plots/fig_budget.py" --results "$FIX" --out "$tmp/one" 2>/dev/null || fail "fig_budget.py alone failed"
cmp -s "$tmp/one/figures/fig2_budget.png" "$tmp/a/figures/fig2_budget.png" || fail "fig_budget.py alone differs"

# A missing suite is named and skipped; the rest render; exit 0.
mkdir "$tmp/partial" && cp "$FIX"/*.json "$tmp/partial/" && rm "$tmp/partial/speed.json"
make_all --results "$tmp/partial" --out "$tmp/p" 2>"$tmp/log" || fail "a missing suite made make_all fail"
grep -q "speed.json missing" "$tmp/log" || fail "missing suite not reported"
[ ! -e "$tmp/p/figures/fig7c_speed.png" ] || fail "figure drawn for a missing suite"
[ -e "$tmp/p/figures/fig1_pareto.png" ] || fail "other suites not drawn when one is missing"

# No suite at all: exit 1.
mkdir "$tmp/empty"
make_all --results "$tmp/empty" --out "$tmp/e" 2>"$tmp/log" && fail "no suites: expected a non-zero exit"
grep -q "no suite results" "$tmp/log" || fail "no suites: unclear message"

# Malformed: invalid JSON (named with its line), and a row lacking a field (named) => exit 1,
# while the good suites are still drawn.
mkdir "$tmp/bad" && cp "$FIX"/*.json "$tmp/bad/"
printf '{"suite": "budget", "rows": [\n  {"model": "m1",\n' >"$tmp/bad/budget.json"
make_all --results "$tmp/bad" --out "$tmp/x" 2>"$tmp/log" && fail "malformed JSON: expected a non-zero exit"
grep -q "budget.json: line [0-9]* column [0-9]*: invalid JSON" "$tmp/log" || fail "malformed JSON not named: $(cat "$tmp/log")"
[ -e "$tmp/x/figures/fig1_pareto.png" ] || fail "good suites not drawn next to a malformed one"
$PY - "$FIX/tokens.json" "$tmp/bad/tokens.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); del d["rows"][3]["init"]; json.dump(d, open(sys.argv[2], "w"))
PY
make_all --results "$tmp/bad" --out "$tmp/x" 2>"$tmp/log" && fail "row without a field: expected a non-zero exit"
grep -q "tokens.json: rows\[3\] lacks the field 'init'" "$tmp/log" || fail "missing field not named: $(cat "$tmp/log")"
$PY - "$FIX/pareto.json" "$tmp/bad/pareto.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["rows"][0]["acc_avg"] = "high"; json.dump(d, open(sys.argv[2], "w"))
PY
make_all --results "$tmp/bad" --out "$tmp/x" 2>"$tmp/log"
grep -q "pareto.json: rows\[0\]: field 'acc_avg' is 'high', expected a number or null" "$tmp/log" \
    || fail "non-numeric metric not named: $(cat "$tmp/log")"
echo "plots_figures: ok"
