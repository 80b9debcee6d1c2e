"""Where the training run a tester follows stands: its `progress.json`, for the tester's status.

The trainer rewrites the file every epoch (sync mirrors it with the checkpoints), so a tester, local or
behind `make up-remote`, can show "epoch E/max · env-steps · success · ETA" without new plumbing: the
status already reaches the streamer every second.
"""

from __future__ import annotations

import time
from pathlib import Path

from services.core.checkpoints import list_checkpoints
from services.core.experiments import read_progress

READ_PERIOD_S = 1.0  # status() is asked by the publisher and by HTTP callers: one file read a second at most
# A "training" file not rewritten for this long (or 3 epochs, if longer) belongs to a trainer that died
# without a word. Wall-clock ages: the file is written on the trainer's host, so clocks are assumed in sync.
STALE_S = 60.0


class TrainingProgress:
    def __init__(self, read_period_s: float = READ_PERIOD_S):
        self.read_period_s = read_period_s
        self._experiment: Path | None = None
        self._next_read = 0.0
        self._value: dict | None = None
        self._checkpoint_time: float | None = None

    def _read(self, experiment) -> None:
        now = time.monotonic()
        if experiment != self._experiment or now >= self._next_read:
            self._experiment, self._next_read = experiment, now + self.read_period_s
            self._value = read_progress(experiment) if experiment is not None else None
            self._checkpoint_time = _newest_mtime(experiment) if experiment is not None else None

    def last_checkpoint_time(self, experiment) -> float | None:
        """Unix time the run's newest checkpoint landed (its mtime), None without one: operators alert on
        a run that stopped saving."""
        self._read(experiment)
        return self._checkpoint_time

    def of(self, experiment) -> dict | None:
        """The file's fields, `state` "stopped" when a "training" file went stale; None without a file."""
        self._read(experiment)
        if self._value is None:
            return None
        return {**self._value, "state": self._state(self._value)}

    @staticmethod
    def _state(p: dict) -> str:
        state = p.get("state")
        if state != "training":
            return state if state in ("finished", "stopped") else "stopped"
        try:
            age, epoch_s = time.time() - float(p["updated"]), float(p.get("epoch_s") or 0)
        except (KeyError, TypeError, ValueError):
            return "stopped"
        return "stopped" if age > max(STALE_S, 3 * epoch_s) else "training"


def _newest_mtime(experiment) -> float | None:
    times = []
    for path in list_checkpoints(experiment):
        try:
            times.append(path.stat().st_mtime)
        except OSError:  # removed meanwhile
            continue
    return max(times, default=None)
