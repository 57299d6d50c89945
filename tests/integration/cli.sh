#!/usr/bin/env bash
# The pq command line: help lists every command, errors are one line with exit code 2.
set -u
PQ=${PQ:-./pq}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
err=$tmp/err

help=$($PQ --help) || fail "pq --help exited non-zero"
for cmd in data pretrain qat ptq eval generate bench suite check info; do
    grep -q "^  $cmd " <<<"$help" || fail "pq --help does not list '$cmd'"
    $PQ $cmd --help >/dev/null || fail "pq $cmd --help exited non-zero"
done

$PQ frobnicate 2>"$err"; rc=$?
[ $rc -eq 2 ] || fail "unknown command: exit $rc, expected 2"
[ "$(wc -l <"$err")" -eq 1 ] || fail "unknown command: error is not one line"
grep -q "frobnicate" "$err" || fail "unknown command: error does not name it"

$PQ bench --no-such-flag 2>"$err"; rc=$?
[ $rc -eq 2 ] || fail "bad flag: exit $rc, expected 2"
[ "$(wc -l <"$err")" -eq 1 ] || fail "bad flag: error is not one line"
grep -q -- "--no-such-flag" "$err" || fail "bad flag: error does not name it"

$PQ >/dev/null 2>&1; [ $? -eq 2 ] || fail "no command: expected exit 2"

# pretrain, qat and ptq share one flag parser (core/cli/train_flags.c): the same one-line errors.
for cmd in pretrain qat ptq; do
    for args in "--no-such-flag 1" "--out" "stray" "--seed x"; do
        $PQ $cmd $args 2>"$err"; rc=$?
        [ $rc -eq 2 ] || fail "pq $cmd $args: exit $rc, expected 2"
        [ "$(wc -l <"$err")" -eq 1 ] || fail "pq $cmd $args: error is not one line"
        grep -q -- "${args%% *}" "$err" || fail "pq $cmd $args: error does not name '${args%% *}'"
    done
done

info=$($PQ info) || fail "pq info failed"
grep -q '"openblas_core"' <<<"$info" || fail "pq info lacks the OpenBLAS core"
grep -q '"code_version"' <<<"$info" || fail "pq info lacks the code version"
echo "cli: ok"
