#!/usr/bin/env python
"""PPO throughput: env-steps/s of the real trainer (rl_games + services.sim) per task and numEnvs.

    .venv/bin/python bench/train_throughput.py [--tasks Reach BlindGrasping] [--num-envs 16 64 256]
                                               [--epochs 6] [--device cpu] [--torch-threads 1 2]
    python bench/train_throughput.py --backend warp --device cuda:0 --num-envs 4096 16384   # on a GPU

Each case is a real `python -m services.trainer` run in a fresh process; the figures are rl_games'
own per-epoch TensorBoard measurements (median over the epochs after the first, which warms up):
`total` = collected env steps / (rollout + PPO update time), `rollout` = the same over rollout time
(policy inference + sim), `sim` = over env.step time alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.core.cli import command  # noqa: E402
from tests.processes import run  # noqa: E402

TAGS = {
    "total": "performance/step_inference_rl_update_fps",
    "rollout": "performance/step_inference_fps",
    "sim": "performance/step_fps",
}


def run_case(task: str, num_envs: int, epochs: int, device: str, backend: str, runs: Path, threads) -> dict:
    cmd = command(
        "trainer",
        f"task={task}",
        f"numEnvs={num_envs}",
        f"maxIterations={epochs}",
        "train.saveFrequency=0",
        f"train.printInterval={epochs}",
        f"device={device}",
        f"backend={backend}",
        f"runsDir={runs}",
    )
    if threads is not None:  # torch intra-op threads (0 = torch's default, 'auto' = rl_games' min(4, cores))
        cmd.append(f"train.params.torch_threads={threads}")
    start = time.monotonic()
    done = run(cmd, timeout=1800)
    wall = time.monotonic() - start
    if done.returncode != 0:
        raise SystemExit(f"{task} numEnvs={num_envs} failed:\n{done.stderr[-2000:]}")
    figures = read_scalars((runs / "latest_train").resolve() / "summaries")
    return {"wall_s": wall, **figures}


def read_scalars(summaries: Path) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(summaries), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for name, tag in TAGS.items():
        values = [e.value for e in acc.Scalars(tag)][1:]  # the first epoch includes warm-up
        out[name] = statistics.median(values) if values else float("nan")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--tasks", nargs="+", default=["Reach", "BlindGrasping"])
    ap.add_argument("--num-envs", nargs="+", type=int, default=[16, 64, 256])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backend", default="mujoco", choices=("mujoco", "warp", "auto"))
    ap.add_argument(
        "--torch-threads",
        nargs="+",
        default=[None],
        help="compare torch intra-op thread settings side by side (default: the yaml's)",
    )
    args = ap.parse_args()

    import torch

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"device={args.device}, backend={args.backend}, {args.epochs} epochs per case, "
        "horizon from configs/train/<Task>PPO.yaml"
    )
    print(
        f"{'task':<14}{'numEnvs':>8}{'threads':>8}{'total steps/s':>15}{'rollout steps/s':>17}{'sim steps/s':>13}"
        f"{'wall s':>8}"
    )
    cases = [(task, n, threads) for task in args.tasks for n in args.num_envs for threads in args.torch_threads]
    with tempfile.TemporaryDirectory(prefix="train_bench_") as tmp:
        for task, n, threads in cases:
            r = run_case(task, n, args.epochs, args.device, args.backend, Path(tmp) / f"{task}_{n}_{threads}", threads)
            print(
                f"{task:<14}{n:>8}{threads or 'yaml':>8}{r['total']:>15,.0f}{r['rollout']:>17,.0f}"
                f"{r['sim']:>13,.0f}{r['wall_s']:>8.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
