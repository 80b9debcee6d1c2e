"""Frames for viewers: the rendered image plus an overlay, JPEG-encoded once, at most `fps` a second.

The streamer fans the same bytes out to every viewer, so encoding happens here, once per frame.
"""
from __future__ import annotations

import time

import cv2
import numpy as np

FLASH_S = 0.8  # how long the border flashes after a reload
FLASH_RGB = (255, 210, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class RateLimiter:
    """`due()` is true at most `fps` times a second (a frame skipped is not owed later)."""

    def __init__(self, fps: float):
        self.period = 1.0 / float(fps)
        self.next = 0.0

    def due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now < self.next:
            return False
        # steady cadence; after a stall, restart from now rather than bursting to catch up
        self.next = self.next + self.period if now - self.next < self.period else now + self.period
        return True


class FrameMaker:
    def __init__(self, task: str, width: int = 640, height: int = 480, jpeg_quality: int = 80):
        self.task, self.width, self.height = task, width, height
        self.params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
        self.flash_until = 0.0
        self._waiting: tuple[list[str], bytes] | None = None  # (its text, its JPEG)

    def flash(self) -> None:
        """Mark a reload: the next frames carry a bright border and a 'reloaded' tag."""
        self.flash_until = time.monotonic() + FLASH_S

    def encode(self, rgb: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), self.params)
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    def frame(self, rgb: np.ndarray, experiment: str, epoch, episode_return: float, extra: str = "") -> bytes:
        """Overlay task, experiment, checkpoint epoch and the running episode return; JPEG bytes."""
        img = np.ascontiguousarray(rgb)
        lines = [f"{self.task}  {experiment}",
                 f"epoch {epoch if epoch is not None else '?'}   return {episode_return:8.2f}"]
        if extra:
            lines.append(extra)
        self._text_block(img, lines)
        if time.monotonic() < self.flash_until:
            h, w = img.shape[:2]
            t = max(6, w // 60)
            img[:t], img[-t:], img[:, :t], img[:, -t:] = FLASH_RGB, FLASH_RGB, FLASH_RGB, FLASH_RGB
            self._text(img, "RELOADED", (w - 10 - 9 * 16, 30), FLASH_RGB)
        return self.encode(img)

    def waiting(self, experiment: str | None, detail: str = "") -> bytes:
        """What viewers see before any checkpoint exists (encoded again only when its text changes)."""
        lines = [f"{self.task}  {experiment or ''}", "waiting for the first checkpoint"]
        if detail:
            lines.append(detail[:70])
        if self._waiting is None or self._waiting[0] != lines:
            img = np.full((self.height, self.width, 3), 32, np.uint8)
            self._text_block(img, lines)
            self._waiting = (lines, self.encode(img))
        return self._waiting[1]

    def _text_block(self, img, lines) -> None:
        scale = max(0.4, img.shape[1] / 1280)
        step = int(28 * scale / 0.5)
        for i, line in enumerate(lines):
            self._text(img, line, (10, step * (i + 1)), (255, 255, 255), scale)

    @staticmethod
    def _text(img, text, org, color, scale=0.6):
        # A dark outline keeps the text readable on any background.
        cv2.putText(img, text, org, _FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, org, _FONT, scale, color, 1, cv2.LINE_AA)
