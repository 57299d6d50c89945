# lib.sh — the start every integration script shares. Sourced right after the
# script's own `set` line (which stays there: scripts differ in -e):
#     . "$(dirname "$0")/lib.sh"
# It gives PQ, the pq under test (./pq unless PQ is set); fail, which prints one
# "FAIL: ..." line on stderr and exits 1; and tmp, a scratch directory removed
# when the script exits, or kept to look at when KEEP is set. A script that must
# also stop processes at exit sets its own EXIT trap, which removes "$tmp" too.
# Not a test itself: the Makefile's integration loop leaves it out.
PQ=${PQ:-./pq}
fail() { echo "FAIL: $*" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pq-$(basename "$0" .sh)-XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
