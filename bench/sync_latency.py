"""How fast and how cheaply the sync sidecar brings a new checkpoint over.

1. Latency: time from a checkpoint landing in SRC (the trainer's rename) to it being visible in DST,
   with the file-event trigger (two debounce settings) vs the interval timer alone (--no-watch),
   measured side by side in one run on the same machine.
2. Cost: bytes rsync moves (both directions, --stats) for one new checkpoint in a run that already
   holds many old ones; the excess over the checkpoint's size is rsync's file-list overhead.

    .venv/bin/python bench/sync_latency.py [--landings 6] [--interval 5] [--ckpt-kb 100]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.core.cli import command  # noqa: E402
from services.sync.passes import base_args, sync_pass  # noqa: E402
from services.sync.rsync import Rsync  # noqa: E402


def land(path: Path, data: bytes) -> float:
    """Write like the trainer (temp + rename); returns the moment the checkpoint exists in SRC."""
    tmp = path.with_name(f".{path.name}.{random.randrange(1 << 30):x}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return time.monotonic()


def wait_visible(path: Path, timeout: float = 120.0) -> float:
    end = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > end:
            raise TimeoutError(path)
        time.sleep(0.002)
    return time.monotonic()


def latency(mode_args: list[str], landings: int, ckpt: bytes, work: Path, interval: float) -> list[float]:
    src, dst = work / "src", work / "dst"
    shutil.rmtree(work, ignore_errors=True)
    (src / "Reach_train_1" / "nn").mkdir(parents=True)
    proc = subprocess.Popen(
        command("sync", "--source", src, "--dest", dst, "--metrics-port", 0, *mode_args),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_visible(dst / "Reach_train_1" / "nn")  # first pass done
        out = []
        for i in range(landings):
            time.sleep(random.uniform(0.2, interval))  # land at a random phase of the interval
            name = f"last_Reach_ep_{i}_rew_{i}.pth"
            t0 = land(src / "Reach_train_1" / "nn" / name, ckpt)
            out.append(wait_visible(dst / "Reach_train_1" / "nn" / name) - t0)
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def bytes_per_new_checkpoint(n_old: int, ckpt_size: int, work: Path) -> tuple[int, int, float]:
    src, dst = work / "src", work / "dst"
    shutil.rmtree(work, ignore_errors=True)
    nn = src / "Reach_train_1" / "nn"
    nn.mkdir(parents=True)
    for i in range(n_old):
        (nn / f"last_Reach_ep_{i}_rew_{i}.pth").write_bytes(os.urandom(ckpt_size))
    rsync = Rsync(base_args(None, 0, 60))
    sync_pass(rsync, f"{src}/", dst, delete=False)  # the old ones are already mirrored
    idle = sync_pass(rsync, f"{src}/", dst, delete=False)  # nothing new: pure overhead
    land(nn / f"last_Reach_ep_{n_old}_rew_0.pth", os.urandom(ckpt_size))
    new = sync_pass(rsync, f"{src}/", dst, delete=False)
    assert new.stats.files == 1, new.stats
    return new.stats.wire_bytes, idle.stats.wire_bytes, new.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--landings", type=int, default=6)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--ckpt-kb", type=int, default=100, help="checkpoint size (Reach MLP checkpoints are ~100 KB)")
    args = ap.parse_args()
    random.seed(0)
    ckpt = os.urandom(args.ckpt_kb * 1024)
    work = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    try:
        print(
            f"# latency: checkpoint ({args.ckpt_kb} KB) landing in SRC -> visible in DST, {args.landings} landings each"
        )
        modes = [
            ("event, debounce 0.5 s (default)", ["--interval", "600"]),
            ("event, debounce 0.1 s", ["--interval", "600", "--debounce", "0.1"]),
            (f"interval {args.interval:g} s only (--no-watch)", ["--interval", str(args.interval), "--no-watch"]),
        ]
        for label, mode_args in modes:
            lat = latency(mode_args, args.landings, ckpt, work / "lat", args.interval)
            print(
                f"{label:38s} median {statistics.median(lat):6.3f} s  mean {statistics.mean(lat):6.3f} s  "
                f"max {max(lat):6.3f} s"
            )
        print(f"\n# bytes moved for one new {args.ckpt_kb} KB checkpoint (local rsync; --stats sent+received)")
        print(f"{'old checkpoints':>16s} {'wire bytes':>12s} {'/ ckpt size':>11s} {'idle pass':>10s} {'pass s':>7s}")
        for n_old in (10, 100, 1000):
            wire, idle, secs = bytes_per_new_checkpoint(n_old, len(ckpt), work / "bytes")
            print(f"{n_old:16d} {wire:12d} {wire / len(ckpt):11.3f} {idle:10d} {secs:7.3f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
