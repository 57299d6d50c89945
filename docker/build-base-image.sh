#!/usr/bin/env bash
# build-base-image.sh — build a Debian 12 (bookworm) base image locally, without any image registry.
#
# Where Docker Hub cannot be reached, `FROM debian:bookworm` cannot be pulled. This script makes the
# same kind of image from Debian's own package archive instead: debootstrap a minimal bookworm root
# file system from the apt mirror this machine already uses, then `docker import` it. The project's
# Dockerfile is then built on top of it (docker/reproduce.sh passes it as BASE_IMAGE).
#
# Usage (as root; needs debootstrap and a running dockerd):
#     bash docker/build-base-image.sh [IMAGE]          # default IMAGE: paretoq/debian:bookworm
# Environment:
#     DEBIAN_MIRROR   archive URL (default: the first bookworm URI in /etc/apt/sources.list*,
#                     else http://deb.debian.org/debian)
#     SECURITY_MIRROR security archive URL (default: likewise, else http://deb.debian.org/debian-security)
set -euo pipefail

IMAGE=${1:-paretoq/debian:bookworm}
SUITE=bookworm

die() { echo "build-base-image: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap needs it)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install -y debootstrap)"
command -v docker >/dev/null || die "docker not found (apt-get install -y docker.io)"
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon (start it: dockerd >/tmp/dockerd.log 2>&1 &)"

# The first URI that serves the wanted suite, from deb822 (*.sources) and one-line (*.list) files.
# One-line entries look like "deb [opts] URI SUITE COMPONENTS"; deb822 stanzas hold "URIs:" and
# "Suites:" fields, separated by blank lines.
find_mirror() {
    local want=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v want="$want" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                               if ($(i+1) == want) { print $i; exit } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v want="$want" '
            function flush() { if (!done && enabled && uris != "" && (" " suites " ") ~ (" " want " ")) { split(uris, u, " "); print u[1]; done = 1; exit } }
            /^[ \t]*$/ { flush(); uris = ""; suites = ""; enabled = 1; next }
            /^URIs:/    { sub(/^URIs:[ \t]*/, ""); uris = $0 }
            /^Suites:/  { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^Enabled:[ \t]*no/ { enabled = 0 }
            BEGIN { enabled = 1 }
            END { flush() }' "$f"
    done
}

MIRROR=${DEBIAN_MIRROR:-$(find_mirror "$SUITE" | head -n1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${SECURITY_MIRROR:-$(find_mirror "$SUITE-security" | head -n1)}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}

ROOT=$(mktemp -d /var/tmp/paretoq-rootfs.XXXXXX)
cleanup() { rm -rf --one-file-system "$ROOT"; }
trap cleanup EXIT

echo "build-base-image: debootstrap $SUITE from $MIRROR into $ROOT" >&2
debootstrap --variant=minbase --components=main "$SUITE" "$ROOT" "$MIRROR" >&2 \
    || die "debootstrap failed (see $ROOT/debootstrap/debootstrap.log)"

# The image's apt sources: the same mirrors, so `apt-get install` inside works where the host's does.
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
EOF
# What the official image does too: no recommends, no documentation, no apt caches in the image.
cat >"$ROOT/etc/apt/apt.conf.d/90paretoq-docker" <<EOF
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/tmp/*

echo "build-base-image: importing as $IMAGE" >&2
tar --numeric-owner -C "$ROOT" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    --message "Debian $SUITE minbase from $MIRROR (paretoq docker/build-base-image.sh)" \
    - "$IMAGE" >/dev/null
echo "build-base-image: done: $IMAGE"
