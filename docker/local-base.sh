#!/usr/bin/env bash
# Build a Debian base image without any registry: debootstrap a minimal bookworm root and `docker import`
# it. CI and machines that cannot pull use it as BASE; users keep the default python:3.11-slim.
#   docker/local-base.sh [IMAGE]     (default local/debian:bookworm; skipped when the image exists)
set -euo pipefail
IMAGE=${1:-local/debian:bookworm}
DOCKER=${DOCKER:-docker}
if $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then echo "local-base: $IMAGE exists"; exit 0; fi
command -v debootstrap >/dev/null || { echo "local-base: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
ROOTFS=$(mktemp -d /var/tmp/policycast-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
# python3 + venv come with the base so the Dockerfile treats it like python:3.11-slim (same Python 3.11).
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  bookworm "$ROOTFS" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
tar --numeric-owner -C "$ROOTFS" -c . | $DOCKER import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
echo "local-base: built $IMAGE"
