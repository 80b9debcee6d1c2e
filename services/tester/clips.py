"""Clips: a video of world 0 for every checkpoint the tester plays (or every episode, config=test_record).

After each swap the tester records world 0's next *complete* episode under the new weights (the episode
running at the swap began under the old ones; when the swap resets the worlds, as the first checkpoint
and seeded evaluation do, that is the episode starting now), at the stream's size, with the epoch, the
running return and success drawn on it. It becomes `eval/<tester id>/clips/epoch_<E>.<mp4|webm>`
and a sidecar `epoch_<E>.json` (epoch, checkpoint, return, success, length, per-term rewards). A swap
during the recording ends it without a file. `every=episode` records every episode of world 0 instead,
to `<test experiment>/videos/episode_<N>_epoch_<E>.*` (the seed's `config=test_record`).

Here, the recorder's episode state machine; its folder (names, sidecars, listing, thinning) is
clip_folder.py, the encoding video.py. Frames come from `render()` (camera.py), one every `stride`
control steps while it records: a clip plays at its true speed whatever the stream does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .clip_folder import ClipFolder
from .tb_video import TensorBoardVideo, tensorboard_videos_work
from .video import VideoFile, check_encoder, clip_rate

log = logging.getLogger("tester.clips")


@dataclass(frozen=True)
class ClipSettings:
    """`test.clips` as resolved at start, with the stream's fps (a clip's frame rate follows it)."""

    every: str = "checkpoint"  # or "episode"
    keep: int = 30
    fmt: str = "mp4"
    tensorboard: bool = False
    fps: float = 25.0
    videos_dir: Path | None = None  # every=episode: the test experiment's videos/


class ClipRecorder:
    """Records world 0's episodes for the tester; driven by `swapped()` and `stepped()` from its loop.
    `annotate(img, lines)` draws the overlay (frames.FrameMaker); `readers` is the tester's readers.Readers."""

    def __init__(
        self, tester_id: str, task: str, dt: float, settings: ClipSettings, render: Callable, annotate, readers
    ):
        check_encoder(settings.fmt)  # here, not on the first clip: a broken install costs the clips at start
        self.id, self.task, self.settings = tester_id, task, settings
        self.every_episode = settings.every == "episode"
        self.render, self.annotate, self.readers = render, annotate, readers
        self.stride, self.rate = clip_rate(dt, settings.fps)
        self.tensorboard = TensorBoardVideo() if settings.tensorboard and tensorboard_videos_work() else None
        self.folder = ClipFolder(settings.every, settings.keep, settings.fmt, settings.videos_dir)
        self.loaded = None  # reloader.Loaded now playing
        self.writer = None  # the eval dir's TensorBoard writer
        self.wanted = False  # a clip of `loaded` is still owed
        self.video: VideoFile | None = None
        self.t = 0  # control steps into the recorded episode
        self.ret, self.success = 0.0, False
        self.episodes = 0  # world 0's episodes started while recording every episode (file numbering)
        self.written = 0  # clips written by this tester (before thinning)
        self.failing = False

    # --- the tester's loop --------------------------------------------------------------------------
    def swapped(self, loaded, eval_recorder, fresh: bool) -> None:
        """New weights act from the next step. `fresh`: every world was just reset (an episode starts now)."""
        self._abort("a swap ended it")
        self.loaded, self.wanted = loaded, True
        self.writer = getattr(eval_recorder, "writer", None)
        self._guard(self.folder.follow, getattr(eval_recorder, "dir", None))
        if fresh:
            self._guard(self._start)

    def stepped(self, reward0: float, done0: bool, success0: bool, episode0: dict | None) -> None:
        """After each control step: world 0's reward, whether its episode ended (it was then reset, and
        `episode0` holds the finished one's figures) and its success flag."""
        if self.video is not None:
            self.ret += reward0
            self.success = self.success or success0
            if done0:
                self._guard(self._finish, episode0)
            else:
                self.t += 1
                if self.t % self.stride == 0:
                    self._guard(lambda: self._add(self.render()))
        if done0 and self.video is None and self.wanted:
            self._guard(self._start)  # world 0 was just reset: its next episode starts here

    def retask(self, task: str, dt: float) -> None:
        """Another task from the next step (tester.retask): its name on the frames, its control rate."""
        self._abort("the task changed")
        self.task = task
        self.stride, self.rate = clip_rate(dt, self.settings.fps)

    def close(self) -> None:
        self._abort("the tester stopped")

    # --- inside -------------------------------------------------------------------------------------
    def _reading(self, on: bool) -> None:
        """A recording is a reader of the tester's frames from `_start` to its end (finished or aborted):
        the status then says the tester renders, though no one watches."""
        if self.readers is not None:
            (self.readers.add if on else self.readers.remove)("clip")

    def _start(self) -> None:
        if self.folder.dir is None or self.loaded is None:
            return
        if self.every_episode:
            self.episodes += 1
        rgb = self.render()
        path = self.folder.video_path(self.loaded, self.episodes)
        self.video = VideoFile(path, rgb.shape[1], rgb.shape[0], self.rate, self.settings.fmt)
        self._reading(True)
        self.t, self.ret, self.success = 0, 0.0, False
        if self.tensorboard is not None:
            self.tensorboard.restart()
        self._add(rgb)

    def _add(self, rgb: np.ndarray) -> None:
        cur = self.loaded
        exp = cur.experiment.name if cur.experiment else ""
        img = np.array(rgb)  # a copy: the stream shares the rendered frame
        epoch = cur.epoch if cur.epoch is not None else "?"
        done = "success" if self.success else "no success yet"
        self.annotate(img, [f"{self.task}  {exp}", f"epoch {epoch}   return {self.ret:8.2f}", done])
        self.video.add(img)
        if self.tensorboard is not None:
            self.tensorboard.add(img)

    def _finish(self, episode0: dict | None) -> None:
        video, self.video = self.video, None
        self._reading(False)
        if video.frames < 2:  # a one-step episode is no clip
            video.abort()
            return
        path = video.finish()
        meta = self._sidecar(path, video, episode0 or {})
        self.folder.add(meta)
        self.written += 1
        log.info(
            "clip %s: epoch %s, return %.2f, %s, %d frames",
            path.name,
            meta["epoch"],
            meta["return"],
            "success" if meta["success"] else "no success",
            video.frames,
        )
        if self.tensorboard is not None and self.writer is not None and self.tensorboard.frames:
            step = meta["episode"] if self.every_episode else meta["epoch"]
            self.tensorboard.write(self.writer, f"clips/{self.id}", step, float(self.rate))
        self.wanted = self.every_episode
        self.folder.bound()

    def _sidecar(self, path: Path, video: VideoFile, ep: dict) -> dict:
        """What the API lists for a clip: the checkpoint, the episode's figures and the video's."""
        cur, terms = self.loaded, ep.get("reward_terms")
        meta = {
            "name": path.name,
            "epoch": cur.epoch,
            "checkpoint": cur.path.name,
            "experiment": cur.experiment.name if cur.experiment else None,
            "tester": self.id,
            "return": round(float(ep.get("return", self.ret)), 6),
            "success": bool(ep.get("success", self.success)),
            "length": int(ep.get("length", self.t + 1)),
            "reward_terms": {k: round(float(v), 6) for k, v in terms.items()} if terms else None,
            "frames": video.frames,
            "fps": float(self.rate),
            "width": video.size[0],
            "height": video.size[1],
            "format": self.settings.fmt,
            "recorded_at": time.time(),
        }
        return {**meta, "episode": self.episodes} if self.every_episode else meta

    def _abort(self, why: str) -> None:
        if self.video is not None:
            video, self.video = self.video, None
            video.abort()
            self._reading(False)
            log.info("clip of epoch %s not kept: %s", self.loaded.epoch if self.loaded else "?", why)

    def _guard(self, step, *args) -> None:
        """A clip is an extra: a failure (disk full, encoder error) costs the clip, never the tester."""
        try:
            step(*args)
        except Exception as e:  # noqa: BLE001
            self._abort("failed")
            if not self.failing:
                log.warning("clips: %s: %s (the tester plays on; later clips are tried again)", type(e).__name__, e)
            self.failing = True
        else:
            self.failing = False
