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
$PQ data build --quiet || { echo "FAIL: pq data build" >&2; exit 1; }
$PQ check --tier smoke -j 2 > /tmp/pq_smoke_check.txt; rc=$?
tail -n 25 /tmp/pq_smoke_check.txt
[ $rc -eq 0 ] || { echo "FAIL: pq check --tier smoke found regressions (table above)" >&2; exit 1; }
grep -q "0 regressions, 0 missing" /tmp/pq_smoke_check.txt || { echo "FAIL: unexpected check summary" >&2; exit 1; }
echo "smoke_check: ok"
