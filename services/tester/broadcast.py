"""What the tester shows: world 0's frames for viewers, its status for the streamer, the 3D view.

Frames are made (overlay, JPEG) at most `fps` a second and only while someone reads them (readers.py),
then handed to the publisher (the streamer: publish.py over HTTP, or its hub's in-process publisher) and
to every frame listener. The status goes to the publisher every second, 4x as often while nobody reads:
its answer is how a new viewer's arrival is learnt, so frames then flow within a fraction of a second.
The publisher hands the streamer's answers to `heard` (its `on_reply`). The 3D view (view3d.py) is sent
world 0's state; if it fails while running it goes, and the tester plays on.
"""

from __future__ import annotations

import collections
import logging
import time

from .camera import Camera
from .frames import FrameMaker, RateLimiter
from .optional import OFF, Feature
from .readers import Readers

log = logging.getLogger("tester")
STATUS_PERIOD_S = 1.0
IDLE_STATUS_PERIOD_S = 0.25  # not rendering: how soon a new viewer is noticed
FPS_STALE_S = 2.0  # no frame for this long: the status says 0 fps (nobody reads, so nothing is rendered)


class Broadcast:
    """`publisher`: anything with publish_status(dict) and publish_frame(bytes), or None; `control_url`:
    where the tester's control API is reached, said in its status (the streamer proxies to it)."""

    def __init__(
        self,
        camera: Camera,
        frames: FrameMaker,
        fps: float,
        readers: Readers,
        publisher=None,
        view3d: Feature = OFF,
        control_url: str | None = None,
    ):
        self.camera, self.frames, self.readers, self.publisher = camera, frames, readers, publisher
        self.view3d, self.view3d_error = view3d.running, view3d.error  # view3d.View3D: world 0 in MuJoCo's web viewer
        self.control_url = control_url
        self.limiter = RateLimiter(fps)
        self.frame_listeners: list = []  # callables(jpeg bytes) given every frame made
        self.frame_times = collections.deque(maxlen=50)
        self.frames_published = 0
        self._next_status = 0.0
        if publisher is not None:
            publisher.on_reply = self.heard  # its answers say how many read our frames (render on demand)

    @property
    def rendering(self) -> bool:
        return self.readers.wanted(self.publisher is not None)

    def fps(self) -> float:
        """Frames made per second, lately (0 when none for FPS_STALE_S)."""
        times = list(self.frame_times)
        if not times or time.monotonic() - times[-1] > FPS_STALE_S or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])

    def heard(self, reply: dict) -> None:
        """The streamer's answer to a status or frame: how many read our frames, where our 3D view is."""
        if isinstance(reply.get("readers"), int):
            self.readers.set_remote(reply["readers"])
        if self.view3d is not None and "view3d_url" in reply:
            self.view3d.public_url = reply["view3d_url"]

    def publish(self, tester) -> None:
        """After each turn of the loop: the 3D view's state, a frame when one is due and read, the status
        when due."""
        if self.view3d is not None:
            self._in_view3d(self.view3d.publish, tester)
        now, rendering = time.monotonic(), self.rendering
        if rendering and self.limiter.due(now):
            jpeg = self._frame(tester)
            if self.publisher is not None:
                self.publisher.publish_frame(jpeg)
            for listener in self.frame_listeners:
                listener(jpeg)
            self.frames_published += 1
            self.frame_times.append(now)
        if self.publisher is not None and now >= self._next_status:
            self._next_status = now + (STATUS_PERIOD_S if rendering else IDLE_STATUS_PERIOD_S)
            self.publisher.publish_status(tester.status())

    def _frame(self, tester) -> bytes:
        cur, r = tester.current, tester.reloader
        if cur is None:
            return self.frames.waiting(r.experiment and r.experiment.name, r.last_error or "")
        rgb = self.camera.rendered(max_age=1).copy()  # the overlay is drawn in place: not on the shared frame
        exp = cur.experiment.name if cur.experiment else ""
        return self.frames.frame(rgb, exp, cur.epoch, tester.ep_return, "PAUSED" if tester.paused else "")

    def retask(self, kit) -> None:
        """Another task's worlds from the next step: the camera, the overlay and the 3D model follow."""
        self.camera.aim(kit.env)
        self.frames.task = kit.name
        if self.view3d is not None:
            self._in_view3d(self.view3d.show, *kit.env.world(0))

    def _in_view3d(self, call, *args) -> None:
        """The 3D view is an extra: if it fails while running, it goes, and the tester plays on."""
        try:
            call(*args)
        except Exception as e:  # noqa: BLE001
            self.view3d_error = f"{type(e).__name__}: {e}"
            log.warning("3D view stopped: %s; the tester tests, hot-reloads and streams without it", self.view3d_error)
            view, self.view3d = self.view3d, None
            view.close()

    def close(self) -> None:
        if self.view3d is not None:
            self.view3d.close()
