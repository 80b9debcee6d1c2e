"""The fan-out core: one slot per tester holding only its newest JPEG, shared by every viewer.

A tester publishes already-encoded JPEG bytes; the hub never decodes or re-encodes them. Each viewer
waits on the tester's condition for a sequence number newer than the one it last sent and then sends
the newest bytes — a viewer that fell behind skips straight to the newest frame (the skipped ones are
counted as dropped). Memory is one frame per tester, whatever the number or speed of the viewers.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import deque

from services.core.control_contract import NOT_SHOWN, STATUS_FIELDS

from .placeholder import placeholder_jpeg
from .readers import SnapshotReaders

OFFLINE_AFTER_S = 5.0  # no status and no frame for this long: the tester shows as offline
KEEPALIVE_S = 1.0  # a viewer re-sends its frame this often when nothing new arrives (detects gone viewers)
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Channel:
    """One tester: its newest frame, its last status, its control handle and its counters."""

    def __init__(self, tester_id: str, control=None):
        self.id = tester_id
        self.control = control  # in-process tester object, or a RemoteControl proxy
        # who may push as this tester (identity.py): the holder of `secret`, given to the process that
        # registered the id without the token, or (`trusted`) a process that proved the token
        self.secret = secrets.token_urlsafe(18)
        self.trusted = False
        self.cond = threading.Condition()
        self.seq = 0
        self.jpeg: bytes | None = None
        self.status: dict = {}
        self.last_seen = time.monotonic()
        self.frames_in = self.frames_out = self.frames_dropped = 0
        self.viewers = 0
        self.snapshot_readers = SnapshotReaders()
        self._arrivals: deque[float] = deque(maxlen=50)
        self._placeholder: bytes | None = None
        # the tile has no frame from the process now pushing (new, or restarted): it asks for one even
        # while nobody reads, else it would show the old process's last frame until someone does
        self.poster_wanted = True

    # --- tester side ------------------------------------------------------------------------
    def put_frame(self, jpeg: bytes) -> None:
        with self.cond:
            self.seq += 1
            self.jpeg = jpeg
            self.frames_in += 1
            self.poster_wanted = False
            self.last_seen = now = time.monotonic()
            self._arrivals.append(now)
            self.cond.notify_all()

    def put_status(self, status: dict, control=None) -> None:
        with self.cond:
            self.status = dict(status)
            if control is not None and control is not self.control:
                self.control = control
                self.poster_wanted = True  # most often another process: the tile wants a frame from it
            self.last_seen = time.monotonic()
            self.cond.notify_all()  # a viewer showing the offline placeholder resumes now

    # --- viewer side ------------------------------------------------------------------------
    def readers(self) -> int:
        """Who reads this tester's frames now."""
        return self.viewers + self.snapshot_readers.count()

    def frames_wanted(self) -> int:
        """What the tester is told as its readers (it renders only while someone does): the readers, and
        the tile itself while it waits for a first frame from this process."""
        return self.readers() + int(self.poster_wanted)

    def online(self) -> bool:
        return time.monotonic() - self.last_seen < OFFLINE_AFTER_S

    def idle(self) -> bool:
        """The tester said it renders nothing (no reader): its newest frame shows the past."""
        return self.status.get("rendering") is False

    def next_frame(self, after_seq: int, stop: threading.Event) -> tuple[int, bytes | None]:
        """Block until a frame newer than `after_seq` exists (or KEEPALIVE_S passes); newest wins.

        Returns (seq, jpeg). While offline, jpeg is the placeholder; on a keepalive tick the viewer's
        current frame is returned again (seq unchanged), so a write reaches the socket and a viewer that
        went away is noticed even when the tester is paused or gone.
        """
        with self.cond:
            self.cond.wait_for(lambda: self.seq > after_seq or stop.is_set(), timeout=KEEPALIVE_S)
            if not self.online():
                return after_seq, self.placeholder()
            if self.seq > after_seq:
                if after_seq:
                    self.frames_dropped += self.seq - after_seq - 1
                self.frames_out += 1
                return self.seq, self.jpeg
            return after_seq, self.jpeg

    def placeholder(self) -> bytes:
        if self._placeholder is None:  # encoded once per tester, on the first time it goes offline
            self._placeholder = placeholder_jpeg(f"tester {self.id}", "offline - waiting for frames")
        return self._placeholder

    def fps(self) -> float:
        """Frames received per second over the last ~2 s (0 when none)."""
        now = time.monotonic()
        recent = [t for t in list(self._arrivals) if now - t < 2.0]
        if len(recent) < 2 or recent[-1] == recent[0]:
            return 0.0
        return (len(recent) - 1) / (recent[-1] - recent[0])

    def summary(self) -> dict:
        """The dashboard's view of this tester: its status fields (the control contract's) plus its own."""
        s = self.status
        online = self.online()
        shown = {f: s.get(f) for f in STATUS_FIELDS if f not in NOT_SHOWN}
        return {
            **shown,
            "id": self.id,
            "reloads": s.get("reloads", 0),
            "episodes": s.get("episodes", 0),
            "status": (s.get("state") or "online") if online else "offline",
            "online": online,
            "last_seen_seconds": round(time.monotonic() - self.last_seen, 2),
            "has_control": self.control is not None,
            "viewers": self.viewers,
            "readers": self.readers(),
            "frames_received": self.frames_in,
            "frames_served": self.frames_out,
            "frames_dropped": self.frames_dropped,
            "stream_fps": round(self.fps(), 2),
        }


