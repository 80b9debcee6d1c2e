#!/usr/bin/env python
"""What watching a tester costs the trainer beside it, side by side in one run: an MJPEG viewer, only a
3D viewer, nobody — with clip recording off and on.

Real processes on this machine: the trainer (`train.py config=train_headless`, --task, --num-envs), a
streamer, and a tester following the training with its 3D view on (640x480 frames at 25 fps for its
readers). Six phases of --seconds each, after a warm-up: (c) nobody watching, (a) one MJPEG viewer
reading /stream/<id>, (b) one 3D viewer only; then the same three with clips on; --rounds times over, each
figure the mean of its rounds (on a machine shared with other work, its load moves the trainer's rate
more than anything here: more rounds average that out). Per phase: the tester's and the streamer's CPU
(% of one core, from /proc), the trainer's env-steps/s (its progress.json), and the bytes/s the viewer
received.

The 3D viewer is tests/view3d_client.py's WireViewer: everything a browser's page does on the wire
(controller slot, state stream, acks) without the rendering, which happens on the user's machine, not
here. "Clips on" is a reader held inside the tester all the time (`tester.readers.hold("clip")`, what a
clip recorder does while it records: the tester renders and encodes at its fps); the recorder's own
video encoding is not included.

    .venv/bin/python bench/view_cost.py [--task BlindGrasping] [--num-envs 64] [--seconds 30] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from services.core.cli import command  # noqa: E402
from tests.view3d_client import WireViewer  # noqa: E402
from tests.waiting import free_port, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def progress(runs: Path) -> dict | None:
    try:
        return json.loads((runs / "latest_train" / "progress.json").read_text())
    except (OSError, ValueError):
        return None


class MjpegViewer:
    """One viewer of /stream/<id>, reading as fast as frames come, counting bytes."""

    def __init__(self, url: str):
        self.bytes_in, self.stop = 0, threading.Event()
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)

    def _run(self, url):
        with requests.get(url, stream=True, timeout=30) as r:
            for chunk in r.iter_content(65536):
                self.bytes_in += len(chunk)
                if self.stop.is_set():
                    return


class Nobody:
    bytes_in = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def phase(name: str, viewer, seconds: float, pids: dict, runs: Path) -> dict:
    with viewer:
        time.sleep(3.0)  # the tester learns of its reader (or of none) and settles
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        p0, t0, b0 = progress(runs), time.monotonic(), viewer.bytes_in
        time.sleep(seconds)
        cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
        p1, t1, b1 = progress(runs), time.monotonic(), viewer.bytes_in
    wall = t1 - t0
    steps = (p1["env_steps"] - p0["env_steps"]) / max(p1["updated"] - p0["updated"], 1e-9)
    row = {
        "phase": name,
        "tester_cpu": 100 * (cpu1["tester"] - cpu0["tester"]) / wall,
        "streamer_cpu": 100 * (cpu1["streamer"] - cpu0["streamer"]) / wall,
        "trainer_cpu": 100 * (cpu1["trainer"] - cpu0["trainer"]) / wall,
        "env_steps_per_s": steps,
        "bytes_per_s": (b1 - b0) / wall,
    }
    print(
        f"  {name:<32} tester {row['tester_cpu']:5.1f} %  streamer {row['streamer_cpu']:5.1f} %  "
        f"trainer {steps:7,.0f} env-steps/s  viewer {row['bytes_per_s'] / 1024:7.1f} KiB/s",
        flush=True,
    )
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="BlindGrasping")
    p.add_argument("--num-envs", type=int, default=64)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--out", default=None, help="folder for the runs and logs (default bench-out/view_cost_<time>)")
    a = p.parse_args()
    out = Path(a.out or ROOT / "bench-out" / time.strftime("view_cost_%Y%m%d_%H%M%S"))
    runs, clip_flag = out / "runs", out / "clip-on"
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MUJOCO_GL": "egl", "PYTHONPATH": str(ROOT)}
    logs = {name: open(out / f"{name}.log", "w") for name in ("trainer", "streamer", "tester")}
    procs = {
        "trainer": command(
            "train",
            "config=train_headless",
            "train.saveFrequency=5",
            task=a.task,
            numEnvs=a.num_envs,
            maxIterations=None,
            runsDir=runs,
        ),
        "streamer": command("streamer", "--port", port),
        "tester": [
            sys.executable,
            str(Path(__file__).resolve()),
            "--as-tester",
            str(clip_flag),
            f"task={a.task}",
            "checkpoint=latest",
            f"runsDir={runs}",
            "test.id=bench",
            f"test.streamerUrl={url}",
            "test.view3d.enabled=true",
            "reloadInterval=30",
        ],
    }
    started = {}
    try:
        for name, cmd in procs.items():
            started[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
            if name == "trainer":
                wait_for(lambda: progress(runs), timeout=600, step=1, what="the trainer's first epoch")
        tester = wait_for(lambda: _tester(url), timeout=600, step=1, what="the tester running a checkpoint")
        pids = {name: proc.pid for name, proc in started.items()}
        print(
            f"{a.task}, trainer numEnvs={a.num_envs}; tester: {tester['task']} 640x480 at 25 fps for its "
            f"readers, 3D view on; {a.seconds:g} s per phase; load average {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        rounds = []
        for r in range(a.rounds):
            rows = []
            for clips in (False, True):
                clip_flag.unlink(missing_ok=True) if not clips else clip_flag.touch()
                print(f"round {r + 1}, clips {'on' if clips else 'off'}:", flush=True)
                tag = " (clips on)" if clips else ""
                rows.append(phase(f"(c) nobody watching{tag}", Nobody(), a.seconds, pids, runs))
                rows.append(
                    phase(f"(a) an MJPEG viewer{tag}", MjpegViewer(f"{url}/stream/bench"), a.seconds, pids, runs)
                )
                rows.append(
                    phase(f"(b) only a 3D viewer{tag}", WireViewer(tester["view3d_url"]), a.seconds, pids, runs)
                )
            rounds.append(rows)
        print(f"load average at the end {os.getloadavg()[0]:.1f}\n")
        table(
            [
                {
                    k: (sum(rs[i][k] for rs in rounds) / len(rounds) if k != "phase" else rounds[0][i][k])
                    for k in rounds[0][i]
                }
                for i in range(len(rounds[0]))
            ]
        )
    finally:
        for proc in started.values():
            proc.terminate()
        for proc in started.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in logs.values():
            f.close()
    return 0


def _tester(url):
    try:
        t = requests.get(f"{url}/api/testers/bench", timeout=5)
    except requests.ConnectionError:
        return None
    return t.ok and t.json()["epoch"] is not None and t.json()["view3d_url"] and t.json()


def table(rows) -> None:
    print("| phase | tester CPU | streamer CPU | trainer env-steps/s | vs (a) | bytes/s per viewer |")
    print("|---|---:|---:|---:|---:|---:|")
    for i, r in enumerate(rows):
        base = rows[i - i % 3 + 1]["env_steps_per_s"]  # (a) of the same clip setting
        print(
            f"| {r['phase']} | {r['tester_cpu']:.0f} % | {r['streamer_cpu']:.0f} % | "
            f"{r['env_steps_per_s']:,.0f} | {r['env_steps_per_s'] / base:.2f}× | "
            f"{r['bytes_per_s'] / 1024:,.0f} KiB/s |"
        )
    print("\ngoal: (b) and (c) leave the trainer >= 1.5x the env-steps/s of (a)")


def as_tester(clip_flag: str, argv: list[str]) -> int:
    """The real tester (python -m services.tester ARGV), holding a "clip" reader while CLIP_FLAG exists."""
    import services.tester as tester_service
    from services.core.cli import main as cli_main

    real_build = tester_service.build

    def build(cfg, hub=None):
        service = real_build(cfg, hub)
        threading.Thread(target=_clip_switch, args=(service.tester, Path(clip_flag)), daemon=True).start()
        return service

    tester_service.build = build
    return cli_main(argv, tester_service.run, default_preset="test")


def _clip_switch(tester, flag: Path) -> None:
    holding = False
    while True:
        if flag.exists() != holding:
            holding = not holding
            (tester.readers.add if holding else tester.readers.remove)("clip")
        time.sleep(0.2)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--as-tester":
        sys.exit(as_tester(sys.argv[2], sys.argv[3:]))
    sys.exit(main())
