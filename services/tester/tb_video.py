"""Clips as TensorBoard videos too (`test.clips.tensorboard`): a small GIF per clip in the eval dir's
event file, beside the eval curves. torch's add_video makes the GIF through moviepy 1.x, checked at
start: without it the clips go on without their TensorBoard copy."""

from __future__ import annotations

import os

import numpy as np

TB_WIDTH = 160  # GIFs in the event file: small ones


def tensorboard_videos_work() -> bool:
    """Whether torch's add_video can make its GIFs (moviepy 1.x); one warning line when not."""
    from .optional import start

    # moviepy's pygame import must not look for a display or a sound card.
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return start("TensorBoard clip videos", lambda: __import__("moviepy.editor"), "moviepy").error is None


class TensorBoardVideo:
    """The frames of the clip under way, shrunk to about TB_WIDTH pixels wide."""

    def __init__(self):
        self.frames: list[np.ndarray] = []

    def restart(self) -> None:
        self.frames = []

    def add(self, img: np.ndarray) -> None:
        step = max(1, img.shape[1] // TB_WIDTH)
        self.frames.append(img[::step, ::step])

    def write(self, writer, tag: str, step: int, fps: float) -> None:
        import torch

        video = torch.from_numpy(np.stack(self.frames)).permute(0, 3, 1, 2).unsqueeze(0)  # (1, T, C, H, W)
        writer.add_video(tag, video, global_step=step, fps=fps)
        self.frames = []