class LocalPublisher:
    """What an in-process tester holds (config=test_stream): the ingest API as two method calls.

    `on_reply` (set by the tester) gets what the HTTP ingest would answer: `{"readers": N}`. `control`: the
    tester object whose control methods the streamer calls; a tester built with this publisher gives itself
    by `serve(tester)`.
    """

    def __init__(self, hub: Hub, tester_id: str, control=None):
        self._hub, self.tester_id, self._control = hub, tester_id, None
        self.on_reply = None
        self.serve(control)

    def serve(self, control) -> None:
        self._control = control
        self._hub.channel(self.tester_id, create=True).control = control

    def publish_status(self, status: dict) -> None:
        ch = self._hub.channel(self.tester_id, create=True)
        ch.put_status(status, self._control)
        self._reply(ch)

    def publish_frame(self, jpeg: bytes) -> None:
        ch = self._hub.channel(self.tester_id, create=True)
        ch.put_frame(bytes(jpeg))
        self._reply(ch)

    def _reply(self, ch: Channel) -> None:
        if self.on_reply is not None:
            self.on_reply({"readers": ch.frames_wanted()})


class Hub:
    """All testers, in registration order (the first one is what `/stream` serves)."""

    def __init__(self, max_viewers: int | None = None):
        self.max_viewers = max_viewers  # streams beyond this get 503: keep server threads for the API
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self.stopping = threading.Event()  # set on shutdown: every viewer generator returns
        self.started = time.monotonic()
        self._waiting: bytes | None = None
        self._idle_viewers = 0  # `/stream` viewers waiting for the first tester to appear

    def count_idle_viewer(self, delta: int) -> None:
        with self._lock:
            self._idle_viewers += delta

    def channel(self, tester_id: str, create: bool = False) -> Channel | None:
        with self._lock:
            ch = self._channels.get(tester_id)
            if ch is None and create:
                if not ID_RE.match(tester_id):
                    raise ValueError(f"tester id {tester_id!r}: use 1-64 letters, digits, '_', '.', '-'")
                ch = self._channels[tester_id] = Channel(tester_id)
            return ch

    def channels(self) -> list[Channel]:
        with self._lock:
            return list(self._channels.values())

    def first(self) -> Channel | None:
        chans = self.channels()
        return chans[0] if chans else None

    def forget(self, tester_id: str) -> None:
        with self._lock:
            self._channels.pop(tester_id, None)

    def first_online(self) -> Channel | None:
        return next((c for c in self.channels() if c.online()), None)

    def local_publisher(self, tester_id: str, control=None) -> LocalPublisher:
        return LocalPublisher(self, tester_id, control)

    def waiting_jpeg(self) -> bytes:
        if self._waiting is None:
            self._waiting = placeholder_jpeg("policycast", "waiting for a tester to connect")
        return self._waiting

    def viewer_count(self) -> int:
        return sum(c.viewers for c in self.channels()) + self._idle_viewers

    def full(self) -> bool:
        return self.max_viewers is not None and self.viewer_count() >= self.max_viewers

    def stats(self) -> dict:
        """The seed's /stats fields (summed over testers) plus a per-tester breakdown."""
        chans = self.channels()
        first = chans[0] if chans else None
        return {
            "frames_received": sum(c.frames_in for c in chans),
            "frames_served": sum(c.frames_out for c in chans),
            "frames_dropped": sum(c.frames_dropped for c in chans),
            "clients_connected": self.viewer_count(),
            "uptime_seconds": round(time.monotonic() - self.started, 1),
            "current_fps": round(first.fps(), 2) if first else 0.0,
            "testers": {
                c.id: {
                    "online": c.online(),
                    "viewers": c.viewers,
                    "frames_received": c.frames_in,
                    "frames_served": c.frames_out,
                    "frames_dropped": c.frames_dropped,
                    "current_fps": round(c.fps(), 2),
                }
                for c in chans
            },
        }

    def close(self) -> None:
        self.stopping.set()
        for ch in self.channels():
            with ch.cond:
                ch.cond.notify_all()
