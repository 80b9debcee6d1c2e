"""Where `make up` trains: GPU=auto (the default) picks an NVIDIA GPU when there is one and MuJoCo Warp
can run the physics on it; GPU=0 forces the CPU; GPU=1 asks for the GPU.

The stack process never imports torch (a `make` command stays quick): `nvidia-smi -L` says whether a GPU
is here, and the trainer's interpreter (this one) has MuJoCo Warp when `mujoco_warp` can be found.
"""

from __future__ import annotations

import importlib.util
import subprocess
from dataclasses import dataclass

CPU_ENVS = 64  # the CPU default: a policy visibly improves in a minute on 2 cores (Reach)
# BlindGrasping on the CPU: at 64 envs PPO's batch (envs x 32 steps) is half, and seed 42 peaked at 41 %
# success in 27 minutes, unstable; at 128 it passed 50 % in 15 (README "Learning curves").
CPU_ENVS_OF = {"BlindGrasping": 128}
GPU_ENVS = 4096  # the GPU default: PPO updates 4x as often as at 16k envs, and BlindGrasping learns in minutes
MODES = ("auto", "0", "1")


@dataclass
class Training:
    device: str  # the trainer's device= ("cpu" or "cuda:0")
    num_envs: int
    note: str  # one line for the user: what was found and why this device


def nvidia_gpu() -> str | None:
    """The first GPU `nvidia-smi -L` lists ("GPU 0: NVIDIA H200 (UUID: ...)"), or None."""
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    gpus = [line.strip() for line in out.stdout.splitlines() if line.startswith("GPU ")]
    return gpus[0] if out.returncode == 0 and gpus else None


def warp_installed() -> bool:
    return importlib.util.find_spec("mujoco_warp") is not None


def cpu_envs(task: str) -> int:
    """The CPU's default worlds for `task`."""
    return CPU_ENVS_OF.get(task, CPU_ENVS)


def choose(mode: str, num_envs: int | None, task: str = "Reach") -> Training:
    """The local runtime's trainer: device and worlds for GPU=`mode` (a given NUM_ENVS is kept).

    Raises ValueError (one line) for GPU=1 where it cannot train on a GPU."""
    if mode not in MODES:
        raise ValueError(f"GPU={mode}: expects auto, 0 or 1")
    gpu = None if mode == "0" else nvidia_gpu()
    warp = gpu is not None and warp_installed()
    if mode == "1" and not warp:
        why = "no NVIDIA GPU found (nvidia-smi -L)" if gpu is None else "MuJoCo Warp is not installed"
        raise ValueError(f"GPU=1: {why}; pip install -e '.[gpu]' for MuJoCo Warp; GPU=0 trains on the CPU")
    if warp:
        envs = num_envs or GPU_ENVS
        return Training("cuda:0", envs, f"training on the GPU (cuda:0: {gpu}; MuJoCo Warp physics), {envs} envs")
    envs = num_envs or cpu_envs(task)
    if mode == "0":
        why = "GPU=0"
    elif gpu is None:
        why = "no NVIDIA GPU found"
    else:
        why = f"{gpu} is here, but MuJoCo Warp is not installed (pip install -e '.[gpu]')"
    return Training("cpu", envs, f"training on the CPU ({why}), {envs} envs")


def docker_note(mode: str) -> str | None:
    """Docker trains on a GPU only with GPU=1 (CUDA images, the NVIDIA runtime): a line when one is here."""
    if mode == "1":
        return None
    gpu = nvidia_gpu()
    if gpu is None:
        return None
    return (
        f"{gpu} is here, and the Docker runtime trains on the CPU unless asked: `make images GPU=1 "
        "BASE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04`, then `make up GPU=1` (or RUNTIME=local: GPU=auto)"
    )
