"""A tester stand-in for the streamer's tests: the control API of docs/design.md (in-process methods and
over HTTP) and real JPEG frames (OpenCV-encoded from changing numpy images) pushed through the real
ingest API. The real tester has its own tests; these exercise the streamer's side of the contract.
"""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import requests

from services.core.control_contract import OPERATIONS
from services.streamer.mjpeg import read_parts
from tests.api import control_session  # noqa: F401 (re-exported for this area)
from tests.waiting import wait_for  # noqa: F401 (re-exported for this area)


def jpeg_of(i: int, width=320, height=240, quality=80, noise=False) -> bytes:
    """Frame i: a gradient with a square that moves with i (so pixels visibly change frame to frame)."""
    x = np.linspace(0, 255, width, dtype=np.uint8)
    img = np.dstack(
        [np.tile(x, (height, 1)), np.full((height, width), (i * 7) % 256, np.uint8), np.tile(x[::-1], (height, 1))]
    ).copy()
    s = height // 4
    x0 = (i * 9) % (width - s)
    img[s : 2 * s, x0 : x0 + s] = (255, 255, 255)
    if noise:  # incompressible: big frames for the memory test
        img = np.random.default_rng(i).integers(0, 256, img.shape, dtype=np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


class StandInTester:
    """The tester's control methods (same names and answers as docs/design.md), no simulation."""

    def __init__(self, tester_id="reach-1", experiment="Reach_train_20261125_200000"):
        self.lock = threading.Lock()
        self.id, self.experiment = tester_id, experiment
        self.reloads, self.interval, self.paused, self.pinned = 0, 30.0, False, None
        self.training_disk: dict = {}  # progress.json's "disk" and "checkpoints", when a test sets them
        self.ckpts = [
            {
                "path": f"runs/{experiment}/nn/last_Reach_ep_{e}_rew_{e / 3:.1f}.pth",
                "name": f"last_Reach_ep_{e}_rew_{e / 3:.1f}.pth",
                "epoch": e,
                "mtime": 1e9 + e,
            }
            for e in (3, 6, 9)
        ]

    def status(self):
        with self.lock:
            ck = self.pinned or self.ckpts[-1]["path"]
            return {
                "id": self.id,
                "task": "Reach",
                "experiment": self.experiment,
                "checkpoint": ck,
                "epoch": 9,
                "reloads": self.reloads,
                "last_reload_time": time.time(),
                "last_reload_error": None,
                "reload_interval": self.interval,
                "paused": self.paused,
                "pinned": self.pinned,
                "episodes": 4,
                "mean_return": 1.5,
                "success_rate": 0.25,
                "reward_terms": {"distance": -0.5 - self.reloads, "closeBonus": 2.0},
                "fps": 25.0,
                "state": "paused" if self.paused else "running",
                "training": {
                    "state": "training",
                    "epoch": 45,
                    "max_epochs": 300,
                    "env_steps": 1_234_567,
                    "success_rate": 0.34,
                    "eta_s": 720,
                    "updated": time.time(),
                    **self.training_disk,
                },
            }

    def reload_now(self):
        with self.lock:
            self.reloads += 1
        return self.status()

    def set_reload_interval(self, seconds):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise ValueError("seconds must be a number >= 0")
        with self.lock:
            self.interval = float(seconds)
        return self.status()

    def pin(self, checkpoint):
        if checkpoint not in [c["path"] for c in self.ckpts]:
            raise ValueError(f"{checkpoint} is outside the runs root")
        with self.lock:
            self.pinned = checkpoint
        return self.status()

    def unpin(self):
        with self.lock:
            self.pinned = None
        return self.status()

    def pause(self):
        with self.lock:
            self.paused = True
        return self.status()

    def resume(self):
        with self.lock:
            self.paused = False
        return self.status()

    def checkpoints(self):
        return list(self.ckpts)

    def eval_history(self):
        return [
            {
                "epoch": c["epoch"],
                "checkpoint": c["path"],
                "episodes": 5,
                "mean_return": c["epoch"] / 3,
                "success_rate": 0.1 * c["epoch"] / 3,
            }
            for c in self.ckpts
        ]


class ControlServer:
    """The stand-in's control API over HTTP on 127.0.0.1 (what the stack's streamer proxies to)."""

    # the contract's operations the stand-in has (no clips): (method, path) -> method name
    ROUTES = {(op.method, op.path): op.name for op in OPERATIONS.values() if hasattr(StandInTester, op.name)}

    def __init__(self, tester: StandInTester, token=None):
        outer = self
        self.tester, self.token, self.auth_seen = tester, token, []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                name = outer.ROUTES.get((self.command, self.path))
                outer.auth_seen.append(self.headers.get("Authorization"))
                if name is None:
                    return self._send(404, {"error": "no such path"})
                if (
                    outer.token
                    and self.command != "GET"
                    and self.headers.get("Authorization") != f"Bearer {outer.token}"
                ):
                    return self._send(401, {"error": "token", "field": "Authorization"})
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                args = [OPERATIONS[name].body] if OPERATIONS[name].body else []
                try:
                    self._send(200, getattr(outer.tester, name)(*[body.get(a) for a in args]))
                except ValueError as e:
                    self._send(400, {"error": str(e), "field": args[0] if args else None})

            def _send(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Pusher:
    """Pushes status (with control_url) and frames to a streamer over the real ingest API.

    Without the token, the streamer's first answer gives it a secret, which every later push carries
    (as the real tester's publisher does)."""

    def __init__(
        self,
        streamer_url,
        tester: StandInTester,
        control_url=None,
        token=None,
        fps=25.0,
        frames=None,
        size=(320, 240),
        noise=False,
        pool=0,
    ):
        self.base = f"{streamer_url}/ingest/{tester.id}"
        self.tester, self.control_url, self.fps, self.size, self.noise = tester, control_url, fps, size, noise
        # pool=N: cycle through N frames encoded up front, so a benchmark's source keeps its rate
        self.pool = [self._jpeg(i) for i in range(pool)]
        self.frames = frames  # None = until stop()
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.sent: list[bytes] = []  # every frame pushed, in order (seq n is sent[n-1])
        self._stop = threading.Event()
        self._thread = None

    def push_status(self):
        body = {**self.tester.status(), **({"control_url": self.control_url} if self.control_url else {})}
        r = self.session.post(self.base + "/status", json=body, timeout=5)
        r.raise_for_status()
        self.secret = r.json().get("secret") or getattr(self, "secret", None)
        if r.json().get("secret"):
            self.session.headers["Authorization"] = f"Bearer {self.secret}"
        return r.json()

    def push_frame(self, jpeg):
        self.sent.append(jpeg)  # before the POST: a viewer may see it before the POST returns
        r = self.session.post(self.base + "/frame", data=jpeg, headers={"Content-Type": "image/jpeg"}, timeout=5)
        r.raise_for_status()

    def _run(self):
        i, last_status = len(self.sent), 0.0
        while not self._stop.is_set() and (self.frames is None or i < self.frames):
            if time.monotonic() - last_status > 0.5:
                self.push_status()
                last_status = time.monotonic()
            self.push_frame(self.pool[i % len(self.pool)] if self.pool else self._jpeg(i))
            i += 1
            self._stop.wait(1.0 / self.fps)

    def _jpeg(self, i):
        return jpeg_of(i, *self.size, quality=70 if self.noise else 80, noise=self.noise)

    def start(self):
        self._stop.clear()
        self.push_status()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self, timeout=120):
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "pusher did not finish"

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(10)


def iter_parts(resp, chunk_size=65536):
    """(seq, jpeg) pairs from a requests streaming response of multipart/x-mixed-replace."""
    return read_parts(resp.iter_content(chunk_size))


def slow_chunks(url_base, path, fast_after: threading.Event, pause=0.05, rcvbuf=16384):
    """A viewer on a slow link: small receive buffer, 1 KB every `pause` s until `fast_after` is set.

    Plain socket and HTTP/1.0 (no chunked encoding), so nothing in between reads ahead for it.
    """
    host, port = url_base.split("//")[1].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(30)
    sock.connect((host, int(port)))
    try:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(1)
        assert b" 200 " in head.split(b"\r\n")[0], head
        while True:
            data = sock.recv(1024)
            if not data:
                return
            yield data
            if not fast_after.is_set():
                time.sleep(pause)
    finally:
        sock.close()


def watch(url, out, stop):
    """A normal viewer: reads the stream as fast as it comes, noting (arrival, seq) of each frame."""
    with requests.get(url, stream=True, timeout=30) as resp:
        for seq, _ in iter_parts(resp, chunk_size=16384):
            out.append((time.monotonic(), seq))
            if stop.is_set():
                return


def watch_slowly(host, port, path, out, stop):
    """A slow viewer: takes one frame a second off a small socket buffer (a phone on a bad link)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.settimeout(30)
    sock.connect((host, port))
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())

    def chunks():
        while data := sock.recv(4096):
            yield data

    try:
        for seq, _ in read_parts(chunks()):
            out.append((time.monotonic(), seq))
            if stop.wait(1.0):
                return
    finally:
        sock.close()


def stalled_viewer(host, port, path) -> socket.socket:
    """Connects, takes the response head and never reads again (a tab frozen in the background)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
    assert b" 200 " in sock.recv(64)
    return sock
