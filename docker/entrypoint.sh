#!/usr/bin/env bash
# Container entry point: `make <targets>` with the build-time code version (default target: reproduce;
# TIER and JOBS come from the environment). Files written into the mounted results/ are then handed
# to the host user (HOST_UID/HOST_GID), so a non-root host user can edit or delete them.
cd /src || exit 1
[ $# -gt 0 ] || set -- reproduce
case "$1" in
    make) shift ;;                               # `docker run IMAGE make test` works too
    bash|sh|./pq) exec "$@" ;;                   # a shell or the pq command itself
    pq) shift; exec ./pq "$@" ;;
esac
make VERSION="${PQ_VERSION:-unknown}" "$@"
status=$?
if [ -n "${HOST_UID:-}" ] && [ -d results ]; then
    chown -R "$HOST_UID:${HOST_GID:-$HOST_UID}" results
fi
exit $status
