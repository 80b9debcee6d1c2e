#!/usr/bin/env python
"""Hot-reload latency and frame smoothness of the tester, measured side by side in one run.

    .venv/bin/python bench/reload_latency.py [--reloads 20] [--poll-interval 1.0] [--run runs/Reach_train_...]

1. file landing -> new weights acting: a checkpoint is renamed into `nn/` (as the trainer and rsync do)
   once the current one has had its reloadInterval, and the clock stops at the first control step that
   acts with it; with filesystem events (watchdog) vs polling only (`test.watchEvents=false`, every
   --poll-interval seconds).
2. longest gap between published frames while checkpoints land every --every seconds vs with none.

The tester runs as in production (real MuJoCo Reach, real time at env.dt, frames rendered, overlaid and
JPEG-encoded at test.render.fps); only the publisher is a stub that notes when each frame leaves.
Checkpoints: the newest files of --run, else rl_games networks of the Reach shape with random weights
(same format and size as training writes; the weights' values do not change load time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402
import torch  # noqa: E402

import services.sim  # noqa: E402,F401 (first: it picks MUJOCO_GL, which mujoco reads when imported)
from services.core.checkpoints import save_atomic  # noqa: E402
from services.core.config import load_config  # noqa: E402
from services.core.experiments import create_experiment  # noqa: E402
from services.core.logs import setup_logging  # noqa: E402


class FrameClock:
    """A publisher that only notes when each frame would leave."""

    def __init__(self):
        self.times: list[float] = []

    def publish_frame(self, jpeg: bytes) -> None:
        self.times.append(time.monotonic())

    def publish_status(self, status: dict) -> None:
        pass


def checkpoint_sources(args, cfg, scratch: Path) -> list[Path]:
    if args.run:
        files = sorted(Path(args.run, "nn").glob("*.pth"), key=lambda p: p.stat().st_mtime)
        if len(files) < 2:
            sys.exit(f"error: --run {args.run}: needs at least two checkpoints in nn/")
        return files[-2:]
    from services.sim import make_env
    from services.tester.policy import PolicyBuilder

    env = make_env(cfg.task, num_envs=1)
    builder = PolicyBuilder(cfg.train.params, env.num_obs, env.num_actions)
    env.close()
    out = []
    for i in range(2):
        torch.manual_seed(i)
        model = builder.build()
        for p in model.parameters():
            torch.nn.init.normal_(p, std=0.3)
        out.append(
            save_atomic(
                {
                    "model": model.state_dict(),
                    "epoch": i,
                    "frame": 0,
                    "optimizer": {},
                    "last_mean_rewards": 0.0,
                    "env_state": None,
                },
                scratch / f"src_{i}.pth",
            )
        )
    return out


def land(src: Path, nn: Path, n: int) -> Path:
    """Rename a complete file into nn/ (the trainer's and rsync's way); returns the new checkpoint."""
    dest = nn / f"last_Reach_ep_{1000 + n}_rew_0.00.pth"
    tmp = nn / f".{dest.name}.bench.tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


class Session:
    """One tester (the production wiring from services.tester.build) on its own runs root."""

    def __init__(self, runs: Path, sources, watch_events: bool, interval: float, fps: float):
        from services.tester import build

        self.exp = create_experiment(runs, "Reach", "train")
        land(sources[0], self.exp / "nn", 0)
        cfg = load_config(
            [
                "config=test",
                f"runsDir={runs}",
                "checkpoint=latest",
                "numEnvs=1",
                f"reloadInterval={interval}",
                f"test.watchEvents={str(watch_events).lower()}",
                "test.render.width=320",
                "test.render.height=240",
                f"test.render.fps={fps}",
            ],
            "test",
        )
        self.clock = FrameClock()
        self.service = build(cfg, publisher=self.clock)
        self.tester = self.service.tester
        self.acting: dict[str, float] = {}  # checkpoint name -> first step that acted with it
        self.ready: dict[str, float] = {}  # checkpoint name -> validated and parked for the loop
        step = self.tester.step_once

        def timed_step():
            stepped = step()
            cur = self.tester.current
            if stepped and cur is not None and cur.path.name not in self.acting:
                self.acting[cur.path.name] = time.monotonic()
                self.ready[cur.path.name] = cur.ready_at
            return stepped

        self.tester.step_once = timed_step
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        # warm up: first checkpoint in, renderer made (~0.5 s once), a second of frames out
        while len(self.clock.times) < 25 and time.monotonic() < deadline:
            time.sleep(0.05)

    def _loop(self):
        try:
            self.tester.play(0, self.stop)
        finally:
            self.tester.env.close()  # the EGL renderer belongs to this thread

    def reload_latencies(self, sources, n: int, phase: tuple[float, float], timeout: float) -> tuple[list, list]:
        """Each landing comes `phase` (a uniform range of seconds) after the current checkpoint's interval
        is over: a landing before then waits for the interval by design, which is not reload latency."""
        out, ready = [], []
        rng = np.random.default_rng(0)
        reloader = self.tester.reloader
        for i in range(1, n + 1):
            while reloader.due_in() != 0:
                time.sleep(0.005)
            time.sleep(rng.uniform(*phase))
            landed_at = time.monotonic()
            name = land(sources[i % 2], self.exp / "nn", i).name
            while name not in self.acting and time.monotonic() - landed_at < timeout:
                time.sleep(0.002)
            if name in self.acting:
                out.append(self.acting[name] - landed_at)
                ready.append(self.ready[name] - landed_at)
        return out, ready

    def frame_gaps(self, seconds: float, sources=None, every: float = 0.5) -> np.ndarray:
        # an interval shorter than the landings' period: every landing is swapped in
        self.tester.reloader.set_interval(min(self.tester.reloader.interval, 0.8 * every))
        start = len(self.clock.times)
        t_end, i = time.monotonic() + seconds, 100
        while time.monotonic() < t_end:
            if sources is not None:
                land(sources[i % 2], self.exp / "nn", i)
                i += 1
            time.sleep(every)
        return np.diff(self.clock.times[start:])

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)
        self.service.close()


def pct(values, q) -> str:
    return f"{np.percentile(values, q) * 1000:7.1f}" if len(values) else "    n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reloads", type=int, default=20, help="checkpoints landed per mode")
    ap.add_argument("--poll-interval", type=float, default=1.0, help="reloadInterval for the polling-only mode")
    ap.add_argument("--every", type=float, default=0.5, help="seconds between landings (gap test)")
    ap.add_argument("--events-interval", type=float, default=1.0, help="reloadInterval for the events mode")
    ap.add_argument("--gap-seconds", type=float, default=10.0, help="length of each frame-gap window")
    ap.add_argument("--fps", type=float, default=25.0, help="test.render.fps")
    ap.add_argument("--run", help="take the two newest checkpoints of this training experiment")
    args = ap.parse_args()
    setup_logging("WARNING")
    cfg = load_config(["config=test", "runsDir=unused"], "test")

    with tempfile.TemporaryDirectory(prefix="reload_bench_") as tmp:
        tmp = Path(tmp)
        sources = checkpoint_sources(args, cfg, tmp)
        results = {}
        # events: land 0.1-0.4 s after the interval is over (well before the next poll, a whole interval
        # later); polling: at any phase of the poll period
        for mode, events, interval, phase in (
            ("events", True, args.events_interval, (0.1, 0.4)),
            ("polling", False, args.poll_interval, (0.0, args.poll_interval)),
        ):
            s = Session(tmp / mode, sources, events, interval, args.fps)
            try:
                results[mode], results[mode + "_ready"] = s.reload_latencies(
                    sources, args.reloads, phase, timeout=interval + 10
                )
                if mode == "events":
                    gaps_quiet = s.frame_gaps(args.gap_seconds)
                    gaps_reload = s.frame_gaps(args.gap_seconds, sources, args.every)
                    reloads = s.tester.reloader.reloads
            finally:
                s.close()

    print(
        f"\nfile landing -> new weights acting (ms), {args.reloads} landings per mode, "
        f"real-time Reach tester at {args.fps:g} fps, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'mode':<28}{'n':>4}{'p50':>9}{'p95':>9}{'max':>9}")
    for mode, label in (("events", "events (watchdog)"), ("polling", f"polling only, every {args.poll_interval:g} s")):
        for key, what in ((mode, label), (mode + "_ready", "  of which: to validated")):
            v = results[key]
            print(f"{what:<28}{len(v):>4}{pct(v, 50)}  {pct(v, 95)}  {pct(v, 100)}")
    print(f"\ninter-frame gap (ms) over {args.gap_seconds:g} s each, target period {1000 / args.fps:.0f} ms")
    print(f"{'':<28}{'frames':>7}{'p50':>9}{'p99':>9}{'max':>9}")
    for label, g in (("no reloads", gaps_quiet), (f"a reload every {args.every:g} s", gaps_reload)):
        print(f"{label:<28}{len(g) + 1:>7}{pct(g, 50)}  {pct(g, 99)}  {pct(g, 100)}")
    ratio = gaps_reload.max() / gaps_quiet.max() if len(gaps_quiet) and gaps_quiet.max() > 0 else float("nan")
    print(f"longest gap with reloads / without: {ratio:.2f}x   (reloads swapped in that run: {reloads})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
