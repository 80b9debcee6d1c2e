"""The wheel bundle for a lent GPU machine, which reaches no registry: what its image lacks, at the lock's versions.

    python bench/gpu_wheels.py OUT_DIR     # download the wheels, write OUT_DIR/bundle.part-aa, -ab, ... (60 MB each)
    python bench/gpu_wheels.py --list      # just print name==version of each, as it would bundle them

The GPU machines' image holds Python 3.12 with torch, numpy, opencv-python-headless, tensorboard, ... but
no MuJoCo, Warp, rl_games, Hydra or Flask (../shared/notes/machine-facts.md). The bundle is those, each at
the version of constraints.txt (uv.lock, for Python 3.12 on x86_64 Linux); torch and the image's other
packages stay the machine's own. `bench/gpu_check.sh install` installs it with constraints.txt, so a wheel at
any other version is refused there. One transfer to the machine carries at most 64 MiB: carry one part per
call (README "GPU").
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
PART_BYTES = 60 * 1024 * 1024
# What policycast needs on the GPU machine beyond its image (import names: mujoco, mujoco_warp, warp, rl_games,
# hydra, flask, cheroot, sh, watchdog, websockets, and what those need that the image lacks).
LACKING = """blinker cheroot farama-notifications flask glfw gymnasium hydra-core itsdangerous jaraco-functools
more-itertools mujoco mujoco-core mujoco-studio mujoco-studio-wasm mujoco-warp omegaconf pyopengl rl-games
setproctitle sh tensorboardx watchdog websockets warp-lang antlr4-python3-runtime""".split()
SOURCE_ONLY = {"antlr4-python3-runtime"}  # published as source only: built into a (pure-Python) wheel here
GPU_MACHINE = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
               "platform_machine": "x86_64", "implementation_name": "cpython", "os_name": "posix"}  # fmt: skip


def locked_for_gpu_machine(constraints: Path = CONSTRAINTS) -> dict[str, str]:
    """{name: version} of the lock's pins that apply on the GPU machine."""
    env = {**default_environment(), **GPU_MACHINE}
    pins = {}
    for line in constraints.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate(env):
            pins[canonicalize_name(req.name)] = next(iter(req.specifier)).version
    return pins


def bundle_list(constraints: Path = CONSTRAINTS) -> list[str]:
    pins = locked_for_gpu_machine(constraints)
    missing = [n for n in LACKING if canonicalize_name(n) not in pins]
    if missing:
        raise SystemExit(f"gpu_wheels: not in the lock: {', '.join(missing)} (make lock)")
    return [f"{n}=={pins[canonicalize_name(n)]}" for n in LACKING]


def download(out: Path) -> None:
    wanted = bundle_list()
    with tempfile.TemporaryDirectory() as work:
        wheels = Path(work) / "wheels"
        binary = [w for w in wanted if w.split("==")[0] not in SOURCE_ONLY]
        plat = "--only-binary=:all: --implementation cp --python-version 3.12 --no-deps".split()
        for p in ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64", "any"):
            plat += ["--platform", p]
        print(f"gpu_wheels: downloading {len(binary)} wheels", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", *plat, "-d", wheels, *binary], check=True)
        for w in wanted:
            if w.split("==")[0] in SOURCE_ONLY:
                subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, w], check=True)
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("bundle.part-*"):
            old.unlink()
        tar = subprocess.run(["tar", "-C", work, "-cf", "-", "wheels"], check=True, capture_output=True).stdout
    for i in range(0, len(tar), PART_BYTES):
        n = i // PART_BYTES
        part = out / f"bundle.part-a{chr(ord('a') + n)}"
        part.write_bytes(tar[i : i + PART_BYTES])
        print(f"gpu_wheels: {part} ({len(tar[i : i + PART_BYTES]) / 2**20:.0f} MiB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, help="folder for bundle.part-* (git-ignored, e.g. .whl/)")
    ap.add_argument("--list", action="store_true", help="print name==version of each wheel, and stop")
    a = ap.parse_args()
    if a.list:
        print("\n".join(bundle_list()))
        return 0
    if a.out is None:
        ap.error("give OUT_DIR, or --list")
    download(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
