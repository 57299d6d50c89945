#!/usr/bin/env bash
# MPI data parallelism (base/dist.h): `mpirun -np 2 pq pretrain|qat` on this machine.
#  - a 2-rank run equals itself bitwise across reruns (fixed-order gradient sums);
#  - killed with SIGKILL mid-run (both ranks) and rerun, it ends bitwise identical;
#  - its loss curve matches the one-process run with the same global batch within
#    a relative 1e-4 (pretrain) / 1e-3 (2-bit QAT, where a latent weight can cross a
#    quantization step) — the same sequences, their gradients summed in another grouping;
#  - only rank 0 writes and reports (also "nothing to do"); the manifest records the world size; a state written
#    by 2 ranks resumes on 1 with a note; commands other than pretrain/qat refuse mpirun.
# Needs Debian's openmpi-bin and a pq built with MPI (make deps; MPI=1 is the default
# where libopenmpi-dev is installed): in CI (CI=true) their absence fails the test.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
PQ=$(cd "$(dirname "$PQ")" && pwd)/$(basename "$PQ")
# the help says how a step is split as the test below exercises it: by sequence, not micro-batch
"$PQ" pretrain --help | tr '\n' ' ' | grep -q "splits every step's batch x grad_accum sequences over K" \
    || fail "pq pretrain --help does not say MPI splits a step's sequences"
missing() {
    if [ "${CI:-}" = true ]; then fail "$1"; fi
    echo "mpi: skipped ($1)"; exit 0
}
# Debian's OpenMPI is not built for the sanitizers (it leaks at MPI_Init by design): the
# sanitized build checks dist.c's arithmetic in the unit tests and the one-process paths.
if [ -n "${PQ_SANITIZED:-}" ]; then echo "mpi: skipped under the sanitizers (plain make test runs it)"; exit 0; fi
command -v mpirun > /dev/null || missing "no mpirun (apt-get install openmpi-bin)"
"$PQ" info | grep -q '"mpi": true' || missing "this pq was built without MPI (make MPI=1 with libopenmpi-dev)"

mp=
# SIGKILL a process and everything under it, leaves first: killing only mpirun can leave its ranks
# running as orphans that finish the run after the test has moved on
kill_tree() { local c; for c in $(pgrep -P "$1"); do kill_tree "$c"; done; kill -9 "$1" 2>/dev/null; }
trap '[ -n "$mp" ] && kill_tree $mp; rm -rf "$tmp"' EXIT
export PQ_PROGRESS=0 PQ_THREADS=1
# one machine: the ranks talk over shared memory, mpirun's own channel stays on the loopback
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo
run2() { mpirun -np 2 --oversubscribe --allow-run-as-root --bind-to none "$PQ" "$@"; }

# grad_accum 3 x batch 4 = 12 sequences a step: 6 per rank, so rank 1 starts inside a
# micro-batch (the split is by sequence, cut where one process cuts micro-batches).
cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 128, "vocab": 256, "ctx": 32},
 "train": {"batch": 4, "grad_accum": 3, "lr": 3e-3, "warmup": 5, "seed": 3, "tokens": 23040,
           "eval_interval": 20, "eval_tokens": 1024, "ckpt_interval": 8}}
JSON
DATA=synthetic:50000

# $1 = a, $2 = b: curves (train loss, grad norm, validation) equal within relative $3
close_curves() {
    python3 - "$1" "$2" "$3" <<'EOF'
import json, sys
a, b = (json.load(open(p))["curve"] for p in sys.argv[1:3])
tol = float(sys.argv[3])
assert a["steps"] == b["steps"], (a["steps"], b["steps"])
pairs = list(zip(a["train_loss"], b["train_loss"])) + list(zip(a["grad_norm"], b["grad_norm"])) \
      + [(x["loss"], y["loss"]) for x, y in zip(a["val"], b["val"])]
worst = max(abs(x - y) / max(abs(x), 1e-12) for x, y in pairs)
print(f"  largest relative difference {worst:.2e} over {len(pairs)} values (tolerance {tol:g})")
sys.exit(0 if worst <= tol else 1)
EOF
}
curve() { sed -n '/^  "curve": {/,/^  },/p' "$1" | grep -v resumed_from; }

# kill both ranks once the run's second checkpoint exists, then rerun: $1 = out dir, rest = command
kill_and_resume() {
    local out=$1 first= killed=0; shift
    run2 "$@" > "$tmp/killed.log" 2>&1 & mp=$!
    for _ in $(seq 1 6000); do
        if [ -f "$out/state.ckpt" ] && [ "$(stat -c %i "$out/state.ckpt")" != "${first:-}" ]; then
            if [ -n "$first" ]; then for c in $(pgrep -P $mp); do kill_tree "$c"; done; killed=1; break; fi
            first=$(stat -c %i "$out/state.ckpt")
        fi
        kill -0 $mp 2>/dev/null || break
        sleep 0.01
    done
    wait $mp 2>/dev/null || true
    mp=
    if [ $killed = 0 ] || [ -f "$out/results.json" ]; then
        killed=0; echo "  note: the run finished before the kill; resume still checked"
    fi
    cp -r "$out" "$tmp/killed-copy"
    run2 "$@" > "$tmp/resume.log" 2>&1 || { cat "$tmp/resume.log"; fail "resume after kill failed"; }
    if [ $killed = 1 ]; then grep -q '"resumed_from": 0' "$out/results.json" && fail "rerun did not resume"; fi
    return 0
}

