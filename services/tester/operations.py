"""The tester's control operations and its status: the methods of services/core/control_contract.py.

The control API (control.py) calls them from its HTTP threads and an in-process streamer from its own,
so each only flips a flag, asks the reloader (which has its own lock) or reads. `Operations` is mixed
into `Tester` (tester.py): it reads the loop's `current`, `paused`, `task` and `training`, and its
parts `reloader`, `scores`, `broadcast` and `clip_recorder`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.config import reload_interval

log = logging.getLogger("tester")


class Operations:
    def status(self) -> dict:
        cur, r, b, ck = self.current, self.reloader, self.broadcast, self.scores.per_ckpt
        exp = (cur.experiment if cur else None) or r.experiment
        due = r.due_in() if cur is not None else None
        view3d = b.view3d
        return {
            "id": self.id,
            "task": self.task,
            "experiment": exp.name if exp else None,
            "checkpoint": self._show_path(cur.path) if cur else None,
            "epoch": cur.epoch if cur else None,
            "checkpoint_env_steps": cur.frame if cur else None,
            "reloads": r.reloads,
            "reloads_refused": r.refused,
            "reloads_skipped": r.skipped,
            "reload_latency": r.latency.snapshot(),
            "last_reload_time": r.last_reload_time,
            "last_reload_error": r.last_error,
            "reload_interval": r.interval,
            "next_reload_in": None if due is None else round(due, 1),
            "paused": self.paused,
            "pinned": self._show_path(r.pinned) if r.pinned else None,
            "episodes": self.scores.episodes,
            "successes": self.scores.totals.successes,
            "mean_return": ck.mean_return(),
            "success_rate": ck.success_rate(),
            "reward_terms": ck.reward_terms(),
            "last_eval": self.scores.recorder.last(),
            "fps": round(b.fps(), 1),
            "frames_rendered": b.frames_published,
            "training": self.training.of(exp),
            "last_checkpoint_time": self.training.last_checkpoint_time(exp),
            "state": self._state(cur),
            "control_url": b.control_url,
            "readers": b.readers.count(),
            "rendering": b.rendering,
            "view3d_url": view3d.url if view3d else None,
            "view3d_port": view3d.port if view3d else None,
            "view3d_viewers": view3d.viewers if view3d else None,
            "view3d_error": b.view3d_error,
            "clips_error": self.clips_error,
        }

    def reload_now(self) -> dict:
        self.reloader.reload_now()
        return self.status()

    def set_reload_interval(self, seconds) -> dict:
        try:
            seconds = reload_interval(seconds)
        except ValueError as e:
            raise ValueError(f"seconds: {e}") from None
        self.reloader.set_interval(seconds)
        log.info("reload interval set to %s s", seconds)
        return self.status()

    def pin(self, checkpoint) -> dict:
        path = self.reloader.pin(checkpoint)
        log.info("pinned %s", path)
        return self.status()

    def unpin(self) -> dict:
        self.reloader.unpin()
        return self.status()

    def pause(self) -> dict:
        self.paused = True
        return self.status()

    def resume(self) -> dict:
        self.paused = False
        self._next_step = None
        return self.status()

    def checkpoints(self) -> list[dict]:
        out = []
        for p in list_checkpoints(self.reloader.experiment) if self.reloader.experiment else []:
            try:
                mtime = p.stat().st_mtime
            except OSError:
                continue
            out.append({"path": self._show_path(p), "name": p.name, "epoch": epoch_of(p), "mtime": mtime})
        return out

    def eval_history(self) -> list[dict]:
        return self.scores.recorder.history()

    def clips(self) -> list[dict]:
        """This tester's complete clips (their sidecars plus `name`), by epoch."""
        return self.clip_recorder.folder.clips() if self.clip_recorder is not None else []

    def clip_file(self, name: str) -> Path | None:
        """The path of the clip video called `name`, or None (in-process streamers serve it from here)."""
        return self.clip_recorder.folder.clip_file(name) if self.clip_recorder is not None else None

    def _state(self, cur) -> str:
        if cur is None:
            return "waiting"
        if self.paused:
            return "paused"
        ev = self.scores.evaluation
        return "evaluated" if ev and ev.complete else "running"

    def _show_path(self, path) -> str:
        """Paths relative to the runs root: what pin accepts, and valid in every container."""
        try:
            return Path(path).resolve().relative_to(self.reloader.runs_dir.resolve()).as_posix()
        except ValueError:
            return str(path)
