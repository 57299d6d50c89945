#!/usr/bin/env bash
# bench_memory.sh — peak resident memory per parameter of pq pretrain, qat, ptq (RTN, GPTQ),
# eval and generate, on two model sizes, so that the per-parameter slope separates from
# the fixed cost; writes results/bench/memory.json (make bench-memory, part of make bench).
# Training also runs with --recompute, and both ways on micro-batches of 4 x 256 tokens,
# where every layer's activations (attention probabilities above all) outweigh the model;
# then the price of recomputing: the same short pretrain with and without it on one
# thread, in alternating runs (3 pairs; each pair's ratio, so that a load that changes over
# the runs counts less): tokens/s of its steps, and the CPU seconds of the process less
# those of the same command with --tokens 0 (setup, validation, checkpoints: no step),
# which a loaded machine disturbs less than the wall clock.
#
# Each command runs as its own process under /usr/bin/time (its getrusage ru_maxrss: the
# child's peak resident set) with --max-memory 1T, so that it also prints the peak it
# planned (cli/mem_plan.h); the JSON keeps both and their ratio. Runs are tiny (2 steps of
# one 64-token sequence): memory does not depend on run length.
#   usage: tests/bench/memory.sh [OUT_DIR]     (PQ=path/to/pq; default ./pq)
set -euo pipefail
PQ=${PQ:-./pq}
OUT=${1:-results/bench}
DATA=${PQ_WORK:-work}/data
tmp=$(mktemp -d /tmp/pq-bench-memory.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$OUT"
# Two widths of the same 8-layer MobileLLM-like shape (head dim 32): 7.8M and 26.7M parameters.
sizes="small:256:8:2:704 large:512:16:4:1408"
rows="$tmp/rows.tsv"
: > "$rows"
run() { # name size cmd...: one row "size name peak_kib planned_mib planned_activations_mib command"
    local name=$1 size=$2; shift 2
    local cmd="$*"
    /usr/bin/time -f '%M' -o "$tmp/rss" "$@" --max-memory 1T > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    local planned acts
    planned=$(grep -o 'planned peak [0-9.]* [MG]iB' "$tmp/err" | awk '{print $4=="GiB" ? $3*1024 : $3}')
    acts=$(grep -o 'activations[ (a-z)]* [0-9.]*' "$tmp/err" | awk '{print $NF}' | head -1 || true) # none in generate
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$name" "$(cat "$tmp/rss")" "${planned:-0}" "${acts:-}" "${cmd//$tmp/TMP}" >> "$rows"
}
speed() { # results.json: its tokens_per_sec (0 when it ran no step)
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens_per_sec"] or 0)' "$1"
}
for s in $sizes; do
    IFS=: read -r size dim heads kv ffn <<< "$s"
    cfg="$tmp/$size.json"
    printf '{"name": "mem-%s", "model": {"dim": %d, "n_layers": 8, "n_heads": %d, "n_kv_heads": %d, "ffn_dim": %d, "vocab": 8192, "ctx": 64},\n "train": {"batch": 1, "tokens": 128, "warmup": 1, "eval_interval": 0, "eval_tokens": 64, "ckpt_interval": 0}}\n' \
        "$size" "$dim" "$heads" "$kv" "$ffn" > "$cfg"
    # the same model on 4 x 256-token micro-batches (the parameters do not depend on ctx)
    sed -e 's/"ctx": 64/"ctx": 256/' -e 's/"batch": 1, "tokens": 128/"batch": 4, "tokens": 2048/' "$cfg" > "$tmp/$size-4x256.json"
    run pretrain "$size" "$PQ" pretrain --config "$cfg" --data synthetic:100000 --out "$tmp/$size-fp"
    run pretrain_recompute "$size" "$PQ" pretrain --config "$cfg" --data synthetic:100000 --out "$tmp/$size-fp-rc" --recompute
    run pretrain_4x256 "$size" "$PQ" pretrain --config "$tmp/$size-4x256.json" --data synthetic:100000 --out "$tmp/$size-fp-4x256"
    run pretrain_4x256_recompute "$size" "$PQ" pretrain --config "$tmp/$size-4x256.json" --data synthetic:100000 --out "$tmp/$size-fp-4x256-rc" --recompute
    run qat "$size" "$PQ" qat --from "$tmp/$size-fp/model.ckpt" --bits 2 --quantizer paretoq --tokens 128 --data synthetic:100000 --out "$tmp/$size-qat"
    run qat_recompute "$size" "$PQ" qat --from "$tmp/$size-fp/model.ckpt" --bits 2 --quantizer paretoq --tokens 128 --data synthetic:100000 --out "$tmp/$size-qat-rc" --recompute
    run ptq_rtn "$size" "$PQ" ptq --from "$tmp/$size-fp/model.ckpt" --method rtn --bits 2 --out "$tmp/$size-rtn"
    run ptq_gptq "$size" "$PQ" ptq --from "$tmp/$size-fp/model.ckpt" --method gptq --bits 2 --data synthetic:100000 --calib-tokens 256 --eval-tokens 64 --out "$tmp/$size-gptq"
    [ -f "$DATA/tasks/cloze.jsonl" ] && run eval "$size" "$PQ" eval --model "$tmp/$size-qat/model.ckpt" --tasks cloze --limit 10 --data-dir "$DATA" --out "$tmp/$size-eval.json"
    run generate "$size" "$PQ" generate --model "$tmp/$size-qat/model.ckpt" --tokens 1,2,3 --max-tokens 8
    run generate_fp32 "$size" "$PQ" generate --model "$tmp/$size-fp/model.ckpt" --tokens 1,2,3 --max-tokens 8
done
# the price of recomputing: 16 steps of 4 x 256 tokens on the large model, alternating
speeds="$tmp/speeds.tsv"
: > "$speeds"
sed 's/"tokens": 2048/"tokens": 16384/' "$tmp/large-4x256.json" > "$tmp/speed.json"
timed() { # mode out flags...: one row "mode tokens_per_s cpu_seconds"
    local mode=$1 out=$2; shift 2
    PQ_THREADS=1 /usr/bin/time -f '%U %S' -o "$tmp/cpu" "$PQ" pretrain --config "$tmp/speed.json" --data synthetic:100000 \
        --out "$out" "$@" 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    printf '%s\t%s\t%s\n' "$mode" "$(speed "$out/results.json")" "$(awk '{print $1 + $2}' "$tmp/cpu")" >> "$speeds"
}
timed setup "$tmp/speed-setup" --tokens 0
for i in 1 2 3; do
    timed kept "$tmp/speed-kept-$i"
    timed recomputed "$tmp/speed-recomputed-$i" --recompute
done
python3 - "$rows" "$OUT/memory.json" "$tmp" "$speeds" <<'PY'
import json, os, platform, statistics, subprocess, sys
rows_path, out_path, tmp, speeds_path = sys.argv[1:5]
def params(dim, heads, kv, ffn, layers=8, vocab=8192):
    hd = dim // heads
    return vocab * dim + layers * (dim * (dim + 2 * kv * hd) + dim * dim + 3 * ffn * dim + 2 * dim) + dim
P = {"small": params(256, 8, 2, 704), "large": params(512, 16, 4, 1408)}
rows = [l.rstrip("\n").split("\t") for l in open(rows_path)]
by = {}
for size, name, kib, planned, acts, cmd in rows:
    by.setdefault(name, {})[size] = {"params": P[size], "peak_mib": int(kib) / 1024, "planned_mib": float(planned), "command": cmd}
    if acts: by[name][size]["planned_activations_mib"] = float(acts)
commands = {}
for name, d in by.items():
    if set(d) != {"small", "large"}: continue
    s, l = d["small"], d["large"]
    slope = (l["peak_mib"] - s["peak_mib"]) * 2**20 / (l["params"] - s["params"])
    fixed = s["peak_mib"] - slope * s["params"] / 2**20
    for r in (s, l):
        r["bytes_per_param_total"] = round(r["peak_mib"] * 2**20 / r["params"], 2)
        r["planned_over_measured"] = round(r["planned_mib"] / r["peak_mib"], 3) if r["planned_mib"] else None
        r["peak_mib"] = round(r["peak_mib"], 1)
    commands[name] = {"bytes_per_param": round(slope, 2), "fixed_mib": round(fixed, 1), "runs": d}
speed, cpu = {"setup": [], "kept": [], "recomputed": []}, {"setup": [], "kept": [], "recomputed": []}
for line in open(speeds_path):
    mode, tps, sec = line.split()
    speed[mode].append(float(tps)), cpu[mode].append(float(sec))
setup = cpu["setup"][0]
ratios = [r / k for k, r in zip(speed["kept"], speed["recomputed"])]
cpu_ratios = [(r - setup) / (k - setup) for k, r in zip(cpu["kept"], cpu["recomputed"])]
recompute_cost = {"what": "pq pretrain of the large model on 4 x 256-token micro-batches, 16 steps, PQ_THREADS=1, 3 alternating "
                          "pairs of runs without and with --recompute. tokens/s of the steps (validation excluded) and each "
                          "pair's ratio (recomputed / kept); CPU seconds of each process (user + sys) less those of --tokens 0 "
                          "(setup_cpu_seconds) and each pair's ratio (recomputed / kept: the extra arithmetic)",
                  "tokens_per_s_kept": [round(v, 1) for v in speed["kept"]],
                  "tokens_per_s_recomputed": [round(v, 1) for v in speed["recomputed"]],
                  "tokens_per_s_ratios": [round(r, 3) for r in ratios], "tokens_per_s_median_ratio": round(statistics.median(ratios), 3),
                  "setup_cpu_seconds": setup, "cpu_seconds_kept": cpu["kept"], "cpu_seconds_recomputed": cpu["recomputed"],
                  "cpu_ratios": [round(r, 3) for r in cpu_ratios], "cpu_median_ratio": round(statistics.median(cpu_ratios), 3),
                  "loadavg_at_end": open("/proc/loadavg").read().split()[:3]}
def sh(*a):
    try: return subprocess.run(a, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mem = next((l.split(":", 1)[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal")), "")
doc = {"benchmark": "memory",
       "what": "peak resident set (getrusage ru_maxrss of each command's process) on two model sizes; bytes_per_param is the slope between them, fixed_mib the intercept; planned_mib is what --max-memory planned, planned_activations_mib the activations in that plan; *_recompute: with --recompute; *_4x256: micro-batches of 4 x 256 tokens instead of 1 x 64",
       "targets": {"training_bytes_per_param": 16, "ptq_eval_generate_bytes_per_param": 6},
       "commands": commands,
       "recompute_cost": recompute_cost,
       "machine": {"cpu": cpu, "memory": mem, "nproc": os.cpu_count(), "kernel": platform.release()},
       "git_commit": sh("git", "rev-parse", "HEAD"), "git_dirty": bool(sh("git", "status", "--porcelain", "--untracked-files=no")),
       "rerun": "make bench-memory (tests/bench/memory.sh)"}
tmp_out = out_path + ".tmp"
json.dump(doc, open(tmp_out, "w"), indent=1)
os.replace(tmp_out, out_path)
for name, c in commands.items():
    print(f"{name:26s} {c['bytes_per_param']:6.2f} B/param + {c['fixed_mib']:6.1f} MiB   planned/measured " +
          " ".join(str(r['planned_over_measured']) for r in c['runs'].values()))
print(f"recompute: tokens/s x{recompute_cost['tokens_per_s_median_ratio']} (pairs {recompute_cost['tokens_per_s_ratios']}), "
      f"CPU seconds of the steps x{recompute_cost['cpu_median_ratio']} (pairs {recompute_cost['cpu_ratios']})")
PY
