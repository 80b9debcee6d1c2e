"""Slow clients cost a bounded amount: 100 connections trickling header lines at each server, and
meanwhile `/healthz` answers within a second and the tester keeps pushing frames; the server then shuts
each trickling connection once its request has not arrived in READ_DEADLINE_S."""

import socket
import threading
import time

import requests

from services.core.http import READ_DEADLINE_S
from tests.security.conftest import TESTER

CONNECTIONS = 100
LINE_EVERY_S = 2.0  # well inside cheroot's 10 s read timeout: only the deadline ends them


def trickle(host: str, port: int, n: int) -> list[socket.socket]:
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n".encode())
        socks.append(s)
    return socks


def frames_received(url) -> int:
    return requests.get(f"{url}/stats", timeout=5).json()["testers"][TESTER]["frames_received"]


def test_slow_clients_starve_neither_healthz_nor_the_testers_pushes(served):
    targets = [(served.url, "streamer"), (served.control_url, "tester")]
    watching = threading.Event()

    def viewer():  # someone watches: the tester renders and pushes frames all along
        with requests.get(f"{served.url}/stream/{TESTER}", stream=True, timeout=30) as r:
            for _ in r.iter_content(4096):
                if watching.is_set():
                    return

    threading.Thread(target=viewer, daemon=True).start()
    time.sleep(1)  # the tester hears of its reader with its next push
    socks = {
        name: trickle(base.split("//")[1].split(":")[0], int(base.rsplit(":", 1)[1]), CONNECTIONS)
        for base, name in targets
    }
    frames_at_start = frames_received(served.url)
    started = time.monotonic()
    worst = {name: 0.0 for _, name in targets}
    closed: dict[tuple[str, int], float] = {}
    try:
        while time.monotonic() - started < READ_DEADLINE_S + 6 and len(closed) < 2 * CONNECTIONS:
            for name, group in socks.items():
                for i, s in enumerate(group):
                    if (name, i) in closed:
                        continue
                    try:
                        s.sendall(b"X-Slow: 1\r\n")
                        s.setblocking(False)
                        gone = s.recv(1) == b""  # a shut connection reads EOF
                    except BlockingIOError:
                        gone = False
                    except OSError:
                        gone = True
                    finally:
                        s.setblocking(True)
                    if gone:
                        closed[(name, i)] = time.monotonic() - started
            for base, name in targets:
                t0 = time.monotonic()
                assert requests.get(f"{base}/healthz", timeout=5).ok
                worst[name] = max(worst[name], time.monotonic() - t0)
            time.sleep(LINE_EVERY_S)
        pushed = frames_received(served.url) - frames_at_start
    finally:
        watching.set()
        for group in socks.values():
            for s in group:
                s.close()
    elapsed = time.monotonic() - started
    print(f"healthz worst: {worst}; frames pushed meanwhile: {pushed} in {elapsed:.1f} s; closed {len(closed)}")
    assert all(w < 1.0 for w in worst.values()), worst
    assert pushed >= elapsed  # argv_tester renders at 10 fps: at least one a second even on a loaded machine
    assert len(closed) == 2 * CONNECTIONS, f"{2 * CONNECTIONS - len(closed)} trickling connections still open"
    assert max(closed.values()) < READ_DEADLINE_S + 2 * LINE_EVERY_S + 2
