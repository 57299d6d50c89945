#!/usr/bin/env bash
# Scaling of `mpirun -np K pq pretrain` (base/dist.h) on this machine: training tokens/s
# (validation excluded; rank 0's results.json) of the `s` model on synthetic data at
#   K=1 with 1 thread, K=1 with all cores' threads (today's best single process), and
#   K ranks of 1 thread each for K = 2 .. cores,
# each REPEAT times, round robin (the best is reported: a shared machine only ever slows a
# run down),
# plus how far the K-rank loss curve is from the 1-process one. Writes OUT (JSON) with the
# machine, its load average before and after, and the conditions.
#   usage: tests/bench/mpi_scaling.sh [PQ] [OUT] [STEPS] [REPEAT]   (make bench-mpi)
set -euo pipefail
PQ=$(realpath "${1:-./pq}")
OUT=${2:-results/bench/mpi.json}
STEPS=${3:-8}
REPEAT=${4:-2}
command -v mpirun > /dev/null || { echo "mpi_scaling: no mpirun (apt-get install openmpi-bin)" >&2; exit 1; }
"$PQ" info | grep -q '"mpi": true' || { echo "mpi_scaling: $PQ was built without MPI" >&2; exit 1; }
cores=$(nproc)
tmp=$(mktemp -d /tmp/pq-mpi-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export PQ_PROGRESS=0
# one machine: the ranks talk over shared memory, mpirun's own channel stays on the loopback
export OMPI_MCA_btl=self,vader OMPI_MCA_oob_tcp_if_include=lo

# the `s` ladder model, 4 micro-batches of 16 x 256 a step: 16,384 tokens a step
python3 - "$tmp/cfg.json" "$STEPS" <<'EOF'
import json, sys
cfg = json.load(open("suites/models/s.json"))
t = cfg["train"]
t.update(batch=16, grad_accum=4, tokens=16 * 4 * 256 * int(sys.argv[2]), eval_interval=0, eval_tokens=4096,
         ckpt_interval=0, warmup=2)
json.dump({"model": cfg["model"], "train": t}, open(sys.argv[1], "w"))
EOF

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
runs=()
one() { # name ranks threads repeat
    local name=$1 k=$2 th=$3 r=$4 dir
    dir="$tmp/$name-$r"
    if [ "$k" = 1 ]; then
        PQ_THREADS=$th "$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:400000 --out "$dir" 2> /dev/null
    else
        PQ_THREADS=$th mpirun -np "$k" --oversubscribe --allow-run-as-root --bind-to none \
            "$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:400000 --out "$dir" 2> /dev/null
    fi
    echo "  $name run $r: $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['tokens_per_sec']))" "$dir/results.json") tok/s" >&2
    runs+=("$name $k $th $dir/results.json")
}
echo "mpi_scaling: $STEPS steps of 16,384 tokens per run, $REPEAT runs each, $cores cores, load $load_before" >&2
# round robin: a change in the machine's load hits every configuration alike
for r in $(seq 1 "$REPEAT"); do
    one k1_t1 1 1 "$r"
    one "k1_t$cores" 1 "$cores" "$r"
    for k in $(seq 2 "$cores"); do one "k${k}_t1" "$k" 1 "$r"; done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$(dirname "$OUT")"
"$PQ" info > "$tmp/info.json"
python3 - "$OUT" "$tmp/info.json" "$load_before" "$load_after" "$started" "$STEPS" "$REPEAT" "${runs[@]}" <<'EOF'
import json, os, sys
out, info_path, load_before, load_after, started, steps, repeat = sys.argv[1:8]
info = json.load(open(info_path))
by = {}
for row in sys.argv[8:]:
    name, k, th, path = row.split(" ", 3)
    r = json.load(open(path))
    by.setdefault(name, {"ranks": int(k), "threads_per_rank": int(th), "results": []})["results"].append(r)
base = by["k1_t1"]["results"][0]["curve"]
def curve_gap(c):
    pairs = list(zip(base["train_loss"], c["train_loss"])) + list(zip(base["grad_norm"], c["grad_norm"]))
    return max(abs(a - b) / abs(a) for a, b in pairs)
summary = []
for name, e in by.items():
    tps = [r["tokens_per_sec"] for r in e["results"]]
    summary.append({"name": name, "ranks": e["ranks"], "threads_per_rank": e["threads_per_rank"],
                    "cores_used": e["ranks"] * e["threads_per_rank"], "tokens_per_sec_best": round(max(tps)),
                    "tokens_per_sec_runs": [round(t) for t in tps],
                    "curve_max_rel_diff_vs_k1": curve_gap(e["results"][0]["curve"]),
                    "bitwise_equal_reruns": len({json.dumps(r["curve"]) for r in e["results"]}) == 1})
t1 = next(s for s in summary if s["name"] == "k1_t1")["tokens_per_sec_best"]
for s in summary: s["speedup_vs_k1_t1"] = round(s["tokens_per_sec_best"] / t1, 3)
m = by["k1_t1"]["results"][0]
doc = {
    "what": "mpirun -np K pq pretrain: training tokens/s (validation excluded, rank 0's results.json) of the s model "
            "(6 x 192, 3.9M params) on synthetic data, batch 16 x grad_accum 4 x 256 tokens = 16,384 tokens a step, "
            f"{steps} steps a run, best of {repeat} runs; K ranks of 1 thread (PQ_THREADS=1) against one process "
            "with 1 thread and with one thread per core",
    "command": f"make bench-mpi   (bash tests/bench/mpi_scaling.sh PQ OUT {steps} {repeat})",
    "conditions": ("the load averages below include the benchmark's own processes (K ranks or threads keep "
                   "the cores busy; load_before is what ran beside it); ranks over shared memory (OpenMPI vader), "
                   "--oversubscribe --bind-to none"),
    "started_utc": started,
    "load_average_before": load_before, "load_average_after": load_after,
    "machine": info["machine"], "mpi": m["manifest"].get("mpi") or next(
        (r["manifest"].get("mpi") for e in by.values() for r in e["results"] if r["manifest"].get("mpi")), None),
    "code_version": info["code_version"],
    "summary": summary,
}
load_max = max(float(x) for x in (load_before + " " + load_after).split())
if load_max > info["machine"]["cores"]:
    doc["caveat"] = (f"the load average reached {load_max:g} on {info['machine']['cores']} cores: every process got a "
                     "fraction of a core and waited for the scheduler at every synchronisation (K ranks meet at each "
                     "step's all-reduce, 2 threads at every parallel loop), so these numbers say little about scaling "
                     "on an idle machine: rerun make bench-mpi there")
tmp = out + ".tmp"
with open(tmp, "w") as f: json.dump(doc, f, indent=2, sort_keys=True); f.write("\n")
os.replace(tmp, out)
for s in summary:
    print(f"{s['name']:8s} {s['tokens_per_sec_best']:7d} tok/s  x{s['speedup_vs_k1_t1']:.2f}  "
          f"curve vs K=1: {s['curve_max_rel_diff_vs_k1']:.1e}")
print("->", out)
EOF
