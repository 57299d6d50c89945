#!/usr/bin/env bash
# Run locks and killed runs: two pq pretrain on one --out do not both train (the
# second refuses, naming the holder); a stale temporary of a killed writer is
# removed by the next run of its directory; a second pq suite run on the same
# runs directory waits for the first; killing pq suite run (TERM, or KILL) takes
# its child pq processes with it. Synthetic data and the kernels suite: no corpus.
set -u
. "$(dirname "$0")/lib.sh"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
export PQ_PROGRESS=0
wait_for() { # wait_for SECONDS COMMAND...: polls every 0.05 s
    local n=$(($1 * 20))
    shift
    for _ in $(seq $n); do "$@" && return 0; sleep 0.05; done
    return 1
}
children_of() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' '; }
alive() { kill -0 "$1" 2>/dev/null; }
has_children() { [ -n "$(children_of "$1")" ]; }

cat >"$tmp/cfg.json" <<'JSON'
{"model": {"dim": 64, "n_layers": 2, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 128, "vocab": 256, "ctx": 32},
 "train": {"batch": 8, "lr": 3e-3, "warmup": 5, "seed": 3, "tokens": 1000000,
           "eval_interval": 1000, "eval_tokens": 2048, "ckpt_interval": 40}}
JSON

# ---- two pretrain processes, one --out
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:50000 --out "$tmp/run" 2>"$tmp/a.err" &
a=$!
pids+=($a)
wait_for 30 grep -qs "pid $a " "$tmp/run/.lock" || fail "the first pretrain did not take the lock"
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:50000 --out "$tmp/run" 2>"$tmp/b.err"
rc=$?
[ $rc -eq 1 ] || fail "second pretrain on the same --out: exit $rc, expected 1"
[ "$(wc -l <"$tmp/b.err")" -eq 1 ] || { cat "$tmp/b.err"; fail "second pretrain: error is not one line"; }
grep -q "$tmp/run is in use by pid $a (.*pretrain" "$tmp/b.err" || { cat "$tmp/b.err"; fail "the refusal does not name the holder"; }
alive $a || fail "the first pretrain died"
kill -9 $a
wait $a 2>/dev/null

# ---- the next run of the directory removes what a killed writer left (and only that)
sleep 60 &
live=$!
pids+=($live)
touch "$tmp/run/state.ckpt.tmp.$a" "$tmp/run/model.ckpt.tmp.$live"
"$PQ" pretrain --config "$tmp/cfg.json" --data synthetic:50000 --out "$tmp/run" --tokens 2560 2>"$tmp/c.err" &
c=$!
pids+=($c)
wait_for 30 grep -qs "pid $c " "$tmp/run/.lock" || fail "the rerun did not take the lock"
[ ! -e "$tmp/run/state.ckpt.tmp.$a" ] || fail "a dead writer's temporary file was left"
[ -e "$tmp/run/model.ckpt.tmp.$live" ] || fail "a live process's temporary file was removed"
kill -9 $c $live
wait $c $live 2>/dev/null

# ---- pq suite run: a second one on the same runs directory waits; TERM takes the children along
suite() { exec "$PQ" suite run kernels --tier smoke --runs-dir "$tmp/runs" --out "$tmp/out"; }
suite 2>"$tmp/s1.err" &
s1=$!
pids+=($s1)
wait_for 30 has_children $s1 || fail "pq suite run started no child"
child=$(children_of $s1)
suite 2>"$tmp/s2.err" &
s2=$!
pids+=($s2)
wait_for 30 grep -q "is in use by pid $s1 (.*suite run kernels.*waiting" "$tmp/s2.err" ||
    { cat "$tmp/s2.err"; fail "the second suite run did not say it waits for the first"; }
[ -z "$(children_of $s2)" ] || fail "the second suite run started a run while the first holds the lock"
kill -TERM $s1
wait $s1 2>/dev/null
alive "$child" && fail "pq suite run killed with TERM left its child $child running"
# The second one now holds the lock and runs; kill -9 it: its child gets SIGTERM from the kernel.
wait_for 30 has_children $s2 || fail "the waiting suite run did not go on"
child=$(children_of $s2)
kill -KILL $s2
wait $s2 2>/dev/null
wait_for 10 eval "! alive $child" || fail "pq suite run killed with KILL left its child $child running"
echo "run_locks: ok"
