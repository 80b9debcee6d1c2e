"""Clips: a video of world 0 for every checkpoint the tester plays (or every episode, config=test_record).

After each swap the tester records world 0's next *complete* episode under the new weights (the episode
running at the swap began under the old ones; when the swap resets the worlds, as the first checkpoint
and seeded evaluation do, that is the episode starting now), at the stream's size, with the epoch, the
running return and success drawn on it. It becomes `eval/<tester id>/clips/epoch_<E>.<mp4|webm>`
and a sidecar `epoch_<E>.json` (epoch, checkpoint, return, success, length, per-term rewards). A swap
during the recording ends it without a file. `every=episode` records every episode of world 0 instead,
to `<test experiment>/videos/episode_<N>_epoch_<E>.*` (the seed's `config=test_record`).

A clip is encoded to a hidden temp name (`.<name>.<random>.tmp`, which nothing lists and sync skips)
and renamed whole, so a reader never sees half a file; a killed tester leaves only that temp, which the
next tester in the folder sweeps away. Each folder keeps at most `keep` clips, thinned evenly over
epochs (or episodes): the first and the newest always stay. Encoding is PyAV (FFmpeg's libx264 or
libvpx-vp9) — both play in Chromium; the browser test checks it.

Frames come from `render()`, the tester's world-0 frame of the current step; the recorder asks for one
every `stride` control steps while it records, so a clip plays at its true speed whatever the stream does.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from services.core.experiments import temp_sibling, write_text_atomic

from .evalrec import safe_name

log = logging.getLogger("tester.clips")

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
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.(mp4|webm)$")
TB_WIDTH = 160  # TensorBoard videos are GIFs in the event file: small ones


def clip_rate(dt: float, fps: float) -> tuple[int, Fraction]:
    """(control steps per clip frame, clip frames per second): the stream's rate, at true speed."""
    stride = max(1, round(1.0 / (float(dt) * float(fps))))
    return stride, Fraction(1.0 / (float(dt) * stride)).limit_denominator(1001)


def thin(keys: list, keep: int) -> list:
    """The keys to drop so that `keep` remain spread evenly: the first and the last always stay; each
    drop takes the inner key whose neighbours are closest together (the densest spot), oldest first."""
    keys, drop = sorted(keys), []
    while len(keys) > keep:
        if keep == 1 or len(keys) < 3:
            drop.append(keys.pop(0))
            continue
        i = min(range(1, len(keys) - 1), key=lambda j: (keys[j + 1] - keys[j - 1], j))
        drop.append(keys.pop(i))
    return drop


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


