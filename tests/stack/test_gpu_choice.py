"""`make up` on a GPU machine trains on it (GPU=auto), GPU=0 forces the CPU. No GPU here: `nvidia-smi`
is a stand-in script on PATH that lists one (or fails as it does without a driver), and what is checked
is the trainer's command line the stack starts."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.stack import gpu
from services.stack.compose import service_env
from services.stack.local import trainer_spec
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
H200 = "GPU 0: NVIDIA H200 (UUID: GPU-5f0c2b7e-0000-0000-0000-000000000000)"


def fake_nvidia_smi(folder: Path, listing: str | None) -> str:
    """A folder holding an `nvidia-smi` that lists `listing` (None: fails like one without a driver);
    returns a PATH with that folder first."""
    folder.mkdir(exist_ok=True)
    script = folder / "nvidia-smi"
    if listing is None:
        body = 'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver."; exit 9'
    else:
        body = f'[ "$1" = "-L" ] && echo "{listing}"'
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def args(**kw):
    base = dict(task="BlindGrasping", max_iterations=None, resume=False, hand=None, save_frequency=10, runs_dir="runs")
    return SimpleNamespace(**{**base, **kw})


def trainer_argv(mode, num_envs=None, task="BlindGrasping"):
    training = gpu.choose(mode, num_envs, task)
    return training, trainer_spec(args(task=task), training).argv


def test_auto_trains_on_the_gpu_with_gpu_sized_worlds(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_nvidia_smi(tmp_path / "bin", H200))
    training, argv = trainer_argv("auto")
    assert "device=cuda:0" in argv and f"numEnvs={gpu.GPU_ENVS}" in argv
    assert "NVIDIA H200" in training.note and "4096 envs" in training.note
    _, argv = trainer_argv("auto", num_envs=512)
    assert "device=cuda:0" in argv and "numEnvs=512" in argv  # the user's NUM_ENVS is kept
    _, argv = trainer_argv("1")
    assert "device=cuda:0" in argv


def test_gpu_0_trains_on_the_cpu_even_with_a_gpu_here(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_nvidia_smi(tmp_path / "bin", H200))
    training, argv = trainer_argv("0")
    assert "device=cpu" in argv and "numEnvs=128" in argv and "GPU=0" in training.note  # BlindGrasping's
    _, argv = trainer_argv("0", task="Reach")
    assert "device=cpu" in argv and "numEnvs=64" in argv


def test_docker_trains_blind_grasping_with_its_cpu_worlds_and_a_gpu_only_when_asked():
    env = service_env(args(gpu="auto", num_envs=None, port=58080))
    assert env["NUM_ENVS"] == "128" and "DEVICE" not in env
    assert service_env(args(task="Reach", gpu="auto", num_envs=None, port=58080))["NUM_ENVS"] == "64"
    env = service_env(args(gpu="1", num_envs=None, port=58080))
    assert env["NUM_ENVS"] == "4096" and env["DEVICE"] == "cuda:0"
    assert service_env(args(gpu="auto", num_envs=32, port=58080))["NUM_ENVS"] == "32"


@pytest.mark.parametrize("listing", [None, ""])
def test_no_gpu_means_the_cpu_and_gpu_1_is_refused(tmp_path, monkeypatch, listing):
    monkeypatch.setenv("PATH", fake_nvidia_smi(tmp_path / "bin", listing))
    training, argv = trainer_argv("auto")
    assert "device=cpu" in argv and "no NVIDIA GPU found" in training.note
    with pytest.raises(ValueError, match=r"GPU=1: no NVIDIA GPU found"):
        gpu.choose("1", None)


def test_a_gpu_without_mujoco_warp_trains_on_the_cpu_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_nvidia_smi(tmp_path / "bin", H200))
    monkeypatch.setattr(gpu, "warp_installed", lambda: False)
    training, argv = trainer_argv("auto")
    assert "device=cpu" in argv and "MuJoCo Warp is not installed" in training.note


def make_dry(*assignments):
    done = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "up", *assignments], capture_output=True, text=True)
    (line,) = [x for x in done.stdout.splitlines() if "services.stack" in x and " up " in x]
    return line.split()


def test_make_passes_gpu_and_num_envs_only_as_given():
    assert make_dry()[-2:] == ["--gpu", "auto"] and "--num-envs" not in make_dry()
    line = make_dry("GPU=0", "NUM_ENVS=16")
    assert line[line.index("--gpu") + 1] == "0" and line[line.index("--num-envs") + 1] == "16"


def test_the_stack_starts_the_trainer_on_cuda_and_says_so_first(tmp_path):
    """The real `python -m services.stack up` (local runtime) with a GPU listed: its first lines say where
    it trains, and the trainer it starts asks for cuda:0 (which this CPU-only torch refuses, in one line)."""
    env = {
        **os.environ,
        "PATH": fake_nvidia_smi(tmp_path / "bin", H200),
        "POLICYCAST_HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    port, sync_port = free_port(), free_port()
    log = tmp_path / "stack.out"
    with open(log, "w") as out:
        stack = subprocess.Popen(
            [sys.executable, "-m", "services.stack", "--port", str(port), "up", "--runtime", "local"]
            + ["--task", "Reach", "--testers", "0", "--sync-port", str(sync_port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        text = wait_for(
            lambda: "device=cuda:0: CUDA is not available" in log.read_text() and log.read_text(),
            timeout=120,
            step=0.2,
            what="the trainer's refusal of cuda:0",
        )
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        stack.wait(60)
    first = text.splitlines()[:3]
    assert any("training on the GPU (cuda:0: GPU 0: NVIDIA H200" in x and "4096 envs" in x for x in first), first
