#!/usr/bin/env bash
# Source rules a compiler cannot check. Adding context to an error goes through
# pq_fail_prefix: pq_fail("%s: %s", x, pq_error()) once formatted the error
# buffer into itself (undefined behaviour, garbled messages).
set -u
cd "$(dirname "$0")/../.."
fail() { echo "FAIL: $*" >&2; exit 1; }
hits=$(grep -rnE 'pq_fail\(.*pq_error\(\)' core --include='*.c' || true)
[ -z "$hits" ] || fail "pq_fail(..., pq_error()): use pq_fail_prefix: $hits"
echo "source_rules: ok"
