#!/usr/bin/env python
"""What clients that trickle their request cost a streamer: /healthz latency and a tester's pushes.

A streamer process (`python -m services.streamer`) gets 320x240 frames at --fps from the tests' stand-in
tester over the real ingest API while N connections each send a request line and then one header line
every 2 s, never finishing (slowloris), for --seconds, for each N of --clients. Per N: /healthz answer
time (median and worst of a poll every 0.1 s), the frames the tester got through per second, the
streamer's most threads (its worker pool grows), its RSS at the end, and how many trickling connections
the server had shut by then (each READ_DEADLINE_S, 10 s, after its first byte; services/core/http.py).

    .venv/bin/python bench/slow_clients.py [--clients 0 100 300] [--seconds 15] [--fps 25]
"""

from __future__ import annotations

import argparse
import socket
import statistics
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
from tests.streamer.standin import Pusher, StandInTester  # noqa: E402
from tests.waiting import free_port, wait_for  # noqa: E402


def trickler(port: int, n: int, stop: threading.Event, shut: list) -> None:
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)
    open_ = set(range(n))
    while open_ and not stop.wait(2.0):
        for i in list(open_):
            try:
                socks[i].sendall(b"X-Slow: 1\r\n")
                socks[i].setblocking(False)
                gone = socks[i].recv(1) == b""  # the server shut it: end of stream
            except BlockingIOError:
                gone = False
            except OSError:
                gone = True
            socks[i].setblocking(True)
            if gone:
                open_.discard(i)
                shut.append(i)
    for s in socks:
        s.close()


def run(port: int, clients: int, seconds: float, fps: float, streamer_pid: int) -> dict:
    url = f"http://127.0.0.1:{port}"
    pusher = Pusher(url, StandInTester(f"bench-{clients}"), fps=fps, pool=12).start()
    stop, shut = threading.Event(), []
    slow = threading.Thread(target=trickler, args=(port, clients, stop, shut), daemon=True)
    slow.start()
    sent0, start, times = len(pusher.sent), time.monotonic(), []
    peak = 0
    while time.monotonic() - start < seconds:
        t0 = time.monotonic()
        requests.get(f"{url}/healthz", timeout=30).raise_for_status()
        times.append(time.monotonic() - t0)
        peak = max(peak, proc_stats(streamer_pid)["threads"])
        time.sleep(0.1)
    pushed = (len(pusher.sent) - sent0) / (time.monotonic() - start)
    stats = proc_stats(streamer_pid)
    stop.set()
    pusher.stop()
    slow.join(10)
    return {
        "clients": clients,
        "healthz_p50_ms": 1000 * statistics.median(times),
        "healthz_max_ms": 1000 * max(times),
        "frames_per_s": pushed,
        "threads": peak,
        "rss_mb": stats["rss_mb"],
        "shut": len(shut),
    }


def up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok
    except requests.ConnectionError:
        return False


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, nargs="+", default=[0, 100, 300])
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--fps", type=float, default=25.0)
    a = p.parse_args()
    port = free_port()
    proc = subprocess.Popen(command("streamer", "--port", port), cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_for(lambda: up(port), 60, what="the streamer")
        head = ("clients", "healthz p50", "healthz max", "frames/s", "threads", "RSS MB")
        print(f"{head[0]:>8} {head[1]:>12} {head[2]:>12} {head[3]:>9} {head[4]:>8} {head[5]:>7} shut")
        for n in a.clients:
            r = run(port, n, a.seconds, a.fps, proc.pid)
            print(
                f"{r['clients']:>8} {r['healthz_p50_ms']:>9.1f} ms {r['healthz_max_ms']:>9.1f} ms "
                f"{r['frames_per_s']:>9.1f} {r['threads']:>8} {r['rss_mb']:>7.1f} {r['shut']}/{n}",
                flush=True,
            )
    finally:
        proc.terminate()
        proc.wait(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