class ClipRecorder:
    """Records world 0's episodes for the tester; driven by `swapped()` and `stepped()` from its loop."""

    def __init__(
        self,
        tester_id: str,
        task: str,
        render: Callable[[], np.ndarray],
        annotate,
        dt: float,
        fps: float,
        every: str = "checkpoint",
        keep: int = 30,
        fmt: str = "mp4",
        tensorboard: bool = False,
        videos_dir: Path | None = None,
        readers=None,
    ):
        import av  # here, not on the first clip: a broken install costs the clips at start, in one line

        av.codec.Codec(FORMATS[fmt][0], "w")  # this FFmpeg build has the encoder (else ValueError/UnknownCodec)
        self.id, self.task, self.render, self.annotate = tester_id, task, render, annotate
        self.readers = readers  # the tester's readers.Readers: a recording is one (render on demand)
        self.every, self.keep, self.fmt, self.tensorboard = every, int(keep), fmt, bool(tensorboard)
        self.fps = fps
        self.stride, self.rate = clip_rate(dt, fps)
        if self.tensorboard:
            self.tensorboard = _tensorboard_videos_work()
        self.videos_dir = videos_dir  # every=episode: the test experiment's videos/
        self.dir: Path | None = None
        self.loaded = None  # reloader.Loaded now playing
        self.writer = None  # the eval dir's TensorBoard writer
        self.wanted = False  # a clip of `loaded` is still owed
        self.video: VideoFile | None = None
        self.t = 0  # control steps into the recorded episode
        self.ret, self.success, self.small = 0.0, False, []
        self.episodes = 0  # world 0's episodes started while recording every episode (file numbering)
        self.written = 0  # clips written by this tester (before thinning)
        self.failing = False

    # --- the tester's loop --------------------------------------------------------------------------
    def swapped(self, loaded, eval_recorder, fresh: bool) -> None:
        """New weights act from the next step. `fresh`: every world was just reset (an episode starts now)."""
        self._abort("a swap ended it")
        self.loaded, self.wanted = loaded, True
        self.writer = getattr(eval_recorder, "writer", None)
        folder = (
            self.videos_dir
            if self.every == "episode"
            else (Path(eval_recorder.dir) / "clips" if getattr(eval_recorder, "dir", None) else None)
        )
        if folder != self.dir:
            self._guard(self._use, folder)
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
                    self._guard(self._frame)
        if done0 and self.video is None and self.wanted:
            self._guard(self._start)  # world 0 was just reset: its next episode starts here

    def retask(self, task: str, dt: float) -> None:
        """Another task from the next step (tester.retask): its name on the frames, its control rate."""
        self._abort("the task changed")
        self.task = task
        self.stride, self.rate = clip_rate(dt, self.fps)

    def close(self) -> None:
        self._abort("the tester stopped")

    # --- what the API serves ------------------------------------------------------------------------
    def clips(self) -> list[dict]:
        """Every complete clip in this tester's folder: its sidecar plus `name` (the video's file name),
        ordered by epoch (and episode)."""
        out = []
        for side in self.dir.glob("[!.]*.json") if self.dir is not None else ():
            try:
                meta = json.loads(side.read_text())
            except (OSError, ValueError):
                continue
            if (side.parent / str(meta.get("name"))).is_file():
                out.append(meta)
        return sorted(out, key=lambda m: (m.get("epoch") is None, m.get("epoch") or 0, m.get("episode") or 0))

    def clip_file(self, name: str) -> Path | None:
        """The video called `name` in this tester's folder, or None (anything else is refused)."""
        if self.dir is None or not NAME_RE.match(name or ""):
            return None
        path = self.dir / name
        return path if path.is_file() else None

    # --- inside -------------------------------------------------------------------------------------
    def _reading(self, on: bool) -> None:
        """A recording is a reader of the tester's frames from `_start` to its end (finished or aborted):
        the status then says the tester renders, though no one watches."""
        if self.readers is not None:
            (self.readers.add if on else self.readers.remove)("clip")

    def _use(self, folder: Path | None) -> None:
        self.dir = folder
        if folder is None:
            log.warning("clips: no writable folder for this experiment; not recording")
            return
        folder.mkdir(parents=True, exist_ok=True)
        # A killed tester's half-written clip (never listed) goes now: in this folder, and in this tester's
        # folders of other experiments (<root>/<experiment>/eval/<tester id>/clips).
        stale = list(folder.glob(".*.tmp"))
        if self.every == "checkpoint":
            stale += folder.parents[3].glob(f"*/eval/{folder.parent.name}/clips/.*.tmp")
        for path in stale:
            path.unlink(missing_ok=True)
        log.info("clips -> %s (%s, at most %d)", folder, self.fmt, self.keep)

    def _start(self) -> None:
        if self.dir is None or self.loaded is None:
            return
        if self.every == "episode":
            self.episodes += 1
        rgb = self.render()
        self.video = VideoFile(self.dir / f"{self._stem()}.{self.fmt}", rgb.shape[1], rgb.shape[0], self.rate, self.fmt)
        self._reading(True)
        self.t, self.ret, self.success, self.small = 0, 0.0, False, []
        self._add(rgb)

    def _frame(self) -> None:
        self._add(self.render())

    def _add(self, rgb: np.ndarray) -> None:
        cur = self.loaded
        exp = cur.experiment.name if cur.experiment else ""
        img = np.array(rgb)  # a copy: the stream shares the rendered frame
        self.annotate(
            img,
            [
                f"{self.task}  {exp}",
                f"epoch {cur.epoch if cur.epoch is not None else '?'}   return {self.ret:8.2f}",
                "success" if self.success else "no success yet",
            ],
        )
        self.video.add(img)
        if self.tensorboard:
            step = max(1, img.shape[1] // TB_WIDTH)
            self.small.append(img[::step, ::step])

    def _finish(self, episode0: dict | None) -> None:
        video, self.video = self.video, None
        self._reading(False)
        if video.frames < 2:  # a one-step episode is no clip
            video.abort()
            return
        path = video.finish()
        cur, ep = self.loaded, episode0 or {}
        meta = {
            "name": path.name,
            "epoch": cur.epoch,
            "checkpoint": cur.path.name,
            "experiment": cur.experiment.name if cur.experiment else None,
            "tester": self.id,
            "return": round(float(ep.get("return", self.ret)), 6),
            "success": bool(ep.get("success", self.success)),
            "length": int(ep.get("length", self.t + 1)),
            "reward_terms": {k: round(float(v), 6) for k, v in ep["reward_terms"].items()}
            if ep.get("reward_terms")
            else None,
            "frames": video.frames,
            "fps": float(self.rate),
            "width": video.size[0],
            "height": video.size[1],
            "format": self.fmt,
            "recorded_at": time.time(),
        }
        if self.every == "episode":
            meta["episode"] = self.episodes
        write_text_atomic(path.with_suffix(".json"), json.dumps(meta, indent=1) + "\n")
        self.written += 1
        log.info(
            "clip %s: epoch %s, return %.2f, %s, %d frames",
            path.name,
            cur.epoch,
            meta["return"],
            "success" if meta["success"] else "no success",
            video.frames,
        )
        if self.tensorboard and self.writer is not None and self.small:
            self._to_tensorboard(meta)
        self.wanted = self.every == "episode"
        self._bound()

    def _to_tensorboard(self, meta: dict) -> None:
        import torch

        # torch's add_video makes a GIF through moviepy 1.x (moviepy.editor; checked at start)
        video = torch.from_numpy(np.stack(self.small)).permute(0, 3, 1, 2).unsqueeze(0)  # (1, T, C, H, W)
        step = meta["epoch"] if self.every == "checkpoint" else meta["episode"]
        self.writer.add_video(f"clips/{self.id}", video, global_step=step, fps=float(self.rate))
        self.small = []

    def _bound(self) -> None:
        """At most `keep` clips here: drop the ones `thin` picks (sidecar first: it is what lists a clip)."""
        by_key = {}
        for meta in self.clips():
            by_key[meta.get("episode") if self.every == "episode" else meta.get("epoch") or 0] = meta["name"]
        for key in thin(list(by_key), self.keep):
            video = self.dir / by_key[key]
            video.with_suffix(".json").unlink(missing_ok=True)
            video.unlink(missing_ok=True)

    def _stem(self) -> str:
        cur = self.loaded
        epoch = cur.epoch if cur.epoch is not None else safe_name(cur.path.stem)
        return f"episode_{self.episodes:05d}_epoch_{epoch}" if self.every == "episode" else f"epoch_{epoch}"

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


def _tensorboard_videos_work() -> bool:
    """Whether torch's add_video can make its GIFs (moviepy 1.x); if not, clips go on without them."""
    from .optional import start

    # moviepy's pygame import must not look for a display or a sound card.
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    _, error = start("TensorBoard clip videos", lambda: __import__("moviepy.editor"), "moviepy")
    return error is None
