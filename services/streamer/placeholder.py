"""The frame a viewer sees when there is nothing live to show (no tester yet, or tester offline)."""

from __future__ import annotations

import cv2
import numpy as np

WIDTH, HEIGHT = 640, 480


def placeholder_jpeg(title: str, line: str, quality: int = 80) -> bytes:
    """A dark card with two lines of text, JPEG-encoded (callers cache it: it is encoded once)."""
    img = np.full((HEIGHT, WIDTH, 3), (40, 34, 30), np.uint8)  # BGR: dark slate
    cv2.rectangle(img, (0, 0), (WIDTH - 1, HEIGHT - 1), (90, 90, 90), 2)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for text, y, scale, colour in (
        (title, HEIGHT // 2 - 20, 1.0, (235, 235, 235)),
        (line, HEIGHT // 2 + 30, 0.7, (140, 170, 255)),
    ):
        (w, _), _ = cv2.getTextSize(text, font, scale, 2)
        cv2.putText(img, text, ((WIDTH - w) // 2, y), font, scale, colour, 2, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok, "OpenCV could not encode the placeholder frame"
    return buf.tobytes()
