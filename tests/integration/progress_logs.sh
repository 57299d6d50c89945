#!/usr/bin/env bash
# Logs a person can read: with stderr in a file, long work prints a progress line
# every PQ_PROGRESS_INTERVAL seconds (default 30; shortened here), short work
# prints none, PQ_PROGRESS=0 silences it; a suite reports while a run is still
# running; pq eval prints a table of its metrics.
set -u
. "$(dirname "$0")/lib.sh"
unset PQ_PROGRESS PQ_PROGRESS_INTERVAL

cat > "$tmp/cfg.json" <<'JSON'
{"model": {"dim": 32, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64, "vocab": 258, "ctx": 32},
 "train": {"batch": 4, "lr": 3e-3, "warmup": 2, "seed": 5, "tokens": 32768,
           "eval_interval": 0, "eval_tokens": 1024, "ckpt_interval": 0}}
JSON
pretrain() { $PQ pretrain --config "$tmp/cfg.json" --data synthetic:50000 --out "$tmp/$1"; }

# Training, stderr to a file, a line every 0.05 s.
PQ_PROGRESS_INTERVAL=0.05 pretrain a 2>"$tmp/a.log" || fail "pretrain failed: $(cat "$tmp/a.log")"
grep -Eq '^pretrain  [0-9]+/256 .*tok/s  ETA .*loss' "$tmp/a.log" || fail "no progress line in the log: $(cat "$tmp/a.log")"
grep -q '^pretrain  done in' "$tmp/a.log" || fail "no 'done' line in the log: $(cat "$tmp/a.log")"
grep -q $'\r' "$tmp/a.log" && fail "terminal control characters in the log"
# The default interval (30 s) is longer than this run: only the summary line.
pretrain b 2>"$tmp/b.log" || fail "pretrain failed"
[ "$(wc -l <"$tmp/b.log")" -eq 1 ] || fail "short work wrote progress lines: $(cat "$tmp/b.log")"
PQ_PROGRESS=0 PQ_PROGRESS_INTERVAL=0.05 pretrain c 2>"$tmp/c.log" || fail "pretrain failed"
[ "$(wc -l <"$tmp/c.log")" -eq 1 ] || fail "PQ_PROGRESS=0 did not silence progress: $(cat "$tmp/c.log")"

# pq eval: a table on stdout with the numbers of the results file.
mkdir -p "$tmp/data/tasks"
printf 'pq-bpe 1\nvocab 258\nbos 256\neos 257\nmerges 0\n' > "$tmp/data/tokenizer.bpe"
cat > "$tmp/data/tasks/choice.jsonl" <<'JSON'
{"context": "The opposite of hot is", "choices": ["cold", "warm"], "gold": 0}
{"context": "One, two, three,", "choices": ["four", "seven", "ten", "a hundred"], "gold": 0}
JSON
printf '{"text": "Call me Ishmael."}\n{"text": "It was the best of times."}\n' > "$tmp/data/tasks/prose.jsonl"
$PQ eval --model "$tmp/a/model.ckpt" --tasks choice,prose --data-dir "$tmp/data" --out "$tmp/eval.json" \
    >"$tmp/table.txt" 2>"$tmp/eval.log" || fail "pq eval failed: $(cat "$tmp/eval.log")"
/usr/bin/python3 - "$tmp/eval.json" "$tmp/table.txt" <<'PY' || fail "eval table: $(cat "$tmp/table.txt")"
import json, sys
t = json.load(open(sys.argv[1]))["tasks"]
rows = {l.split()[0]: l.split() for l in open(sys.argv[2]) if l.strip()}
assert rows["task"] == ["task", "items", "acc", "stderr", "acc_norm", "stderr"], rows["task"]
c = t["choice"]
assert rows["choice"] == ["choice", "2", "%.4f" % c["acc"], "%.4f" % c["acc_stderr"], "%.4f" % c["acc_norm"],
                          "%.4f" % c["acc_norm_stderr"]], rows["choice"]
p = t["prose"]
ppl = lambda v: "%.3f" % v if v < 1e5 else "%.3e" % v
assert rows["prose"] == ["prose", "2", str(p["tokens"]), ppl(p["token_perplexity"]), ppl(p["word_perplexity"]),
                         "%.4f" % p["bits_per_byte"]], rows["prose"]
PY

# A suite reports while its first run is still running (it used to wait for a run to end).
$PQ data build --quiet >/dev/null 2>"$tmp/data.log" || fail "pq data build failed: $(cat "$tmp/data.log")"
mkdir -p "$tmp/suites"
cp -r suites/models "$tmp/suites/models"
/usr/bin/python3 - "$tmp/suites/budget.json" <<'PY'
import json, sys
d = json.load(open("suites/budget.json"))
for t in d["tiers"].values():
    t.update({"models": ["tiny"], "total_tokens": 16384, "bits": [2], "fp_fractions": [1.0], "eval_limit": 10})
json.dump(d, open(sys.argv[1], "w"), indent=2)
PY
PQ_PROGRESS_INTERVAL=0.2 $PQ suite run budget --tier smoke --suites "$tmp/suites" --runs-dir "$tmp/runs" \
    --out "$tmp/out" -j 1 2>"$tmp/suite.log" || fail "suite run failed: $(cat "$tmp/suite.log")"
grep -Eq '^suite  0/[0-9]+ .* 1 running' "$tmp/suite.log" || fail "no progress line during the first run: $(cat "$tmp/suite.log")"
grep -q '^suite  done in' "$tmp/suite.log" || fail "no 'done' line from the suite: $(cat "$tmp/suite.log")"
# Each run's log gets its own progress lines (the harness passes the interval on).
cat "$tmp"/runs/pretrain-*/log.txt | grep -Eq '^pretrain  [0-9]+/' || fail "no progress line in the pretrain run's log"
echo "progress_logs: ok"
