#!/usr/bin/env bash
# The pq command line: help lists every command, errors are one line with exit code 2.
set -u
. "$(dirname "$0")/lib.sh"
err=$tmp/err

help=$($PQ --help) || fail "pq --help exited non-zero"
for cmd in data pretrain qat ptq eval generate tokenize bench suite check info; do
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

# Out-of-range and malformed flag values are usage errors too (cli.h: pq_parse_int_in and
# pq_parse_double_in), checked before any file is read: every numeric flag of every command.
# (cmd:sub runs "pq cmd sub")
while read -r cmd flag value; do
    $PQ ${cmd//:/ } $flag $value 2>"$err"; rc=$?
    [ $rc -eq 2 ] || fail "pq $cmd $flag $value: exit $rc, expected 2"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "pq $cmd $flag $value: error is not one line"
    grep -q -- "$flag" "$err" || fail "pq $cmd $flag $value: error does not name $flag"
done <<'CASES'
pretrain --tokens -1
pretrain --tokens 1.5
qat --tokens -1
qat --batch -3
qat --batch 0
qat --batch 1.5
qat --batch 3000000000
qat --seq-len 0
qat --lr -1
qat --lr 0
qat --lr nan
qat --lr inf
qat --min-lr-ratio 2
qat --grad-accum 0
qat --seed -1
qat --seed 0x10
qat --warmup -1
qat --eval-interval -1
qat --eval-tokens -5
qat --ckpt-interval -1
ptq --seq-len 0
ptq --calib-tokens 0
ptq --block 0
ptq --seed -2
ptq --eval-tokens 0
ptq --damp -0.1
ptq --damp nan
generate --max-tokens -1
generate --temperature -1
generate --temperature nan
generate --top-k -1
generate --seed -1
eval --limit 0
data:build --vocab 4294967596
data:build --vocab 258
data:build --seed -1
suite:run -j -1
suite:run --jobs 0
CASES
$PQ suite run -j0 2>"$err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "-j must be a positive integer" "$err" || fail "pq suite run -j0: exit $rc, $(cat "$err")"

# --tier: the usage lists every tier the suite files define, and an unknown one is a
# one-line usage error naming it and listing them (pq check shares the parsing)
tiers=$(python3 -c 'import glob, json
seen = []
for f in sorted(glob.glob("suites/*.json")):
    for t in json.load(open(f)).get("tiers", {}):
        if t not in seen: seen.append(t)
print(" ".join(seen))')
[ -n "$tiers" ] || fail "no tiers found in suites/*.json"
usage_tiers=$($PQ suite --help | grep -- '--tier T  ')
for t in $tiers; do grep -qw "$t" <<<"$usage_tiers" || fail "pq suite --help: '--tier' does not list '$t' ($usage_tiers)"; done
for cmd in "suite run all" check; do
    $PQ $cmd --tier huge 2>"$err"; rc=$?
    [ $rc -eq 2 ] || fail "pq $cmd --tier huge: exit $rc, expected 2"
    [ "$(wc -l <"$err")" -eq 1 ] || fail "pq $cmd --tier huge: error is not one line"
    grep -q "unknown tier 'huge'" "$err" || fail "pq $cmd --tier huge: error does not name the tier: $(cat "$err")"
    for t in $tiers; do grep -qw "$t" "$err" || fail "pq $cmd --tier huge: error does not list '$t': $(cat "$err")"; done
done

info=$($PQ info) || fail "pq info failed"
grep -q '"openblas_core"' <<<"$info" || fail "pq info lacks the OpenBLAS core"
grep -q '"code_version"' <<<"$info" || fail "pq info lacks the code version"
echo "cli: ok"
