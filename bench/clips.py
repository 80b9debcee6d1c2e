#!/usr/bin/env python
"""What recording clips costs a streaming tester: published frame rate and CPU, clips off vs on.

    .venv/bin/python bench/clips.py [--seconds 30] [--rounds 2] [--every 10] [--run runs/Reach_train_...]

A real-time Reach tester as in production (services.tester.build: 4 worlds, world 0 rendered at 640x480,
overlaid and JPEG-encoded at 25 fps; the publisher is a stub that notes each frame) while a checkpoint
lands every --every seconds, in three modes measured in turns (`--rounds` windows of `--seconds` each,
interleaved so that the machine's load falls on all alike):
  off         test.clips.enabled=false
  checkpoint  the default: a clip of the first whole episode after each swap
  episode     config=test_record: every episode of world 0 (recording all the time: the worst case)
Printed side by side: frames published per second, control steps per second (real time is 50), the
process's CPU (% of one core, all threads), clips written; then what one clip frame costs alone
(rendering it, encoding it). Checkpoints: the two newest of --run, else Reach networks with random weights.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.reload_latency import FrameClock, checkpoint_sources, land  # noqa: E402
from services.core.config import load_config  # noqa: E402
from services.core.experiments import create_experiment  # noqa: E402
from services.core.logs import setup_logging  # noqa: E402

MODES = {"off": ["test.clips.enabled=false"], "checkpoint": [], "episode": ["test.clips.every=episode"]}


def window(runs: Path, sources, mode: str, seconds: float, every: float, landed: int) -> dict:
    """One tester in `mode` for `seconds` (after a warm-up), checkpoints landing every `every` s."""
    from services.tester import build

    exp = create_experiment(runs, "Reach", "train")
    land(sources[0], exp / "nn", landed)
    cfg = load_config(
        [
            "config=test",
            f"runsDir={runs}",
            "checkpoint=latest",
            "numEnvs=4",
            "reloadInterval=1",
            "test.render.width=640",
            "test.render.height=480",
            "test.render.fps=25",
            f"test.id=bench-{mode}",
            *MODES[mode],
        ],
        "test",
    )
    clock = FrameClock()
    service = build(cfg, publisher=clock)
    tester = service.tester
    stop = threading.Event()

    def loop():
        try:
            tester.play(0, stop)
        finally:
            tester.env.close()  # the EGL renderer belongs to this thread

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(clock.times) < 25 and time.monotonic() < deadline:  # warm up: renderer made, frames out
            time.sleep(0.05)
        rec = tester.clip_recorder
        clips0 = rec.written if rec else 0
        frames0, steps0, cpu0, t0 = (
            len(clock.times),
            tester.broadcast.camera.steps,
            time.process_time(),
            time.monotonic(),
        )
        n = landed
        while time.monotonic() - t0 < seconds:
            time.sleep(min(every, seconds - (time.monotonic() - t0)))
            n += 1
            land(sources[n % 2], exp / "nn", n)
        wall = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        written = (rec.written - clips0) if rec else 0
        return {
            "fps": (len(clock.times) - frames0) / wall,
            "steps": (tester.broadcast.camera.steps - steps0) / wall,
            "cpu": 100 * cpu / wall,
            "clips": written,
            "wall": wall,
            "landed": n,
        }
    finally:
        stop.set()
        thread.join(timeout=10)
        service.close()


def encode_ms(cfg, frames: int = 50) -> tuple[float, float]:
    """(ms to render, ms to encode) one 640x480 clip frame of Reach (random actions), each alone."""
    import torch

    from services.sim import make_env
    from services.tester.video import VideoFile

    env = make_env(cfg.task, num_envs=1)
    shots, t0 = [], time.perf_counter()
    try:
        for _ in range(frames):
            env.step(torch.rand(1, env.num_actions) * 2 - 1)
            env.step(torch.rand(1, env.num_actions) * 2 - 1)
            shots.append(env.render(640, 480))
        render = (time.perf_counter() - t0) / frames
    finally:
        env.close()
    with tempfile.TemporaryDirectory(prefix="clips_enc_") as tmp:
        video = VideoFile(Path(tmp) / "x.mp4", 640, 480, 25)
        t0 = time.perf_counter()
        for rgb in shots:
            video.add(rgb)
        video.finish()
        return 1000 * render, 1000 * (time.perf_counter() - t0) / frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="length of each measured window")
    ap.add_argument("--rounds", type=int, default=2, help="windows per mode, taken in turns")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between checkpoint landings")
    ap.add_argument("--run", help="take the two newest checkpoints of this training experiment")
    args = ap.parse_args()
    setup_logging("WARNING")
    cfg = load_config(["config=test", "runsDir=unused"], "test")
    results = {m: [] for m in MODES}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="clips_bench_") as tmp:
        tmp = Path(tmp)
        sources = checkpoint_sources(args, cfg, tmp)
        landed = 0
        for r in range(args.rounds):
            for mode in MODES:
                res = window(tmp / f"{mode}{r}", sources, mode, args.seconds, args.every, landed)
                landed = res["landed"] + 1
                results[mode].append(res)
                load.append(os.getloadavg()[0])
                print(
                    f"round {r + 1} {mode:<10} {res['fps']:5.1f} fps  {res['steps']:5.1f} steps/s  "
                    f"CPU {res['cpu']:5.1f} %  "
                    f"{res['clips']} clips in {res['wall']:.0f} s",
                    flush=True,
                )

    def mean(mode, key):
        return sum(x[key] for x in results[mode]) / len(results[mode])

    print(
        f"\nclips off vs on: real-time Reach tester, 4 worlds, 640x480 at 25 fps, a checkpoint every "
        f"{args.every:g} s; {args.rounds} x {args.seconds:g} s per mode; {os.cpu_count()} CPUs, load average "
        f"{min(load):.1f}-{max(load):.1f}"
    )
    print(f"{'mode':<12}{'frames/s':>10}{'steps/s':>9}{'CPU % of a core':>18}{'clips/min':>11}")
    for mode in MODES:
        per_min = 60 * sum(x["clips"] for x in results[mode]) / sum(x["wall"] for x in results[mode])
        print(
            f"{mode:<12}{mean(mode, 'fps'):>10.1f}{mean(mode, 'steps'):>9.1f}{mean(mode, 'cpu'):>18.1f}{per_min:>11.1f}"
        )
    render, encode = encode_ms(cfg)
    print(
        f"one 640x480 clip frame alone: render {render:.1f} ms (2 control steps included), H.264 encode {encode:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
