#!/usr/bin/env bash
# The harness's controls (issue 15): the budget suite's FP checkpoints branched from one
# WSD run ("schedule": "wsd"), full-precision control rows ("fp_control": true) in the
# budget, tokens and transition suites, and equal-LR transition rows ("lr_rules").
set -u
. "$(dirname "$0")/lib.sh"

$PQ data build --quiet >/dev/null || fail "pq data build failed"
mkdir -p "$tmp/suites"
cp -r suites/models "$tmp/suites/models"
/usr/bin/python3 - "$tmp/suites" <<'PY'
import json, sys
out = sys.argv[1]
def reduce(name, **kw):
    d = json.load(open("suites/%s.json" % name))
    d.pop("contrasts", None)
    for t in d["tiers"].values():
        t.pop("seeds", None)
        t.update(models=["tiny"], seed=1, eval_limit=10, tasks=["cloze"], **kw)
    json.dump(d, open("%s/%s.json" % (out, name), "w"), indent=2)
reduce("budget", total_tokens=40960, bits=[2], fp_fractions=[0, 0.5, 0.9, 1.0], schedule="wsd", decay_fraction=0.2,
       fp_control=True)
reduce("transition", pretrain_tokens=16384, qat_tokens=4096, bits=[2, 4], lr_rules=["recipe", "equal"], fp_control=True)
reduce("tokens", pretrain_tokens=16384, bits=[2], qat_token_sweep=[0, 4096], fp_control=True)
PY
run() { PQ_PROGRESS=0 $PQ suite run "$@" --tier smoke --suites "$tmp/suites" --runs-dir "$tmp/runs" --out "$tmp/out" -j 2; }

# budget: one WSD run of the whole budget keeps the branch points of 0.5 and 0.9, which branch
run budget --dry-run > "$tmp/dry.txt" 2>&1 || { cat "$tmp/dry.txt"; fail "dry run failed"; }
[ "$(grep -v '^pq suite:' "$tmp/dry.txt" | grep -c ' pretrain ')" = 3 ] || { cat "$tmp/dry.txt"; fail "expected 3 pretraining runs"; }
grep -q -- '--keep-steps 32,58' "$tmp/dry.txt" || { cat "$tmp/dry.txt"; fail "no keep steps (0.5 -> 32, 0.9 -> 58 of 80 steps)"; }
[ "$(grep -c -- '--branch-from' "$tmp/dry.txt")" = 2 ] || fail "expected two branches"
# the cost summary counts a branch's own decay only: 40,960 + (20,480 - 32 x 512) + (36,864 -
# 58 x 512) = 52,224 pretraining tokens; QAT 40,960 from scratch + 20,480 + 4,096 + 0
grep -qx "pq suite:   tiny: 3 pretrain 52K tokens, 4 qat 66K tokens" "$tmp/dry.txt" || { cat "$tmp/dry.txt"; fail "cost summary"; }
run budget 2> "$tmp/b.log" || { cat "$tmp/b.log"; fail "budget suite failed"; }
/usr/bin/python3 - "$tmp" <<'PY' || exit 1
import json, sys, glob
t = sys.argv[1]
rows = json.load(open(t + "/out/smoke/budget.json"))["rows"]
fp = [r for r in rows if r["bits"] == 16]
assert len(fp) == 1 and fp[0]["fp_fraction"] == 1.0 and fp[0].get("val_loss"), fp
branches = [json.load(open(p)) for p in glob.glob(t + "/runs/pretrain-*/results.json")]
assert sorted(b.get("branch", {}).get("at_step", 0) for b in branches) == [0, 32, 58], [b.get("branch") for b in branches]
assert all(b["config"]["train"]["schedule"] == "wsd" for b in branches)
PY

# transition: equal-LR rows (the <=2-bit run at lr/20) and FP controls beside the recipe's
run transition 2> "$tmp/t.log" || { cat "$tmp/t.log"; fail "transition suite failed"; }
/usr/bin/python3 - "$tmp" <<'PY' || exit 1
import json, sys, glob
t = sys.argv[1]
rows = json.load(open(t + "/out/smoke/transition.json"))["rows"]
kinds = {(r["bits"], r["lr_rule"], r["method"]) for r in rows}
want = {(b, rule, m) for b in (2, 4) for rule in ("recipe", "equal") for m in ("qat", "fp_control")}
assert kinds == want, sorted(kinds)
lrs = {}
for p in glob.glob(t + "/runs/qat-*/results.json"):
    r = json.load(open(p))
    if r["from_scratch"] or r["ptq"]: continue  # the budget suite's runs share the directory
    lrs.setdefault((r["quantizer"], r["bits"]), set()).add(round(r["lr"] / r["pretrain_lr"], 6))
assert lrs[("seq", "2")] == {0.1, 0.05}, lrs          # recipe lr/10 and equal lr/20
assert lrs[("lsq", "4")] == {0.05}, lrs               # the same run for both rules
assert lrs[("none", "2")] == {0.1} and lrs[("none", "4")] == {0.05}, lrs  # one control per LR
PY

run tokens 2> "$tmp/k.log" || { cat "$tmp/k.log"; fail "tokens suite failed"; }
grep -q '"fp_control"' "$tmp/out/smoke/tokens.json" || fail "no fp_control rows in tokens"
echo "suite_controls: ok"
