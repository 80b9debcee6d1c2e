"""A tester's clip folder: where its clips lie, what the API lists and serves, and how many stay.

One folder at a time: `eval/<tester id>/clips/` of the run being played (one clip per checkpoint), or
the test experiment's `videos/` (every episode). A clip is its video plus a sidecar `<stem>.json`
written after it: the sidecar is what lists a clip, so a listed clip is always whole. A killed
tester leaves only a hidden temp (video.py), which the next tester in the folder sweeps away. Each
folder keeps at most `keep` clips, thinned evenly over epochs (or episodes): the first and the
newest always stay.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from services.core.experiments import write_text_atomic

from .evalrec import safe_name

log = logging.getLogger("tester.clips")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.(mp4|webm)$")


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


class ClipFolder:
    """`every`: "checkpoint" (clips keyed by epoch, in the eval dir) or "episode" (by episode number, in
    `videos_dir`); `fmt`: mp4 | webm."""

    def __init__(self, every: str, keep: int, fmt: str, videos_dir: Path | None = None):
        self.every, self.keep, self.fmt, self.videos_dir = every, int(keep), fmt, videos_dir
        self.dir: Path | None = None  # None: no writable folder for this run, nothing is recorded

    def follow(self, eval_dir) -> None:
        """The eval dir of the run now played (evalrec.EvalRecorder.dir, None when there is none) decides
        where the next clips go."""
        folder = self.videos_dir if self.every == "episode" else (Path(eval_dir) / "clips" if eval_dir else None)
        if folder != self.dir:
            self.use(folder)

    def use(self, folder: Path | None) -> None:
        """Record into `folder` from now on, and sweep away the temps a killed tester left."""
        self.dir = folder
        if folder is None:
            log.warning("clips: no writable folder for this experiment; not recording")
            return
        folder.mkdir(parents=True, exist_ok=True)
        # in this folder, and in this tester's folders of other runs (<root>/<experiment>/eval/<tester id>/clips)
        stale = list(folder.glob(".*.tmp"))
        if self.every == "checkpoint":
            stale += folder.parents[3].glob(f"*/eval/{folder.parent.name}/clips/.*.tmp")
        for path in stale:
            path.unlink(missing_ok=True)
        log.info("clips -> %s (%s, at most %d)", folder, self.fmt, self.keep)

    def video_path(self, loaded, episode: int) -> Path:
        """`epoch_<E>.<fmt>`, or `episode_<N>_epoch_<E>.<fmt>` for every episode, of `loaded` (reloader.Loaded)."""
        epoch = loaded.epoch if loaded.epoch is not None else safe_name(loaded.path.stem)
        stem = f"episode_{episode:05d}_epoch_{epoch}" if self.every == "episode" else f"epoch_{epoch}"
        return self.dir / f"{stem}.{self.fmt}"

    def add(self, meta: dict) -> None:
        """List the clip `meta["name"]` (its video already in place): write its sidecar."""
        write_text_atomic((self.dir / meta["name"]).with_suffix(".json"), json.dumps(meta, indent=1) + "\n")

    def clips(self) -> list[dict]:
        """Every complete clip here: its sidecar plus `name` (the video's file name), by epoch (and episode)."""
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
        """The video called `name` here, or None (anything else is refused)."""
        if self.dir is None or not NAME_RE.match(name or ""):
            return None
        path = self.dir / name
        return path if path.is_file() else None

    def bound(self) -> None:
        """At most `keep` clips here: drop the ones `thin` picks (sidecar first: it is what lists a clip)."""
        by_key = {}
        for meta in self.clips():
            by_key[meta.get("episode") if self.every == "episode" else meta.get("epoch") or 0] = meta["name"]
        for key in thin(list(by_key), self.keep):
            video = self.dir / by_key[key]
            video.with_suffix(".json").unlink(missing_ok=True)
            video.unlink(missing_ok=True)
