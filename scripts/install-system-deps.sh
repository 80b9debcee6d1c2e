#!/usr/bin/env bash
# Debian packages policycast needs: offscreen GL for MuJoCo, rsync/ssh for sync, Chromium for the
# browser tests, Xvfb for the local viewer, and a Docker engine + debootstrap for the compose stack
# (iproute2: the two-node swarm test's second engine lives in a network namespace), and Prometheus (with
# promtool) for docs/prometheus.yml, docs/alerts.yml and the tests that run them.
# Idempotent; skips quietly where apt-get or root is missing (then install these by hand).
set -euo pipefail
PKGS=(libegl1 libgl1-mesa-dri libegl-mesa0 libopengl0 libosmesa6 rsync openssh-client openssh-server
      chromium chromium-driver xvfb xauth docker.io debootstrap iproute2 ca-certificates prometheus)
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: no apt-get here; install: ${PKGS[*]}" >&2; exit 0
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-system-deps: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts a system Prometheus (on :9090, its own config) when it installs one: policycast only needs the
# binaries (README "Metrics"), so a server it just installed is stopped and left disabled.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
