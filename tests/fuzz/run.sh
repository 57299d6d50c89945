#!/usr/bin/env bash
# run.sh — `make fuzz`: for each target, replay its regression inputs
# (tests/fuzz/regressions/<target>/, each a crash found once and fixed), then
# fuzz it for SECONDS from its committed seeds (tests/fuzz/corpus/<target>/,
# read only). New inputs go to FUZZ_BUILD/corpus/<target> (kept between runs, so
# a longer run resumes there), crash inputs to FUZZ_BUILD/crash-<target>-*,
# libFuzzer's output to FUZZ_BUILD/fuzz_<target>.log, temporary files under
# FUZZ_BUILD/tmp. One summary line per target; exit 1 if any target failed.
#
# usage: tests/fuzz/run.sh FUZZ_BUILD SECONDS TARGET...   (FUZZ_MAX_LEN: longest input, bytes)
set -u
[ $# -ge 3 ] || { echo "usage: $0 FUZZ_BUILD SECONDS TARGET..." >&2; exit 2; }
build=$(cd "$1" && pwd) seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
export TMPDIR=$build/tmp UBSAN_OPTIONS=print_stacktrace=1
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
status=0
for t in "$@"; do
    bin=$build/fuzz_$t log=$build/fuzz_$t.log
    [ -x "$bin" ] || { echo "fuzz $t: no target $bin (FUZZ_TARGETS: ckpt shard suite tasks config bpe safetensors)"; status=1; continue; }
    mkdir -p "$build/corpus/$t"
    regressions=()
    for f in "$here/regressions/$t"/*; do [ -f "$f" ] && regressions+=("$f"); done
    : >"$log"
    if [ ${#regressions[@]} -gt 0 ] && ! "$bin" -artifact_prefix="$build/crash-$t-" "${regressions[@]}" >>"$log" 2>&1; then
        echo "fuzz $t: FAILED: a regression input crashes again (tests/fuzz/regressions/$t; log $log):"
        tail -n 40 "$log"
        status=1
        continue
    fi
    # libFuzzer's longest input is at least 4096 bytes and the longest seed, unless FUZZ_MAX_LEN says
    "$bin" -max_total_time="$seconds" ${FUZZ_MAX_LEN:+-max_len=$FUZZ_MAX_LEN} -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$build/crash-$t-" -print_final_stats=1 "$build/corpus/$t" "$here/corpus/$t" >>"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1)
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ${execs:-?} inputs in $seconds s, ${#regressions[@]} regression inputs replayed, $cov, no crash"
    else
        echo "fuzz $t: FAILED (exit $rc); the input is in $build/crash-$t-*; after the fix, commit it under" \
             "tests/fuzz/regressions/$t/. The end of $log:"
        tail -n 60 "$log"
        status=1
    fi
done
rm -rf "$TMPDIR"
exit $status
