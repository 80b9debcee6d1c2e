"""Who needs the tester's rendered frames right now: render (and JPEG-encode) only while someone does.

Two kinds of readers:
- remote: the streamer counts a tester's MJPEG viewers and the dashboard's snapshot tiles, and says the
  number in its answer to every status and frame the tester pushes (`{"readers": N}`);
- local: code inside the tester that consumes frames itself, e.g. a clip recorder. It holds a reader
  for as long as it records, and the tester renders at the configured fps meanwhile:

      tester.broadcast.frame_listeners.append(recorder.add_jpeg)   # each frame made, as JPEG bytes
      with tester.readers.hold("clip"):      # or readers.add("clip") ... readers.remove("clip")
          ...                                # frames are made while this block runs

Until a streamer has said anything (an older streamer, a test's stand-in publisher) the remote count is
unknown and a tester with a publisher renders as it always did. A 3D viewer is not a reader: it gets
the simulation state, not frames (view3d.py).
"""

from __future__ import annotations

import collections
import contextlib
import threading


class Readers:
    def __init__(self):
        self._lock = threading.Lock()
        self._local: collections.Counter[str] = collections.Counter()
        self.remote: int | None = None  # None: the streamer has not said

    def set_remote(self, count: int) -> None:
        self.remote = max(0, int(count))

    def add(self, name: str) -> None:
        with self._lock:
            self._local[name] += 1

    def remove(self, name: str) -> None:
        with self._lock:
            self._local[name] -= 1
            if self._local[name] <= 0:
                del self._local[name]

    @contextlib.contextmanager
    def hold(self, name: str):
        """Count as a frame reader for the duration of the `with` block."""
        self.add(name)
        try:
            yield self
        finally:
            self.remove(name)

    def local(self) -> dict[str, int]:
        with self._lock:
            return dict(self._local)

    def count(self) -> int | None:
        """Every reader the tester knows of; None while the streamer's share is unknown and nothing local reads."""
        local = sum(self.local().values())
        if self.remote is None:
            return local or None
        return self.remote + local

    def wanted(self, publishing: bool) -> bool:
        """Whether to render now. `publishing`: frames go to a streamer (which may not have said yet)."""
        if self.local():
            return True
        return publishing and (self.remote is None or self.remote > 0)
