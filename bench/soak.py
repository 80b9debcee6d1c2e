#!/usr/bin/env python
"""Soak: a tester and a streamer for --minutes under steady churn; do their resources stay flat?

A real tester process (`python -m services.tester`, Reach, the test preset's 4 worlds, 640x480 at
25 fps) follows a run into which a checkpoint lands every --every seconds (renamed into place as the
trainer does; the oldest are pruned so the disk stays small) and reloads each one (reloadInterval below
--every). It pushes to a streamer process (`python -m services.streamer`) that has viewers coming and
going (each watches /stream/<id> for 1-6 s) and a dashboard poll (/api/testers every second, the
checkpoint list through the control proxy every 5 s). Printed: RSS, open file descriptors and threads
of both processes at the start, after --warmup, and at the end; reloads done, frames received and
served, viewers served.

    .venv/bin/python bench/soak.py --minutes 30 [--every 3] [--run runs/Reach_train_...]

Checkpoints: the periodic files of --run, else a 12-epoch Reach training run made first (~15 s).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.procstats import proc_stats  # noqa: E402
from services.core.cli import command  # noqa: E402
from services.core.experiments import create_experiment  # noqa: E402
from tests.processes import stop, train  # noqa: E402
from tests.streamer.standin import watch  # noqa: E402
from tests.waiting import free_port, wait_for  # noqa: E402

KEEP = 20  # checkpoints kept in the soaked run; older ones are pruned


def sources(args, scratch: Path) -> list[Path]:
    if args.run:
        files = sorted(Path(args.run, "nn").glob("last_*.pth"))
        if len(files) < 2:
            sys.exit(f"error: --run {args.run}: needs at least two periodic checkpoints in nn/")
        return files
    experiment = train(scratch / "trained", "Reach", "train.saveFrequency=3", maxIterations=12, numEnvs=16)
    return sorted(experiment.glob("nn/last_*.pth"))


class Lander:
    """Lands a checkpoint every `every` s under a new name, as the trainer does; keeps the newest KEEP."""

    def __init__(self, nn: Path, files: list[Path], every: float):
        self.nn, self.files, self.every, self.landed = nn, files, every, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def land(self) -> None:
        self.landed += 1
        dest = self.nn / f"last_Reach_ep_{self.landed}_rew_0.00.pth"
        tmp = self.nn / f".{dest.name}.soak.tmp"
        shutil.copyfile(self.files[self.landed % len(self.files)], tmp)
        os.replace(tmp, dest)
        old = self.nn / f"last_Reach_ep_{self.landed - KEEP}_rew_0.00.pth"
        old.unlink(missing_ok=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.land()


class Viewers:
    """Viewers coming and going, and what a dashboard page polls."""

    def __init__(self, url: str, tester_id: str):
        self.url, self.id, self.stop = url, tester_id, threading.Event()
        self.served = self.api_calls = self.errors = 0
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._viewers, self._dashboard)]

    def _viewers(self) -> None:
        rng = random.Random(0)
        while not self.stop.is_set():
            got, leave = [], threading.Event()
            t = threading.Thread(target=self._watch, args=(got, leave), daemon=True)
            t.start()
            self.stop.wait(rng.uniform(1, 6))
            leave.set()
            t.join(10)
            self.served += 1

    def _watch(self, got, leave) -> None:
        try:
            watch(f"{self.url}/stream/{self.id}", got, leave)
        except requests.RequestException:
            self.errors += 1

    def _dashboard(self) -> None:
        n = 0
        while not self.stop.wait(1.0):
            n += 1
            try:
                requests.get(f"{self.url}/api/testers", timeout=5).raise_for_status()
                if n % 5 == 0:
                    requests.get(f"{self.url}/api/testers/{self.id}/checkpoints", timeout=5).raise_for_status()
                self.api_calls += 1
            except requests.RequestException:
                self.errors += 1


def sample(pids: dict) -> dict:
    return {name: proc_stats(pid) for name, pid in pids.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=3.0, help="seconds between checkpoint landings")
    ap.add_argument("--warmup", type=float, default=60.0, help="seconds before the 'warm' sample")
    ap.add_argument("--run", help="a training experiment whose periodic checkpoints land in turn")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="soak_") as tmp:
        tmp = Path(tmp)
        files = sources(args, tmp)
        runs = tmp / "runs"
        exp = create_experiment(runs, "Reach", "train")
        lander = Lander(exp / "nn", files, args.every)
        lander.land()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(tmp / "services.log", "w")
        streamer = subprocess.Popen(
            command("streamer", "--port", port),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        tester = subprocess.Popen(
            command(
                "tester",
                "checkpoint=latest",
                f"runsDir={runs}",
                f"reloadInterval={args.every * 0.5:g}",
                f"test.streamerUrl={url}",
                "test.id=soak",
            ),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        pids = {"tester": tester.pid, "streamer": streamer.pid}
        viewers = Viewers(url, "soak")
        try:

            def tile():
                try:
                    return next(
                        (
                            t
                            for t in requests.get(f"{url}/api/testers", timeout=5).json()
                            if t["id"] == "soak" and t["online"] and t["epoch"] is not None
                        ),
                        None,
                    )
                except requests.RequestException:
                    return None

            wait_for(tile, 120, step=0.5, what="the tester online")
            first = sample(pids)
            lander.thread.start()
            for t in viewers.threads:
                t.start()
            t0 = time.monotonic()
            end = t0 + args.minutes * 60
            time.sleep(min(args.warmup, args.minutes * 60 / 4))
            warm, warm_tile = sample(pids), tile()
            next_line = time.monotonic()
            while time.monotonic() < end:
                if tester.poll() is not None or streamer.poll() is not None:
                    sys.exit(f"error: a service exited; see {tmp / 'services.log'}")
                if time.monotonic() >= next_line:
                    s, t = sample(pids), tile() or {}
                    print(
                        f"{(time.monotonic() - t0) / 60:5.1f} min  tester {s['tester']['rss_mb']:.0f} MB "
                        f"{s['tester']['fds']} fds {s['tester']['threads']} thr | streamer "
                        f"{s['streamer']['rss_mb']:.0f} MB {s['streamer']['fds']} fds {s['streamer']['threads']} thr"
                        f" | reloads {t.get('reloads')}",
                        flush=True,
                    )
                    next_line += 60
                time.sleep(1.0)
            last, last_tile = sample(pids), tile() or {}
            stats = requests.get(f"{url}/stats", timeout=5).json()
        finally:
            lander.stop.set()
            viewers.stop.set()
            stop(tester, streamer)
            log.close()
    minutes = (time.monotonic() - t0) / 60
    print(
        f"\nsoak: {minutes:.1f} min, a checkpoint every {args.every:g} s, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':<18}{'start':>10}{'warm':>10}{'end':>10}{'end vs warm':>13}")
    for name in ("tester", "streamer"):
        for key, unit in (("rss_mb", "MB"), ("fds", ""), ("threads", "")):
            a, w, b = first[name][key], warm[name][key], last[name][key]
            fmt = (lambda v: f"{v:.0f} {unit}".strip()) if unit else (lambda v: f"{v}")
            print(
                f"{name + ' ' + key.replace('_mb', ''):<18}{fmt(a):>10}{fmt(w):>10}{fmt(b):>10}"
                f"{(b - w) / w * 100:>+12.1f}%"
            )
    reloads = (last_tile.get("reloads") or 0) - (warm_tile.get("reloads") or 0)
    print(
        f"reloads: {last_tile.get('reloads')} in all ({reloads} after warm-up, {lander.landed} checkpoints landed); "
        f"frames received {stats['frames_received']:,}, served {stats['frames_served']:,}; "
        f"viewers served {viewers.served}, dashboard polls {viewers.api_calls}, errors {viewers.errors}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
