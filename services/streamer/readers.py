"""Who reads a tester's frames, counted by the streamer and told to the tester (it renders only then).

A tester's readers are its open MJPEG streams (`Channel.viewers`) plus the pages polling its snapshot:
the dashboard's tiles after the first three fetch `/snapshot/<id>` twice a second, each page with a
`reader=<random id>` of its own. A snapshot reader counts for SNAPSHOT_READER_S after its last fetch.
The count goes back to the tester in the answer to every status and frame it pushes.
"""

from __future__ import annotations

import threading
import time

SNAPSHOT_READER_S = 3.0  # six 2 Hz polls: a tile that stopped polling stops counting soon after
MAX_SNAPSHOT_READERS = 1024  # distinct keys remembered at most (a script inventing keys cannot grow memory)


class SnapshotReaders:
    def __init__(self):
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}

    def seen(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            if key in self._seen or len(self._seen) < MAX_SNAPSHOT_READERS:
                self._seen[key] = now

    def count(self) -> int:
        with self._lock:
            self._prune(time.monotonic())
            return len(self._seen)

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if now - t > SNAPSHOT_READER_S]:
            del self._seen[key]
