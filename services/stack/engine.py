"""The Docker engine both Docker runtimes run on (compose.py, swarm.py): whether one answers here, and the
images they run, built by docker/build.sh on a base that can be had (`make images`)."""

from __future__ import annotations

import os
import subprocess
import sys

from . import ROOT

DEFAULT_BASE = "python:3.11-slim"
LOCAL_BASE = "local/debian:bookworm"  # built by docker/local-base.sh where nothing can be pulled


def succeeds(cmd: list[str], timeout: float = 20) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def available() -> bool:
    """Whether a Docker engine answers here (`docker info`)."""
    return succeeds(["docker", "info"])


def pick_base() -> str:
    """BASE as given, else python:3.11-slim when it can be had, else a locally debootstrapped Debian."""
    if os.environ.get("BASE"):
        return os.environ["BASE"]
    if succeeds(["docker", "image", "inspect", DEFAULT_BASE]) or succeeds(["docker", "pull", DEFAULT_BASE], 300):
        return DEFAULT_BASE
    print(f"stack: cannot pull {DEFAULT_BASE}: building a local Debian base ({LOCAL_BASE}) instead")
    subprocess.run([str(ROOT / "docker/local-base.sh"), LOCAL_BASE], check=True)
    return LOCAL_BASE


def build(gpu: bool = False, swarm: bool = False) -> None:
    """Build the images; with `gpu` they also carry MuJoCo Warp (pyproject's `gpu` extra); `swarm` adds
    policycast-runs-ssh (compose.deploy.yaml's cross-node sync source)."""
    base = pick_base()
    env = {**os.environ, "BASE": base, "PYTHON": sys.executable}
    if gpu:
        env["EXTRAS"] = "gpu"
    if swarm:
        env["SWARM"] = "1"
    subprocess.run([str(ROOT / "docker/build.sh")], check=True, env=env)


def images(gpu: bool) -> int:
    """`make images`: build them, then list them."""
    if not available():
        print("stack: no Docker engine is running (start dockerd, or use the local runtime: make up)", file=sys.stderr)
        return 1
    build(gpu=gpu)
    return subprocess.run(["docker", "images", "--filter", "reference=policycast-*"]).returncode
