#!/usr/bin/env bash
# The smoke tier end to end: build the data from Debian's archive, run every
# suite, and compare every metric with the committed reference (results/smoke).
# This is the regression check CI runs.
set -u
PQ=${PQ:-./pq}
if [ -n "${PQ_SANITIZED:-}" ]; then
    # Under ASan/UBSan the whole tier takes too long; the same code paths run in
    # harness_resume.sh, pretrain_resume.sh, qat_*.sh and eval_cli.sh.
    echo "smoke_check: skipped in the sanitizer build"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PQ data build --quiet || { echo "FAIL: pq data build" >&2; exit 1; }
$PQ check --tier smoke -j 2 > "$tmp/check.txt"; rc=$?
tail -n 25 "$tmp/check.txt"
[ $rc -eq 0 ] || { echo "FAIL: pq check --tier smoke found regressions (table above)" >&2; exit 1; }
grep -q "0 regressions, 0 missing" "$tmp/check.txt" || { echo "FAIL: unexpected check summary" >&2; exit 1; }

# pq generate speaks through the tokenizer the model was trained with, and
# refuses another one of the same vocabulary (checkpoints record its hash)
work=${PQ_WORK:-work}
ckpt=$(ls "$work"/runs/qat-*/model.ckpt 2>/dev/null | head -n 1)
[ -n "$ckpt" ] || { echo "FAIL: no QAT checkpoint under $work/runs" >&2; exit 1; }
$PQ generate --model "$ckpt" --prompt "The" --max-tokens 2 --temperature 0 >/dev/null 2>&1 ||
    { echo "FAIL: pq generate with the model's own tokenizer" >&2; exit 1; }
other=$tmp/other.bpe
{ head -n -2 "$work/data/tokenizer.bpe"; tail -n 1 "$work/data/tokenizer.bpe"; tail -n 2 "$work/data/tokenizer.bpe" | head -n 1; } > "$other"
if $PQ generate --model "$ckpt" --prompt "The" --tokenizer "$other" --max-tokens 2 >/dev/null 2>"$other.err"; then
    echo "FAIL: pq generate accepted a tokenizer the model was not trained with" >&2; exit 1
fi
grep -q "trained with tokenizer" "$other.err" || { echo "FAIL: unexpected error: $(cat "$other.err")" >&2; exit 1; }
echo "smoke_check: ok"