echo "== pretrain: 1 process, then 2 ranks twice"
"$PQ" pretrain --config "$tmp/cfg.json" --data $DATA --out "$tmp/p1"
run2 pretrain --config "$tmp/cfg.json" --data $DATA --out "$tmp/pa" > "$tmp/pa.log" 2>&1 || { cat "$tmp/pa.log"; fail "2-rank pretrain failed"; }
run2 pretrain --config "$tmp/cfg.json" --data $DATA --out "$tmp/pb" > "$tmp/pb.log" 2>&1 || { cat "$tmp/pb.log"; fail "2-rank pretrain failed"; }
cmp "$tmp/pa/model.ckpt" "$tmp/pb/model.ckpt" || fail "two 2-rank pretrains differ (weights)"
cmp "$tmp/pa/state.ckpt" "$tmp/pb/state.ckpt" || fail "two 2-rank pretrains differ (state)"
[ "$(grep -c 'pq pretrain: .* steps' "$tmp/pa.log")" = 1 ] || fail "expected one report line (rank 0's): $(cat "$tmp/pa.log")"
grep -q '"world_size": 2' "$tmp/pa/results.json" || fail "manifest lacks world_size 2"
[ "$(run2 pretrain --config "$tmp/cfg.json" --data $DATA --out "$tmp/pa" 2>&1 | grep -c 'nothing to do')" = 1 ] \
    || fail "a finished run under mpirun: expected one 'nothing to do' line (rank 0's)"
grep -q '"world_size": 1' "$tmp/p1/results.json" || fail "manifest lacks world_size 1"
cmp -s "$tmp/p1/model.ckpt" "$tmp/pa/model.ckpt" && echo "  (2 ranks equal 1 process bitwise here)"
close_curves "$tmp/p1/results.json" "$tmp/pa/results.json" 1e-4 || fail "2-rank pretrain curve is not the 1-process one"

echo "== pretrain: 2 ranks killed with SIGKILL and rerun"
kill_and_resume "$tmp/pk" pretrain --config "$tmp/cfg.json" --data $DATA --out "$tmp/pk"
cmp "$tmp/pa/model.ckpt" "$tmp/pk/model.ckpt" || fail "weights differ after kill/resume"
cmp "$tmp/pa/state.ckpt" "$tmp/pk/state.ckpt" || fail "state differs after kill/resume"
[ "$(curve "$tmp/pa/results.json")" = "$(curve "$tmp/pk/results.json")" ] || fail "loss curves differ after kill/resume"
# the killed state, resumed by one process: allowed, said, and within tolerance
if [ ! -f "$tmp/killed-copy/results.json" ]; then
    "$PQ" pretrain --config "$tmp/cfg.json" --data $DATA --out "$tmp/killed-copy" 2> "$tmp/k1.log"
    grep -q "written by 2 MPI ranks, resumed on 1" "$tmp/k1.log" || fail "no note on resuming a 2-rank state alone"
    close_curves "$tmp/pa/results.json" "$tmp/killed-copy/results.json" 1e-4 || fail "1-process resume of a 2-rank state drifted"
fi
rm -rf "$tmp/killed-copy"

echo "== qat (2-bit, from the 1-process model): 1 process, then 2 ranks twice, killed and rerun"
Q=(qat --from "$tmp/p1/model.ckpt" --bits 2 --quantizer paretoq --tokens 10240 --data $DATA --batch 4 --grad-accum 2
   --eval-interval 20 --eval-tokens 1024 --ckpt-interval 8)
"$PQ" "${Q[@]}" --out "$tmp/q1" 2> /dev/null
run2 "${Q[@]}" --out "$tmp/qa" > "$tmp/qa.log" 2>&1 || { cat "$tmp/qa.log"; fail "2-rank qat failed"; }
run2 "${Q[@]}" --out "$tmp/qb" > /dev/null 2>&1 || fail "2-rank qat failed"
cmp "$tmp/qa/model.ckpt" "$tmp/qb/model.ckpt" || fail "two 2-rank QAT runs differ (model)"
cmp "$tmp/qa/state.ckpt" "$tmp/qb/state.ckpt" || fail "two 2-rank QAT runs differ (state)"
[ "$(grep -c 'pq qat: .* steps' "$tmp/qa.log")" = 1 ] || fail "expected one qat report line: $(cat "$tmp/qa.log")"
close_curves "$tmp/q1/results.json" "$tmp/qa/results.json" 1e-3 || fail "2-rank QAT curve is not the 1-process one"
kill_and_resume "$tmp/qk" "${Q[@]}" --out "$tmp/qk"
cmp "$tmp/qa/model.ckpt" "$tmp/qk/model.ckpt" || fail "QAT model differs after kill/resume"
cmp "$tmp/qa/state.ckpt" "$tmp/qk/state.ckpt" || fail "QAT state differs after kill/resume"

echo "== other commands refuse to run as several ranks"
set +e
run2 info > "$tmp/info.log" 2>&1; rc=$?
set -e
[ $rc != 0 ] && grep -q "only pq pretrain and pq qat run over MPI ranks" "$tmp/info.log" || fail "pq info under mpirun: rc=$rc $(cat "$tmp/info.log")"
echo "mpi: ok"
