#!/usr/bin/env bash
# Inputs pq must refuse with one line and exit 1, never crash on or trust (issue 14):
# a config whose sizes overflow. Synthetic tokens: no corpus needed.
set -uo pipefail
PQ=${PQ:-./pq}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
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

echo "untrusted_inputs: ok"
