#!/usr/bin/env bash
# Inputs pq must refuse with one line and exit 1, never crash on or trust (issue 14):
# a config whose sizes overflow; a finished run directory asked for another config,
# data or budget. Synthetic tokens: no corpus needed.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
export PQ_PROGRESS=0

# expect_refusal RC WHAT PATTERN... : the last command exited RC with one stderr line matching every PATTERN
expect_refusal() {
    local want=$1 what=$2; shift 2
    [ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want ($(head -c 300 "$tmp/err"))"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$what: error is not one line: $(head -c 600 "$tmp/err")"
    for p in "$@"; do grep -q -- "$p" "$tmp/err" || fail "$what: error lacks '$p': $(cat "$tmp/err")"; done
}

# 1. The config of issue 14 overflowed pq_model_new's size arithmetic (a heap overflow, SIGSEGV).
cat >"$tmp/huge.json" <<'JSON'
{"model": {"dim": 1073741824, "n_layers": 1, "n_heads": 4, "n_kv_heads": 1, "ffn_dim": 536868180, "vocab": 8197, "ctx": 1}, "train": {"batch": 1, "tokens": 100, "eval_tokens": 10, "eval_interval": 0}}
JSON
"$PQ" pretrain --config "$tmp/huge.json" --data synthetic:1000 --out "$tmp/huge-fp" 2>"$tmp/err"; rc=$?
expect_refusal 1 "pretrain with an oversized config" "huge.json" "dim"
"$PQ" qat --from-scratch --config "$tmp/huge.json" --bits 2 --quantizer paretoq --tokens 100 \
    --data synthetic:1000 --out "$tmp/huge-qat" 2>"$tmp/err"; rc=$?
expect_refusal 1 "qat --from-scratch with an oversized config" "huge.json" "dim"

# 2. A finished run directory is checked like a state to resume: the same command has nothing
#    to do (exit 0), another config, data or --tokens is refused naming both values (exit 1).
cat >"$tmp/tiny.json" <<'JSON'
{"model": {"dim": 32, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "ffn_dim": 64, "vocab": 256, "ctx": 16},
 "train": {"batch": 4, "lr": 3e-3, "warmup": 2, "seed": 5, "tokens": 1024, "eval_tokens": 256, "ckpt_interval": 0}}
JSON
sed 's/"lr": 3e-3/"lr": 1e-3/' "$tmp/tiny.json" >"$tmp/tiny-lr.json"
pre() { "$PQ" pretrain --config "$tmp/tiny.json" --out "$tmp/fp" "$@"; }
pre --data synthetic:5000 2>/dev/null || fail "pretrain failed"
pre --data synthetic:5000 2>"$tmp/err"; rc=$?
expect_refusal 0 "pretrain rerun" "nothing to do"
pre --data synthetic:5000 --tokens 2048 2>"$tmp/err"; rc=$?
expect_refusal 1 "pretrain rerun with --tokens" "$tmp/fp" "train.tokens: 1024 recorded, 2048 requested"
pre --data synthetic:6000 2>"$tmp/err"; rc=$?
expect_refusal 1 "pretrain rerun with other data" "train_tokens: \"[0-9a-f]*\" recorded, \"[0-9a-f]*\" requested"
"$PQ" pretrain --config "$tmp/tiny-lr.json" --out "$tmp/fp" --data synthetic:5000 2>"$tmp/err"; rc=$?
expect_refusal 1 "pretrain rerun with another config" "train.lr: 0.003 recorded, 0.001 requested"

qat() { "$PQ" qat --from "$tmp/fp/model.ckpt" --bits 2 --quantizer paretoq --data synthetic:5000 --out "$tmp/qat" "$@"; }
qat --tokens 512 2>/dev/null || fail "qat failed"
qat --tokens 512 2>"$tmp/err"; rc=$?
expect_refusal 0 "qat rerun" "nothing to do"
qat --tokens 1024 2>"$tmp/err"; rc=$?
expect_refusal 1 "qat rerun with --tokens" "train.tokens: 512 recorded, 1024 requested"
"$PQ" qat --from "$tmp/fp/model.ckpt" --bits 3 --quantizer paretoq --data synthetic:5000 --out "$tmp/qat" \
    --tokens 512 2>"$tmp/err"; rc=$?
expect_refusal 1 "qat rerun with --bits" "bits: \"2\" recorded, \"3\" requested"

ptq() { "$PQ" ptq --from "$tmp/fp/model.ckpt" --method rtn --out "$tmp/ptq" "$@"; }
ptq --bits 4 2>/dev/null || fail "ptq failed"
ptq --bits 4 2>"$tmp/err"; rc=$?
expect_refusal 0 "ptq rerun" "nothing to do"
ptq --bits 2 2>"$tmp/err"; rc=$?
expect_refusal 1 "ptq rerun with --bits" "config.bits: \"4\" recorded, \"2\" requested"
ptq --bits 4 --data synthetic:5000 2>"$tmp/err"; rc=$?
expect_refusal 1 "ptq rerun with --data" "config.data"

echo "untrusted_inputs: ok"
