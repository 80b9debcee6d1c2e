"""World 0 as the stream shows it: rendered at most once per control step, shared by the stream and clips."""

from __future__ import annotations

import numpy as np


class Camera:
    """`test.render`'s view (width, height, camera, tile) of the env the tester plays.

    The loop says when it stepped (`stepped`), reset the worlds (`forget`: a frame of this step rendered
    before the reset is stale) or moved to another task's worlds (`aim`). Do not draw on the frame
    `rendered()` gives: the stream and the clip recorder share it.
    """

    def __init__(self, env, width: int = 640, height: int = 480, camera: str = "fixed", tile: int = 1):
        self.env = env
        self.args = {"width": width, "height": height, "camera": camera, "tile": tile}
        self.steps = 0  # control steps taken: a frame's age is counted in them
        self._frame: tuple[int, np.ndarray] | None = None  # (steps, rgb)

    def stepped(self) -> None:
        self.steps += 1

    def forget(self) -> None:
        self._frame = None

    def aim(self, env) -> None:
        self.env = env
        self.forget()

    def rendered(self, max_age: int = 0) -> np.ndarray:
        """World 0 now; `max_age`: a frame up to that many steps old will do (the stream's 25 fps and a
        clip's every-other-step then need one render, not two)."""
        if self._frame is None or self.steps - self._frame[0] > max_age:
            self._frame = (self.steps, self.env.render(**self.args))
        return self._frame[1]
