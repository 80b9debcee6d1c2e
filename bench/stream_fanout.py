#!/usr/bin/env python
"""Streamer fan-out: server CPU seconds per delivered frame and frame latency, 1/10/50 viewers.

Two designs side by side in one run, same server (cheroot), same frames, same viewers:
  encode-once   the tester JPEG-encodes each frame once; every viewer gets those bytes (policycast)
  per-client    each viewer's generator encodes the raw frame itself (the seed's design)

The server (and the 25 fps frame source) run in this process; the viewers run in a child process with
plain sockets, so their parsing does not count as server CPU. Latency = raw frame ready -> last byte of
that frame received by a viewer (CLOCK_MONOTONIC is shared by both processes).

    .venv/bin/python bench/stream_fanout.py [--seconds 6] [--viewers 1 10 50] [--fps 25]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import Flask, Response  # noqa: E402

from services.streamer import start_in_process  # noqa: E402
from services.streamer.mjpeg import MIMETYPE, part, read_parts  # noqa: E402
from services.streamer.server import StreamerServer  # noqa: E402

W, H, QUALITY = 640, 480, 80  # the tester's default frame


def raw_frames(n=50) -> list[np.ndarray]:
    """Rendered-looking frames: smooth background, moving shapes, a little texture."""
    yy, xx = np.mgrid[0:H, 0:W]
    base = np.dstack([(xx * 255 // W), (yy * 255 // H), np.full_like(xx, 90)]).astype(np.uint8)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = base.copy()
        cx = int(W / 2 + 200 * np.cos(i / n * 2 * np.pi))
        cv2.circle(img, (cx, H // 2), 60, (230, 200, 180), -1, cv2.LINE_AA)
        cv2.rectangle(img, (40, 380), (600, 440), (60, 60, 60), -1)
        img[380:440, 40:600] += rng.integers(0, 30, (60, 560, 3), dtype=np.uint8)
        cv2.putText(img, f"frame {i}", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        out.append(img)
    return out


def encode(img) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes()


# --- the seed's design: one encode per viewer per frame --------------------------------------------
class RawSlot:
    def __init__(self):
        self.cond, self.seq, self.img, self.stop = threading.Condition(), 0, None, False

    def put(self, img):
        with self.cond:
            self.seq += 1
            self.img = img
            self.cond.notify_all()


def per_client_app(slot: RawSlot) -> Flask:
    app = Flask("per_client_baseline")

    @app.get("/stream")
    def stream():
        def gen():
            seq = 0
            while not slot.stop:
                with slot.cond:
                    slot.cond.wait_for(lambda: slot.seq > seq or slot.stop, timeout=1.0)
                    if slot.seq == seq:
                        continue
                    seq, img = slot.seq, slot.img
                yield part(encode(img), seq)  # every viewer encodes the same frame again

        return Response(gen(), mimetype=MIMETYPE)

    return app


# --- frame source -------------------------------------------------------------------------------
def run_source(frames, publish, fps, stop: threading.Event, t_ready: dict):
    seq, period = 0, 1.0 / fps
    next_t = time.monotonic()
    while not stop.is_set():
        seq += 1
        t_ready[seq] = time.monotonic()  # the raw frame exists now (a tester just rendered it)
        publish(frames[seq % len(frames)])
        next_t += period
        stop.wait(max(0.0, next_t - time.monotonic()))


# --- viewers (child process) --------------------------------------------------------------------
def connect(port, path) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n".encode())  # HTTP/1.0: no chunking
    return sock


def viewer(sock, until, out: list):
    def chunks():
        while time.monotonic() < until:
            data = sock.recv(1 << 20)
            if not data:
                return
            yield data

    try:
        for seq, _jpeg in read_parts(chunks()):
            out.append((seq, time.monotonic()))
    except OSError:
        pass
    finally:
        sock.close()


def client_main(port, path, n, seconds):
    socks = [connect(port, path) for _ in range(n)]
    for s in socks:  # every viewer has its first bytes: all are being served
        s.recv(1)
    start = time.monotonic() + 0.5
    until = start + seconds
    print(json.dumps({"start": start, "until": until}), flush=True)
    results = [[] for _ in range(n)]
    threads = [threading.Thread(target=viewer, args=(s, until, r), daemon=True) for s, r in zip(socks, results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(until - time.monotonic() + 15)
    json.dump(results, sys.stdout)


# --- one measurement ----------------------------------------------------------------------------
def measure(mode: str, n: int, seconds: float, fps: float, frames) -> dict:
    stop, t_ready = threading.Event(), {}
    if mode == "encode-once":
        server, hub = start_in_process(0, bind_all=False, token=None, threads=n + 16, announce=False)
        pub = hub.local_publisher("bench", control=None)
        pub.publish_status({"id": "bench", "state": "running"})
        publish, path = (lambda img: pub.publish_frame(encode(img))), "/stream/bench"

        def status_loop():  # keeps the tester online, as a real one does
            while not stop.wait(1.0):
                pub.publish_status({"id": "bench", "state": "running"})

        threading.Thread(target=status_loop, daemon=True).start()
    else:
        slot = RawSlot()
        server = StreamerServer(per_client_app(slot), "127.0.0.1", 0, threads=n + 16)
        publish, path = slot.put, "/stream"
    source = threading.Thread(target=run_source, args=(frames, publish, fps, stop, t_ready), daemon=True)
    source.start()
    child = subprocess.Popen(
        [sys.executable, __file__, "--client", str(server.port), path, str(n), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    window = json.loads(child.stdout.readline())  # all viewers connected and served
    time.sleep(max(0.0, window["start"] - time.monotonic()))
    cpu0, wall0 = time.process_time(), time.monotonic()
    time.sleep(max(0.0, window["until"] - time.monotonic()))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    results = json.loads(child.communicate(timeout=60)[0])
    stop.set()
    if mode != "encode-once":
        slot.stop = True
        with slot.cond:
            slot.cond.notify_all()
    server.stop()
    source.join(5)
    # only frames whose delivery falls in the measured window
    lat, delivered, skipped = [], 0, 0
    for got in results:
        window = [(s, t) for s, t in got if wall0 <= t <= wall0 + wall and s in t_ready]
        delivered += len(window)
        lat += [t - t_ready[s] for s, t in window]
        seqs = [s for s, _ in window]
        skipped += sum(b - a - 1 for a, b in zip(seqs, seqs[1:]))
    lat.sort()
    published = sum(1 for t in t_ready.values() if wall0 <= t <= wall0 + wall)
    return {
        "mode": mode,
        "viewers": n,
        "published": published,
        "delivered": delivered,
        "fps_per_viewer": delivered / n / wall,
        "cpu_s": cpu,
        "cpu_ms_per_frame": 1000 * cpu / max(delivered, 1),
        "lat_p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
        "lat_p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))] if lat else float("nan"),
        "skipped": skipped,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--viewers", type=int, nargs="+", default=[1, 10, 50])
    p.add_argument("--fps", type=float, default=25.0)
    args = p.parse_args()
    frames = raw_frames()
    size = statistics.mean(len(encode(f)) for f in frames[:10])
    t = time.perf_counter()
    for f in frames[:20]:
        encode(f)
    enc_ms = (time.perf_counter() - t) / 20 * 1000
    print(
        f"frames {W}x{H} JPEG q{QUALITY}: {size / 1024:.0f} KiB, encode {enc_ms:.1f} ms; source {args.fps:g} fps; "
        f"{args.seconds:g} s per row; cpus={len(__import__('os').sched_getaffinity(0))}"
    )
    print(
        f"{'viewers':>7} {'design':<12} {'fps/viewer':>10} {'CPU ms/frame':>12} {'CPU s/s':>8} "
        f"{'lat p50 ms':>10} {'lat p95 ms':>10} {'skipped':>8}"
    )
    rows = []
    for n in args.viewers:
        for mode in ("encode-once", "per-client"):
            r = measure(mode, n, args.seconds, args.fps, frames)
            rows.append(r)
            print(
                f"{n:>7} {mode:<12} {r['fps_per_viewer']:>10.1f} {r['cpu_ms_per_frame']:>12.3f} "
                f"{r['cpu_s'] / args.seconds:>8.2f} {r['lat_p50_ms']:>10.1f} {r['lat_p95_ms']:>10.1f} "
                f"{r['skipped']:>8}",
                flush=True,
            )
        once, per = rows[-2], rows[-1]
        print(
            f"{'':>7} per-client / encode-once: CPU per delivered frame x"
            f"{per['cpu_ms_per_frame'] / once['cpu_ms_per_frame']:.1f}, "
            f"p50 latency x{per['lat_p50_ms'] / once['lat_p50_ms']:.1f}",
            flush=True,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client_main(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        main()
