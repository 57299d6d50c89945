#!/usr/bin/env bash
# --device and PQ_DEVICE of pq pretrain: a build without CUDA says so in one line
# (exit 1) and writes nothing; an unknown device or precision is a usage error (exit 2);
# --device cpu (and PQ_DEVICE=cpu) train as before. The GPU path itself is tested by
# `make test-gpu` on a machine with an NVIDIA GPU (CI has none).
set -u
PQ=${PQ:-./pq}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cfg=suites/models/tiny.json
run() { "$PQ" pretrain --config $cfg --data synthetic:20000 --tokens 2048 "$@" >/dev/null 2>"$tmp/err"; echo $?; }

if "$PQ" pretrain --help | grep -q -- '--device'; then :; else fail "pretrain --help does not document --device"; fi
built=$(PQ_DEVICE=cuda "$PQ" pretrain --config $cfg --data synthetic:20000 --tokens 2048 --out "$tmp/probe" 2>&1 >/dev/null)
if ! grep -q "built without CUDA" <<<"$built"; then
    echo "gpu_device_flag: this pq has the CUDA backend; the no-CUDA checks are skipped"
else
    [ "$(run --out "$tmp/a" --device cuda)" = 1 ] || fail "--device cuda without CUDA should exit 1"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "expected one line, got: $(cat "$tmp/err")"
    grep -q "built without CUDA: rebuild with make CUDA=1" "$tmp/err" || fail "message: $(cat "$tmp/err")"
    [ ! -e "$tmp/a/state.ckpt" ] || fail "a refused run wrote a state"
    [ "$(PQ_DEVICE=cuda run --out "$tmp/b")" = 1 ] || fail "PQ_DEVICE=cuda without CUDA should exit 1"
    grep -q "built without CUDA" "$tmp/err" || fail "PQ_DEVICE message: $(cat "$tmp/err")"
fi
[ "$(run --out "$tmp/c" --device tpu)" = 2 ] || fail "--device tpu should be a usage error"
grep -q "unknown device 'tpu'" "$tmp/err" || fail "message: $(cat "$tmp/err")"
[ "$(run --out "$tmp/d" --precision fp8)" = 2 ] || fail "--precision fp8 should be a usage error"
[ "$(run --out "$tmp/e" --device cpu)" = 0 ] || fail "--device cpu failed: $(cat "$tmp/err")"
[ "$(PQ_DEVICE=cpu run --out "$tmp/f")" = 0 ] || fail "PQ_DEVICE=cpu failed: $(cat "$tmp/err")"
cmp -s "$tmp/e/model.ckpt" "$tmp/f/model.ckpt" || fail "--device cpu and PQ_DEVICE=cpu trained different weights"
echo "gpu_device_flag: ok"
