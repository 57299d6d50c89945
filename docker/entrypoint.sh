#!/usr/bin/env bash
# Container entry point: `make <targets>` with the build-time code version (default target: reproduce;
# TIER and JOBS come from the environment). Files written into the mounted results/ and work/results/
# are then handed to the host user (HOST_UID/HOST_GID), so a non-root host user can edit or delete them.
cd /src || exit 1
[ $# -gt 0 ] || set -- reproduce
case "$1" in
    make) shift ;;                               # `docker run IMAGE make test` works too
    bash|sh|./pq) exec "$@" ;;                   # a shell or the pq command itself
    pq) shift; exec ./pq "$@" ;;
esac
# `pq data build` fetches the pinned corpus packages with `apt-get download`, which needs package
# lists; the image ships without them (they go stale), so fetch them once per container.
if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v '^lock$\|^partial$')" ]; then
    apt-get update -qq || echo "entrypoint: apt-get update failed; pq data build may not find its packages" >&2
fi
make VERSION="${PQ_VERSION:-unknown}" "$@"
status=$?
if [ -n "${HOST_UID:-}" ]; then
    for d in results work/results; do
        [ -d "$d" ] && chown -R "$HOST_UID:${HOST_GID:-$HOST_UID}" "$d"
    done
fi
exit $status
