#!/usr/bin/env bash
# bench_memory.sh — peak resident memory per parameter of pq pretrain, qat, ptq (RTN, GPTQ),
# eval and generate, on two model sizes, so that the per-parameter slope separates from
# the fixed cost; writes results/bench/memory.json (make bench-memory, part of make bench).
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
run() { # name size params cmd...: one row "size name params peak_kib planned_mib command"
    local name=$1 size=$2; shift 2
    local cmd="$*"
    /usr/bin/time -f '%M' -o "$tmp/rss" "$@" --max-memory 1T > /dev/null 2> "$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    local planned; planned=$(grep -o 'planned peak [0-9.]* [MG]iB' "$tmp/err" | awk '{print $4=="GiB" ? $3*1024 : $3}')
    printf '%s\t%s\t%s\t%s\t%s\n' "$size" "$name" "$(cat "$tmp/rss")" "${planned:-0}" "${cmd//$tmp/TMP}" >> "$rows"
}
for s in $sizes; do
    IFS=: read -r size dim heads kv ffn <<< "$s"
    cfg="$tmp/$size.json"
    printf '{"name": "mem-%s", "model": {"dim": %d, "n_layers": 8, "n_heads": %d, "n_kv_heads": %d, "ffn_dim": %d, "vocab": 8192, "ctx": 64},\n "train": {"batch": 1, "tokens": 128, "warmup": 1, "eval_interval": 0, "eval_tokens": 64, "ckpt_interval": 0}}\n' \
        "$size" "$dim" "$heads" "$kv" "$ffn" > "$cfg"
    run pretrain "$size" "$PQ" pretrain --config "$cfg" --data synthetic:100000 --out "$tmp/$size-fp"
    run qat "$size" "$PQ" qat --from "$tmp/$size-fp/model.ckpt" --bits 2 --quantizer paretoq --tokens 128 --data synthetic:100000 --out "$tmp/$size-qat"
    run ptq_rtn "$size" "$PQ" ptq --from "$tmp/$size-fp/model.ckpt" --method rtn --bits 2 --out "$tmp/$size-rtn"
    run ptq_gptq "$size" "$PQ" ptq --from "$tmp/$size-fp/model.ckpt" --method gptq --bits 2 --data synthetic:100000 --calib-tokens 256 --eval-tokens 64 --out "$tmp/$size-gptq"
    [ -f "$DATA/tasks/cloze.jsonl" ] && run eval "$size" "$PQ" eval --model "$tmp/$size-qat/model.ckpt" --tasks cloze --limit 10 --data-dir "$DATA" --out "$tmp/$size-eval.json"
    run generate "$size" "$PQ" generate --model "$tmp/$size-qat/model.ckpt" --tokens 1,2,3 --max-tokens 8
    run generate_fp32 "$size" "$PQ" generate --model "$tmp/$size-fp/model.ckpt" --tokens 1,2,3 --max-tokens 8
done
python3 - "$rows" "$OUT/memory.json" "$tmp" <<'PY'
import json, os, platform, subprocess, sys
rows_path, out_path, tmp = sys.argv[1:4]
def params(dim, heads, kv, ffn, layers=8, vocab=8192):
    hd = dim // heads
    return vocab * dim + layers * (dim * (dim + 2 * kv * hd) + dim * dim + 3 * ffn * dim + 2 * dim) + dim
P = {"small": params(256, 8, 2, 704), "large": params(512, 16, 4, 1408)}
rows = [l.rstrip("\n").split("\t") for l in open(rows_path)]
by = {}
for size, name, kib, planned, cmd in rows:
    by.setdefault(name, {})[size] = {"params": P[size], "peak_mib": int(kib) / 1024, "planned_mib": float(planned), "command": cmd}
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
def sh(*a):
    try: return subprocess.run(a, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mem = next((l.split(":", 1)[1].strip() for l in open("/proc/meminfo") if l.startswith("MemTotal")), "")
doc = {"benchmark": "memory",
       "what": "peak resident set (getrusage ru_maxrss of each command's process) on two model sizes; bytes_per_param is the slope between them, fixed_mib the intercept; planned_mib is what --max-memory planned",
       "targets": {"training_bytes_per_param": 16, "ptq_eval_generate_bytes_per_param": 6},
       "commands": commands,
       "machine": {"cpu": cpu, "memory": mem, "nproc": os.cpu_count(), "kernel": platform.release()},
       "git_commit": sh("git", "rev-parse", "HEAD"), "git_dirty": bool(sh("git", "status", "--porcelain", "--untracked-files=no")),
       "rerun": "make bench-memory (tests/bench/memory.sh)"}
tmp_out = out_path + ".tmp"
json.dump(doc, open(tmp_out, "w"), indent=1)
os.replace(tmp_out, out_path)
for name, c in commands.items():
    print(f"{name:14s} {c['bytes_per_param']:6.2f} B/param + {c['fixed_mib']:6.1f} MiB   planned/measured " +
          " ".join(str(r['planned_over_measured']) for r in c['runs'].values()))
PY
