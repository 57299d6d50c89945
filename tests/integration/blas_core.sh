#!/usr/bin/env bash
# OpenBLAS kernel choice: when OpenBLAS detects a kernel without AVX2 (it falls
# back to Prescott on CPUs it does not know), pq forces SkylakeX or Haswell from
# the CPU's flags, records detected/chosen/why and says so once on stderr.
# PQ_BLAS_TEST_DETECTED pretends OpenBLAS detected that kernel (this CPU is known).
set -u
. "$(dirname "$0")/lib.sh"
choice() { /usr/bin/python3 -c 'import json,sys; l=json.load(open(sys.argv[1]))["libraries"]; c=l["openblas_core_choice"]
print(l["openblas_core"], c["detected"], c["chosen"])' "$1"; }

flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { for f in "$@"; do grep -qw "$f" <<<"$flags" || return 1; done; }
if has avx512f avx512bw avx512vl avx512dq avx512cd avx2 fma; then want=SkylakeX
elif has avx2 fma; then want=Haswell
else want=; fi

# Whether or not the environment already sets OPENBLAS_CORETYPE (this workplace does).
for preset in "" Haswell; do
    if [ -n "$preset" ]; then export OPENBLAS_CORETYPE=$preset; else unset OPENBLAS_CORETYPE; fi
    PQ_BLAS_TEST_DETECTED=Prescott $PQ info >"$tmp/info.json" 2>"$tmp/err" || fail "pq info failed: $(cat "$tmp/err")"
    got=$(choice "$tmp/info.json")
    if [ -n "$want" ]; then
        [ "$got" = "$want Prescott $want" ] || fail "Prescott on this CPU (preset '$preset'): got '$got', expected '$want Prescott $want'"
        [ "$(grep -c "pq: note: OpenBLAS detected Prescott.*pq chose $want" "$tmp/err")" = 1 ] ||
            fail "the override is not said once on stderr: $(cat "$tmp/err")"
    else
        [ "$got" = "Prescott Prescott Prescott" ] || fail "no AVX2 here, Prescott should stay: got '$got'"
    fi
    # Nothing overridden: nothing said, OpenBLAS's detection recorded.
    $PQ info >"$tmp/info.json" 2>"$tmp/err" || fail "pq info failed"
    [ ! -s "$tmp/err" ] || fail "pq info without an override wrote to stderr: $(cat "$tmp/err")"
    read -r core detected chosen <<<"$(choice "$tmp/info.json")"
    [ "$core" = "$detected" ] && [ "$core" = "$chosen" ] || fail "plain detection recorded as '$core $detected $chosen'"
done
unset OPENBLAS_CORETYPE

# PQ_BLAS_CORE forces a kernel and wins over the correction.
PQ_BLAS_CORE=Haswell PQ_BLAS_TEST_DETECTED=Prescott $PQ info >"$tmp/info.json" 2>"$tmp/err"
[ "$(choice "$tmp/info.json")" = "Haswell None Haswell" ] || fail "PQ_BLAS_CORE=Haswell: got '$(choice "$tmp/info.json")'"
[ ! -s "$tmp/err" ] || fail "a forced kernel is not an override to announce: $(cat "$tmp/err")"

# Errors stay one line: the note comes with manifests, not at start-up.
PQ_BLAS_TEST_DETECTED=Prescott $PQ frobnicate 2>"$tmp/err"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "unknown command under an override: $(cat "$tmp/err")"
echo "blas_core: ok"
