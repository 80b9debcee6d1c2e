#!/usr/bin/env python
"""What a slow and a stalled viewer cost the normal viewers of a streamer, side by side in one run.

A streamer process (`python -m services.streamer`) gets incompressible 640x480 frames (~140 KB: the worst
case for socket buffers) at --fps from the tests' stand-in tester over the real ingest API; --viewers
normal viewers read /stream/<id> as fast as it comes, for --seconds, twice: alone, then beside a viewer
taking one frame a second off a 16 KB socket buffer and one that never reads after the response head.
Per normal viewer: new frames per second received and the longest gap between two new frames; and the
streamer's RSS at the start and the end.

    .venv/bin/python bench/slow_viewers.py [--seconds 10] [--viewers 4] [--fps 25]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.procstats import proc_stats  # noqa: E402
from services.core.cli import command  # noqa: E402
from tests.streamer.standin import Pusher, StandInTester, stalled_viewer, watch, watch_slowly  # noqa: E402
from tests.waiting import free_port, wait_for  # noqa: E402


def run(port: int, viewers: int, seconds: float, fps: float, with_slow: bool, streamer_pid: int) -> dict:
    url = f"http://127.0.0.1:{port}"
    tester = StandInTester(f"bench-{'slow' if with_slow else 'alone'}")
    pusher = Pusher(url, tester, fps=fps, size=(640, 480), noise=True, pool=12).start()
    stop, normal, slow, stalled = threading.Event(), [[] for _ in range(viewers)], [], None
    path = f"/stream/{tester.id}"
    threads = [threading.Thread(target=watch, args=(url + path, got, stop), daemon=True) for got in normal]
    if with_slow:
        threads.append(threading.Thread(target=watch_slowly, args=("127.0.0.1", port, path, slow, stop), daemon=True))
        stalled = stalled_viewer("127.0.0.1", port, path)
    for t in threads:
        t.start()
    wait_for(lambda: all(normal), 20, what="viewers streaming")
    time.sleep(1.0)
    rss0, start, sent0 = proc_stats(streamer_pid)["rss_mb"], time.monotonic(), len(pusher.sent)
    time.sleep(seconds)
    end, sent = time.monotonic(), len(pusher.sent) - sent0
    rss1 = proc_stats(streamer_pid)["rss_mb"]
    stop.set()
    pusher.stop()
    if stalled is not None:
        stalled.close()
    for t in threads:
        t.join(10)
    rates, gaps = [], []
    for got in normal:
        firsts = {}
        for t, seq in got:
            firsts.setdefault(seq, t)
        during = sorted(t for t in firsts.values() if start <= t <= end)
        rates.append(len(during) / (end - start))
        gaps.append(max(b - a for a, b in zip([start] + during, during + [end])))
    return {"sent_fps": sent / (end - start), "rates": rates, "gaps": gaps, "slow": len(slow), "rss": (rss0, rss1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--viewers", type=int, default=4)
    ap.add_argument("--fps", type=float, default=25.0)
    args = ap.parse_args()
    port = free_port()
    streamer = subprocess.Popen(
        command("streamer", "--port", port),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _up(port), 30, what="the streamer")
        rows = [
            ("normal viewers alone", run(port, args.viewers, args.seconds, args.fps, False, streamer.pid)),
            ("+ 1 slow + 1 stalled", run(port, args.viewers, args.seconds, args.fps, True, streamer.pid)),
        ]
    finally:
        streamer.terminate()
        streamer.wait(30)
    print(
        f"\n{args.viewers} normal viewers of a streamer process, 640x480 frames pushed at {args.fps:g} fps, "
        f"{args.seconds:g} s per row; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'':<24}{'pushed fps':>11}{'viewer fps (min-max)':>22}{'longest gap ms':>16}{'slow got':>10}"
        f"{'streamer RSS MB':>18}"
    )
    for label, r in rows:
        print(
            f"{label:<24}{r['sent_fps']:>11.1f}{min(r['rates']):>13.1f} - {max(r['rates']):<6.1f}"
            f"{max(r['gaps']) * 1000:>16.0f}{(r['slow'] if label.startswith('+') else '-'):>10}"
            f"{r['rss'][0]:>10.1f} -> {r['rss'][1]:.1f}"
        )
    alone, beside = (min(r["rates"]) for _, r in rows)
    print(f"slowest normal viewer with them / without: {beside / alone:.2f}x")
    return 0


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
    except requests.ConnectionError:
        return False


if __name__ == "__main__":
    sys.exit(main())
