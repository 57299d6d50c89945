#!/usr/bin/env bash
# reproduce.sh — `make docker-reproduce TIER=...`: build the paretoq image and run the suite in it.
#
#   bash docker/reproduce.sh [TIER] [make targets...]    # default: small reproduce
#
# Mounts: ./results (the stored reference results; also where `make plots` writes), ./work/results
# (the fresh aggregated results of this run, as `pq suite run` writes them to $PQ_WORK/results), and
# the rest of work/ (data, run cache) as the Docker volume paretoq-work (PQ_DOCKER_WORK=/host/dir
# bind-mounts a directory instead), so a second run reuses every finished run. The base image is, in order: $BASE_IMAGE if set; debian:bookworm if present
# locally or pullable from a registry; otherwise paretoq/debian:bookworm, built from Debian's archive
# by docker/build-base-image.sh (needs root and debootstrap) when it does not exist yet.
set -euo pipefail
cd "$(dirname "$0")/.."

TIER=${1:-small}
shift || true
[ $# -gt 0 ] || set -- reproduce
IMAGE=${PQ_DOCKER_IMAGE:-paretoq:latest}
LOCAL_BASE=paretoq/debian:bookworm

die() { echo "docker-reproduce: $*" >&2; exit 1; }
command -v docker >/dev/null || die "docker not found (Debian: apt-get install -y docker.io)"
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon (as root: dockerd >/tmp/dockerd.log 2>&1 &)"

have() { docker image inspect "$1" >/dev/null 2>&1; }
if [ -z "${BASE_IMAGE:-}" ]; then
    if have debian:bookworm; then BASE_IMAGE=debian:bookworm
    elif have "$LOCAL_BASE"; then BASE_IMAGE=$LOCAL_BASE
    elif docker pull -q debian:bookworm >/dev/null 2>&1; then BASE_IMAGE=debian:bookworm
    else
        echo "docker-reproduce: no image registry reachable; building $LOCAL_BASE from Debian's archive" >&2
        bash docker/build-base-image.sh "$LOCAL_BASE"
        BASE_IMAGE=$LOCAL_BASE
    fi
fi

VERSION=$(git describe --always --dirty --tags 2>/dev/null || echo unknown)
# The Debian packages `make deps` installs, for the image's dependency layer (see the Dockerfile).
DEB_PKGS=$(make -pn deps 2>/dev/null | sed -n 's/^DEB_PKGS := //p' | head -n1)
echo "docker-reproduce: building $IMAGE on $BASE_IMAGE (code $VERSION)" >&2
# The build context is the source tree only: no build outputs, run cache or git metadata.
tar -c --exclude=./build --exclude=./build-asan --exclude=./work --exclude=./.git --exclude=./pq \
       --exclude='./results/*/figures' --exclude='__pycache__' . \
    | docker build -f docker/Dockerfile --build-arg BASE_IMAGE="$BASE_IMAGE" \
                   --build-arg PQ_VERSION="$VERSION" --build-arg DEB_PKGS="$DEB_PKGS" -t "$IMAGE" - >&2

mkdir -p results work/results
if [ -n "${PQ_DOCKER_WORK:-}" ]; then mkdir -p "$PQ_DOCKER_WORK"; WORK=$(cd "$PQ_DOCKER_WORK" && pwd); else WORK=paretoq-work; fi
echo "docker-reproduce: running '$*' with TIER=$TIER (results <-> $PWD/results, fresh results -> $PWD/work/results," \
     "data and runs -> $WORK)" >&2
exec docker run --rm -e TIER="$TIER" -e JOBS="${JOBS:-2}" -e HOST_UID="$(id -u)" -e HOST_GID="$(id -g)" \
    -v "$PWD/results:/src/results" -v "$WORK:/src/work" -v "$PWD/work/results:/src/work/results" "$IMAGE" "$@"
