"""Video files for clips and montages: PyAV (FFmpeg's libx264 or libvpx-vp9, both play in Chromium),
written to a hidden temp name and renamed whole, so a reader never sees half a file."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from services.core.experiments import temp_sibling

# format -> (codec, codec options, muxer options). The fastest presets: the tester encodes between two
# steps, on cores it shares with the trainer (x264 ultrafast: ~5 ms a 640x480 frame here, half of
# veryfast's, for ~3x the bytes: ~120 KB for a 2 s Reach clip).
FORMATS = {
    "mp4": (
        "libx264",
        {"preset": "ultrafast", "crf": "26", "tune": "animation"},
        {"movflags": "+faststart"},
    ),  # the index up front: a browser starts playing before the end
    "webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "34", "b": "0", "row-mt": "1"}, {}),
}


def check_encoder(fmt: str) -> None:
    """Raise now (ImportError, ValueError) when PyAV or this FFmpeg build lacks `fmt`'s encoder."""
    import av

    av.codec.Codec(FORMATS[fmt][0], "w")


def clip_rate(dt: float, fps: float) -> tuple[int, Fraction]:
    """(control steps per clip frame, clip frames per second): the stream's rate, at true speed."""
    stride = max(1, round(1.0 / (float(dt) * float(fps))))
    return stride, Fraction(1.0 / (float(dt) * stride)).limit_denominator(1001)


class VideoFile:
    """One video written by PyAV to a hidden temp name beside `path`; `finish()` renames it into place."""

    def __init__(self, path: Path, width: int, height: int, rate: Fraction, fmt: str = "mp4"):
        import av

        codec, options, muxer = FORMATS[fmt]
        self.path, self.tmp, self.frames = Path(path), temp_sibling(path), 0
        self.size = (width - width % 2, height - height % 2)  # yuv420p needs even sides
        self.container = av.open(str(self.tmp), "w", format=fmt, options=muxer)
        self.stream = self.container.add_stream(codec, rate=rate, options=options)
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"

    def add(self, rgb: np.ndarray) -> None:
        import av

        w, h = self.size
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
        frame.pts = self.frames
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def finish(self) -> Path:
        try:
            self.container.mux(self.stream.encode())  # flush the encoder's delayed frames
            self.container.close()
            with open(self.tmp, "rb+") as f:
                os.fsync(f.fileno())  # on disk before it has its name: a crash leaves old or whole
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing or half-written: the file goes anyway
            pass
        self.tmp.unlink(missing_ok=True)
