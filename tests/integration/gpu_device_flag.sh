#!/usr/bin/env bash
# --device and PQ_DEVICE of pq pretrain: a build without CUDA says so in one line
# (exit 1) and writes nothing; an unknown device or precision is a usage error (exit 2);
# --device cpu (and PQ_DEVICE=cpu) train as before. The GPU path itself is tested by
# `make test-gpu` on a machine with an NVIDIA GPU (CI has none).
set -u
. "$(dirname "$0")/lib.sh"
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

# qat, ptq and eval take --device too (issue 17), and pq bench gpu needs the backend
code() { "$@" >/dev/null 2>"$tmp/err"; echo $?; }
for c in qat ptq eval; do "$PQ" $c --help | grep -q -- '--device' || fail "$c --help does not document --device"; done
qat=(qat --from "$tmp/e/model.ckpt" --bits 2 --quantizer paretoq --tokens 1024 --data synthetic:20000)
ptq=(ptq --from "$tmp/e/model.ckpt" --method rtn --bits 2 --data synthetic:20000)
[ "$(code "$PQ" "${qat[@]}" --out "$tmp/q1" --device tpu)" = 2 ] || fail "qat --device tpu should be a usage error"
[ "$(code "$PQ" "${qat[@]}" --out "$tmp/q2" --precision fp8)" = 2 ] || fail "qat --precision fp8 should be a usage error"
[ "$(code "$PQ" "${ptq[@]}" --out "$tmp/p1" --device tpu)" = 2 ] || fail "ptq --device tpu should be a usage error"
[ "$(code "$PQ" "${qat[@]}" --out "$tmp/q3" --device cpu)" = 0 ] || fail "qat --device cpu failed: $(cat "$tmp/err")"
[ "$(code "$PQ" "${ptq[@]}" --out "$tmp/p2" --device cpu)" = 0 ] || fail "ptq --device cpu failed: $(cat "$tmp/err")"
if grep -q "built without CUDA" <<<"$built"; then
    [ "$(code "$PQ" "${qat[@]}" --out "$tmp/q4" --device cuda)" = 1 ] || fail "qat --device cuda without CUDA should exit 1"
    grep -q "built without CUDA" "$tmp/err" || fail "qat message: $(cat "$tmp/err")"
    [ ! -e "$tmp/q4/state.ckpt" ] || fail "a refused qat run wrote a state"
    [ "$(code "$PQ" "${ptq[@]}" --out "$tmp/p3" --device cuda)" = 1 ] || fail "ptq --device cuda without CUDA should exit 1"
    [ "$(code "$PQ" eval --model "$tmp/e/model.ckpt" --tasks all --out "$tmp/ev.json" --device cuda)" = 1 ] ||
        fail "eval --device cuda without CUDA should exit 1"
    grep -q "built without CUDA" "$tmp/err" || fail "eval message: $(cat "$tmp/err")"
    [ "$(code "$PQ" bench gpu --out "$tmp/bench")" = 1 ] || fail "bench gpu without CUDA should exit 1"
    grep -q "built without CUDA" "$tmp/err" || fail "bench gpu message: $(cat "$tmp/err")"
    [ "$(code "$PQ" bench gpu-kernels --out "$tmp/bench")" = 1 ] || fail "bench gpu-kernels without CUDA should exit 1"
    grep -q "built without CUDA" "$tmp/err" || fail "bench gpu-kernels message: $(cat "$tmp/err")"
    [ ! -e "$tmp/bench/gpu_kernels.json" ] || fail "a refused bench gpu-kernels wrote its file"
fi
[ "$(code "$PQ" bench gpu-kernels --frobnicate)" = 2 ] || fail "bench gpu-kernels --frobnicate should be a usage error"
# --shapes names are checked before any GPU time is spent, on every build
[ "$(code "$PQ" bench gpu --shapes s,xl --out "$tmp/bench")" = 2 ] || fail "bench gpu --shapes s,xl should be a usage error"
grep -q "'xl' is not a benchmark shape" "$tmp/err" || fail "bench gpu --shapes message: $(cat "$tmp/err")"
[ "$(code "$PQ" bench gpu --shapes "" --out "$tmp/bench")" = 2 ] || fail "bench gpu --shapes '' should be a usage error"
[ "$(code "$PQ" bench gpu-kernels --shapes s)" = 2 ] || fail "bench gpu-kernels takes no --shapes"
echo "gpu_device_flag: ok"
