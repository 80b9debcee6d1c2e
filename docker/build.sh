#!/usr/bin/env bash
# Build the policycast images: policycast-base:$TAG (Python deps, cached until they change),
# policycast-app:$TAG (the source on it) and one thin image per service, policycast-<service>:$TAG (its
# port and entrypoint). Skips what is already up to date.
#   docker/build.sh                       BASE=python:3.11-slim (default), TAG=local
#   BASE=local/debian:bookworm docker/build.sh     (no registry: see docker/local-base.sh)
#   EXTRAS=gpu BASE=nvidia/cuda:... docker/build.sh  (+ MuJoCo Warp: the GPU physics backend, `make up GPU=1`)
#   SWARM=1 docker/build.sh               (+ policycast-runs-ssh, the swarm's cross-node sync source)
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${TAG:-local}
BASE=${BASE:-python:3.11-slim}
PY=${PYTHON:-.venv/bin/python}; [ -x "$PY" ] || PY=python3
SERVICES=(trainer sync tester streamer)
CTX=.docker-build/base

# A BuildKit-capable client: one with buildx, else an engine-bundled client older than 23 (BuildKit built
# in, e.g. Debian's /usr/bin/docker 20.10) with DOCKER_BUILDKIT=1.
BUILD=()
for c in docker /usr/bin/docker; do
  command -v "$c" >/dev/null || continue
  if "$c" buildx version >/dev/null 2>&1; then BUILD=("$c" build); break; fi
  major=$("$c" version --format '{{.Client.Version}}' 2>/dev/null | cut -d. -f1)
  if [ -n "$major" ] && [ "$major" -lt 23 ] 2>/dev/null; then BUILD=(env DOCKER_BUILDKIT=1 "$c" build); break; fi
done
[ ${#BUILD[@]} -gt 0 ] || { echo "build: no BuildKit-capable docker client (install docker-buildx)" >&2; exit 1; }
DOCKER=docker
ARGS=(--network host)
CA=${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$CA" ] && ARGS+=(--secret "id=hostca,src=$CA")

label() { $DOCKER image inspect -f "{{index .Config.Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# --- base: requirements from pyproject.toml at the lock's versions (constraints.txt, `make lock`) + a CPU
# torch wheel from pip's find-links, if this host has one
mkdir -p "$CTX/wheelhouse"
cp constraints.txt "$CTX/constraints.txt"
"$PY" - "$CTX/requirements.txt" "${EXTRAS:-}" <<'PYEOF'
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = list(project["dependencies"])
for extra in filter(None, sys.argv[2].split(",")):  # optional-dependency groups, e.g. gpu
    deps += project["optional-dependencies"][extra]
open(sys.argv[1], "w").write("\n".join(deps) + "\n")
PYEOF
TORCH=$(grep -E '^torch==' "$CTX/requirements.txt" || echo torch)
find "$CTX/wheelhouse" -type f -delete
if [ "${USE_HOST_WHEELS:-1}" = 1 ] && [ "$TORCH" != torch ]; then
  ver=${TORCH#torch==}
  for dir in $("$PY" -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p" | tr ' ' '\n' | sort -u); do
    for whl in "$dir"/torch-"$ver"+cpu-cp311-*.whl; do
      [ -f "$whl" ] || continue
      ln -f "$whl" "$CTX/wheelhouse/" 2>/dev/null || cp "$whl" "$CTX/wheelhouse/"
      echo "build: using the CPU torch wheel $(basename "$whl")"; break 2
    done
  done
fi
base_hash=$( (echo "$BASE ${TORCH_INDEX_URL:-}"; cat docker/Dockerfile "$CTX/requirements.txt" "$CTX/constraints.txt"
  ls "$CTX/wheelhouse") | sha256sum | cut -c1-16)
if [ "$(label "policycast-base:$TAG" policycast.hash)" = "$base_hash" ]; then
  echo "build: policycast-base:$TAG is up to date"
else
  echo "build: policycast-base:$TAG from $BASE (first time: a few minutes; torch is the big part)"
  t0=$(date +%s)
  # TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu: a CPU-only torch for hosts without a GPU
  "${BUILD[@]}" "${ARGS[@]}" -f docker/Dockerfile --build-arg "BASE=$BASE" --build-arg "TORCH=$TORCH" \
    --build-arg "TORCH_INDEX_URL=${TORCH_INDEX_URL:-}" \
    --label "policycast.hash=$base_hash" -t "policycast-base:$TAG" "$CTX"
  echo "build: policycast-base:$TAG built in $(( $(date +%s) - t0 )) s"
fi

# --- app: the source on top of the base, then one thin image per service (port, entrypoint) on the app;
# rebuilt when the source, a Dockerfile or the base changes
src_hash=$( (echo "$base_hash"; find services configs train.py pyproject.toml .dockerignore docker/app.Dockerfile \
  -type f ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
if [ "$(label "policycast-app:$TAG" policycast.hash)" = "$src_hash" ]; then echo "build: policycast-app:$TAG is up to date"; else
  "${BUILD[@]}" "${ARGS[@]}" -q -f docker/app.Dockerfile --build-arg "BASE_IMAGE=policycast-base:$TAG" \
    --label "policycast.hash=$src_hash" -t "policycast-app:$TAG" . >/dev/null
  echo "build: policycast-app:$TAG built"
fi
for s in "${SERVICES[@]}"; do
  img="policycast-$s:$TAG"
  if [ "$(label "$img" policycast.hash)" = "$src_hash" ]; then echo "build: $img is up to date"; continue; fi
  "${BUILD[@]}" "${ARGS[@]}" -q -f "services/$s/Dockerfile" --build-arg "APP_IMAGE=policycast-app:$TAG" \
    --label "policycast.hash=$src_hash" -t "$img" "services/$s" >/dev/null
  echo "build: $img built"
done

# --- runs-ssh (SWARM=1, `make deploy` only): sshd on the base, serving trainer-runs to other nodes' sync
if [ "${SWARM:-0}" = 1 ]; then
  img="policycast-runs-ssh:$TAG"
  ssh_hash=$( (echo "$base_hash"; cat docker/runs-ssh/*) | sha256sum | cut -c1-16)
  if [ "$(label "$img" policycast.hash)" = "$ssh_hash" ]; then echo "build: $img is up to date"; else
    "${BUILD[@]}" "${ARGS[@]}" -q --build-arg "BASE_IMAGE=policycast-base:$TAG" \
      --label "policycast.hash=$ssh_hash" -t "$img" docker/runs-ssh >/dev/null
    echo "build: $img built"
  fi
fi

# Superseded builds leave untagged images behind (the base is ~1.8 GB): drop ours.
$DOCKER image prune -f --filter label=policycast.hash >/dev/null
