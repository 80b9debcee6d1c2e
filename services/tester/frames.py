"""Frames for viewers: the rendered image plus an overlay, JPEG-encoded once, at most `fps` a second.

The streamer fans the same bytes out to every viewer, so encoding happens here, once per frame. Each
frame also says in a JPEG comment what it shows (`policycast state=running epoch=12 experiment=...`),
so a saved snapshot, a script or a test can tell a policy's frame from a placeholder without OCR.
"""

from __future__ import annotations

import re
import struct
import time

import cv2
import numpy as np

FLASH_S = 0.8  # how long the border flashes after a reload
FLASH_RGB = (255, 210, 0)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_OUTLINE = np.ones((3, 3), np.uint8)  # the dark rim: one pixel all round every stroke
COMMENT_PREFIX = b"policycast "


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
        lines = [
            f"{self.task}  {experiment}",
            f"epoch {epoch if epoch is not None else '?'}   return {episode_return:8.2f}",
        ]
        if extra:
            lines.append(extra)
        self._text_block(img, lines)
        if time.monotonic() < self.flash_until:
            h, w = img.shape[:2]
            t = max(6, w // 60)
            img[:t], img[-t:], img[:, :t], img[:, -t:] = FLASH_RGB, FLASH_RGB, FLASH_RGB, FLASH_RGB
            self._text(img, "RELOADED", (w - 10 - 9 * 16, 30), FLASH_RGB)
        return with_comment(self.encode(img), f"state=running epoch={epoch} experiment={experiment}")

    def waiting(self, experiment: str | None, detail: str = "") -> bytes:
        """What viewers see before any checkpoint exists (encoded again only when its text changes)."""
        lines = [f"{self.task}  {experiment or ''}", "waiting for the first checkpoint"]
        if detail:
            lines.append(detail[:70])
        if self._waiting is None or self._waiting[0] != lines:
            img = np.full((self.height, self.width, 3), 32, np.uint8)
            self._text_block(img, lines)
            self._waiting = (lines, with_comment(self.encode(img), f"state=waiting experiment={experiment or ''}"))
        return self._waiting[1]

    def annotate(self, img: np.ndarray, lines: list[str], size: float = 1.0) -> None:
        """Draw `lines` top left on `img` (in place), as the stream's overlay looks (`size` times as
        large): clips and montages use it too."""
        self._text_block(img, lines, size)

    def _text_block(self, img, lines, size: float = 1.0) -> None:
        scale = max(0.4, img.shape[1] / 1280) * size
        step = int(28 * scale / 0.5)
        for i, line in enumerate(lines):
            self._text(img, line, (10, step * (i + 1)), (255, 255, 255), scale)

    @staticmethod
    def _text(img, text, org, color, scale=0.6):
        """`text` in `color` with a dark outline, so it reads on any background.

        The outline is the text's own mask grown by one pixel, not a second, thicker putText: Hershey
        glyphs advance by the stroke thickness, so a thick outline drifts right of the thin text along a
        line and the two read as doubled text.
        """
        (w, h), base = cv2.getTextSize(text, _FONT, scale, 1)
        H, W = img.shape[:2]
        x0, y0 = max(org[0] - 2, 0), max(org[1] - h - 2, 0)
        x1, y1 = min(org[0] + w + 2, W), min(org[1] + base + 2, H)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.putText(mask, text, (org[0] - x0, org[1] - y0), _FONT, scale, 255, 1, cv2.LINE_AA)
        rim = cv2.dilate(mask, _OUTLINE)[..., None].astype(np.float32) / 255
        ink = mask[..., None].astype(np.float32) / 255
        roi = img[y0:y1, x0:x1].astype(np.float32) * (1 - rim)  # darken under the rim
        img[y0:y1, x0:x1] = (roi * (1 - ink) + np.float32(color) * ink + 0.5).astype(np.uint8)


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The JPEG with a COM segment right after SOI saying what the frame shows (decoders skip it)."""
    body = COMMENT_PREFIX + text.encode()[:60000]
    return jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def frame_comment(jpeg: bytes) -> dict[str, str] | None:
    """What `with_comment` wrote, as a dict (`{"state": "running", "epoch": "12", ...}`); None when absent."""
    if jpeg[2:4] != b"\xff\xfe":
        return None
    size = struct.unpack(">H", jpeg[4:6])[0]
    body = jpeg[6 : 4 + size]
    if not body.startswith(COMMENT_PREFIX):
        return None
    return dict(re.findall(r"(\w+)=(\S*)", body[len(COMMENT_PREFIX) :].decode(errors="replace")))
