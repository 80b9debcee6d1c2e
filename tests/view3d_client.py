"""A 3D viewer on the wire: what MuJoCo's web viewer page does over the network, without rendering.

It takes the controller slot (WebSocket /ui: the Studio UI Hello handshake, then an ack of every UI
frame, as the page does) and reads the state stream (/state, acking every payload as the page does),
counting bytes. Tests use it where a real browser is not the point; bench/view_cost.py uses it as the
"3D viewer" whose browser renders on the user's machine.

Written for MuJoCo 4.0.1's wire protocol (mujoco-studio-wasm 4.0.1), read off a real page in Chromium:
every /ui binary message starts with a u32 size, a u16, a u8 type and a u8 version (1); the page's Hello
is type 1 with nothing after it, and the viewer answers with its own; type 4 is a UI frame, whose u32 at
byte 8 is its index, acked with the text `ui_ack=<index>`. A MuJoCo that changes it fails the tests
that use this client at the handshake, with the viewer's own reason.
"""

from __future__ import annotations

import struct
import threading
import time
import uuid
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

HELLO = struct.pack("<IHBB", 8, 0, 1, 1)
FRAME = 4


class WireViewer:
    def __init__(self, url: str, controller: bool = True):
        self.base = "ws://" + urlsplit(url).netloc
        self.controller = controller
        self.sid = uuid.uuid4().hex[:12]
        self.bytes_in = 0
        self.payloads = 0
        self.ui_frames = 0
        self._socks: list = []
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> WireViewer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> WireViewer:
        state = connect(f"{self.base}/state?sid={self.sid}", max_size=None, open_timeout=timeout)
        self._socks = [state]
        self._threads = [threading.Thread(target=self._read_state, args=(state,), daemon=True)]
        if self.controller:
            self._socks.append(self._take_control(timeout))
            self._threads.append(threading.Thread(target=self._read_ui, args=(self._socks[-1],), daemon=True))
        for t in self._threads:
            t.start()
        return self

    def _take_control(self, timeout: float):
        deadline = time.monotonic() + timeout
        while True:  # a page that just left may hold the slot a moment longer
            ui = connect(f"{self.base}/ui?sid={self.sid}", max_size=None, open_timeout=timeout)
            try:
                ui.send(HELLO)
                reply = ui.recv(timeout=max(1.0, deadline - time.monotonic()))
                if reply != HELLO:
                    raise RuntimeError(f"the viewer answered the Hello with {reply!r}: not the 4.0.1 protocol")
                return ui
            except ConnectionClosed as e:
                ui.close()
                if e.rcvd is not None and e.rcvd.code == 1008:  # policy violation: the viewer refused our Hello
                    raise RuntimeError(f"the viewer refused the Hello: {e.rcvd.reason}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no controller slot on {self.base} within {timeout} s") from None
                time.sleep(0.2)

    def _read_state(self, ws) -> None:
        try:
            for message in ws:
                self.bytes_in += len(message)
                if isinstance(message, bytes):
                    self.payloads += 1
                    ws.send("state_ack")  # the page acks each state payload (at most 8 in flight)
        except (ConnectionClosed, OSError):
            pass

    def _read_ui(self, ws) -> None:
        try:
            for message in ws:
                self.bytes_in += len(message)
                if isinstance(message, bytes) and len(message) >= 12 and message[6] == FRAME:
                    self.ui_frames += 1
                    ws.send(f"ui_ack={struct.unpack_from('<I', message, 8)[0]}")  # one UI frame in flight
        except (ConnectionClosed, OSError):
            pass

    def stop(self) -> None:
        for ws in self._socks:
            ws.close()
        for t in self._threads:
            t.join(5)
