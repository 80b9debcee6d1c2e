"""A 3D viewer on the wire: what MuJoCo's web viewer page does over the network, without rendering.

It takes the controller slot (WebSocket /ui: NetImgui's version handshake, answered with the viewer's
own version message, which a first short connection fetches) and reads the state stream (/state,
acking every payload as the page does), counting bytes. Tests use it where a real browser is not the
point; bench/view_cost.py uses it as the "3D viewer" whose browser renders on the user's machine.
"""

from __future__ import annotations

import threading
import time
import uuid
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

VERSION_BYTES = 120  # NetImgui's CmdVersion


class WireViewer:
    def __init__(self, url: str):
        self.base = "ws://" + urlsplit(url).netloc
        self.sid = uuid.uuid4().hex[:12]
        self.bytes_in = 0
        self.payloads = 0
        self._socks: list = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> WireViewer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> WireViewer:
        deadline = time.monotonic() + timeout
        with connect(f"{self.base}/ui?sid=probe-{self.sid}", max_size=None, open_timeout=timeout) as probe:
            probe.send(bytes(VERSION_BYTES))
            version = probe.recv(timeout=timeout)
        while True:  # the probe's slot is released a moment after it closed
            ui = connect(f"{self.base}/ui?sid={self.sid}", max_size=None, open_timeout=timeout)
            try:
                ui.send(version)
                ui.recv(timeout=max(1.0, deadline - time.monotonic()))  # the viewer's version: bridged
                break
            except ConnectionClosed:
                ui.close()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no controller slot on {self.base} within {timeout} s") from None
                time.sleep(0.2)
        state = connect(f"{self.base}/state?sid={self.sid}", max_size=None, open_timeout=timeout)
        self._socks = [ui, state]
        self._threads = [
            threading.Thread(target=self._read, args=(ui, False), daemon=True),
            threading.Thread(target=self._read, args=(state, True), daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def _read(self, ws, ack: bool) -> None:
        try:
            for message in ws:
                self.bytes_in += len(message)
                if ack and isinstance(message, bytes):
                    self.payloads += 1
                    ws.send("state_ack")  # the page acks each state payload (at most 8 in flight)
        except (ConnectionClosed, OSError):
            pass

    def stop(self) -> None:
        for ws in self._socks:
            ws.close()
        for t in self._threads:
            t.join(5)
