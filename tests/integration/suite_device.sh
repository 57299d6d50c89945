#!/usr/bin/env bash
# pq suite run --device cuda (issue 17): the pretrain, qat, ptq and eval runs get --device cuda
# and other ids (run directories) than the CPU's, so neither device reuses the other's runs;
# the CPU plan (no --device, or --device cpu, or PQ_DEVICE=cpu) is unchanged; an unknown
# device is a usage error. Dry runs only: the plan is the same in a build without CUDA.
set -u
. "$(dirname "$0")/lib.sh"

$PQ data build --quiet >/dev/null || fail "pq data build failed"
mkdir -p "$tmp/suites"
cp -r suites/models "$tmp/suites/models"
/usr/bin/python3 - "$tmp/suites" <<'PY'
import json, sys
d = json.load(open("suites/baselines.json"))
d.pop("contrasts", None)
for t in d["tiers"].values():
    t.pop("seeds", None)
    t.update(models=["tiny"], seed=1, eval_limit=10, tasks=["cloze"])
json.dump(d, open(sys.argv[1] + "/baselines.json", "w"), indent=2)
PY
dry() { PQ_PROGRESS=0 $PQ suite run baselines --tier smoke --suites "$tmp/suites" --runs-dir "$tmp/runs" --dry-run "$@"; }
dry > "$tmp/cpu.txt" 2>&1 || { cat "$tmp/cpu.txt"; fail "cpu dry run failed"; }
dry --device cpu > "$tmp/cpu2.txt" 2>&1 || fail "--device cpu dry run failed"
PQ_DEVICE=cpu dry > "$tmp/cpu3.txt" 2>&1 || fail "PQ_DEVICE=cpu dry run failed"
dry --device cuda > "$tmp/cuda.txt" 2>&1 || { cat "$tmp/cuda.txt"; fail "cuda dry run failed"; }
PQ_DEVICE=cuda dry > "$tmp/cuda2.txt" 2>&1 || fail "PQ_DEVICE=cuda dry run failed"
cmp -s "$tmp/cpu.txt" "$tmp/cpu2.txt" && cmp -s "$tmp/cpu.txt" "$tmp/cpu3.txt" || fail "--device cpu changed the plan"
cmp -s "$tmp/cuda.txt" "$tmp/cuda2.txt" || fail "PQ_DEVICE=cuda and --device cuda planned differently"
! grep -q -- '--device' "$tmp/cpu.txt" || fail "a CPU plan passes --device"
/usr/bin/python3 - "$tmp" <<'PY' || exit 1
import re, sys
t = sys.argv[1]
def cmds(name):
    out = []
    for line in open("%s/%s.txt" % (t, name)):
        if line.startswith("pq suite:"): continue  # the counts and cost summary on stderr
        m = re.search(r" (pretrain|qat|ptq|eval|bench) ", line)
        if m: out.append((m.group(1), line.split()))
    return out
cpu, cuda = cmds("cpu"), cmds("cuda")
assert len(cpu) == len(cuda) and cpu, "plans differ in size: %d vs %d" % (len(cpu), len(cuda))
kinds = {k for k, _ in cuda}
assert {"pretrain", "qat", "eval"} <= kinds, kinds
def outdir(argv): return argv[argv.index("--out") + 1]
cpu_dirs = {outdir(a) for _, a in cpu}
for kind, argv in cuda:
    device = argv[argv.index("--device") + 1] if "--device" in argv else None
    if kind in ("pretrain", "qat", "ptq", "eval"):
        assert device == "cuda", "%s run without --device cuda: %s" % (kind, " ".join(argv))
        assert outdir(argv) not in cpu_dirs, "%s run shares its directory with a CPU run" % kind
    else:
        assert device is None, "%s run got --device" % kind
print("suite_device: %d runs, kinds %s" % (len(cuda), sorted(kinds)))
PY
err=$(dry --device tpu 2>&1 >/dev/null); rc=$?
[ $rc = 2 ] || fail "--device tpu: exit $rc, expected 2"
grep -q "unknown device 'tpu'" <<<"$err" || fail "message: $err"
echo "suite_device: ok"
