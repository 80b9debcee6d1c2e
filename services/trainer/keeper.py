"""What keeps a run that trains for days from filling its disk: checkpoint retention after every save
(services/core/retention.py), the experiment archive (services/core/archive.py) at start and every hour,
and the disk figures progress.json carries to the dashboard.

Everything here is best effort: a file it cannot remove or a folder it cannot measure is one warning,
never the end of the training.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from services.core import archive
from services.core.checkpoints import epoch_of, is_checkpoint_name
from services.core.disk import size_text, tree_bytes, usage
from services.core.retention import GB, PERIODIC_PREFIX, Checkpoint, Policy, plan, record_removal

log = logging.getLogger("trainer")
DISK_PERIOD_S = 30.0  # how often the runs folder is measured (a walk of its files)
TIDY_PERIOD_S = 3600.0  # how often older experiments are looked at for the archive


class Keeper:
    """One run's housekeeping: `start()` once, `saved(path)` after each save, `tick()` once an epoch,
    `report()` for progress.json."""

    def __init__(
        self,
        experiment,
        runs_dir,
        policy: Policy | None,
        low_disk_percent: float = 10.0,
        runs_keep: int | None = 10,
    ):
        self.experiment, self.runs_dir = Path(experiment), Path(runs_dir)
        self.nn = self.experiment / "nn"
        self._nn_real = self.nn.resolve()
        self.policy = policy  # None: retention off
        self.low_disk_percent, self.runs_keep = low_disk_percent, runs_keep
        self.low = False  # below low_disk_percent free at the last measurement
        self.removed = 0
        self.kept: list[Checkpoint] = []
        self._disk: dict = {}
        self._next_disk = 0.0
        self._next_tidy = time.monotonic() + TIDY_PERIOD_S
        self._warned_budget = False

    @classmethod
    def from_cfg(cls, cfg, experiment) -> Keeper:
        k = cfg.train.keep
        policy = (
            Policy(
                newest=k.newest,
                recent_s=k.recentMinutes * 60,
                history=k.history,
                budget_bytes=int(k.budgetGB * GB),
            )
            if k.enabled
            else None
        )
        return cls(experiment, cfg.runsDir, policy, k.lowDiskPercent, cfg.runs.keep)

    # --- hooks ---------------------------------------------------------------------------------
    def start(self) -> None:
        """The run begins: tidy the archive, measure the disk."""
        self.tidy()
        self.measure()
        if self.low:
            self._say_low()

    def saved(self, path: Path) -> None:
        """After every checkpoint save (rlgames_io's hook)."""
        if self.policy is not None and path.name.startswith(PERIODIC_PREFIX) and path.parent.resolve() == self._nn_real:
            self.apply()

    def tick(self) -> None:
        """Once an epoch: measure the disk when due (thinning harder below the threshold), tidy hourly."""
        now = time.monotonic()
        if now >= self._next_disk:
            was_low = self.low
            self.measure()
            if self.low != was_low:
                self._say_low()
                if self.policy is not None:
                    self.apply()
        if now >= self._next_tidy:
            self._next_tidy = now + TIDY_PERIOD_S
            self.tidy()

    # --- the work ------------------------------------------------------------------------------
    def apply(self) -> list[str]:
        """Remove what the policy lets go; each removal recorded for the mirrors. Returns the names."""
        listing = self._listing()
        p = plan(listing, self.policy.harder() if self.low else self.policy)
        gone = []
        for c in p.remove:
            path = self.nn / c.name
            try:
                st = path.stat()
                path.unlink()
                record_removal(self.experiment, path, st, "low disk" if self.low else "retention")
            except FileNotFoundError:
                continue
            except OSError as e:
                log.warning("retention: cannot remove %s: %s", path.name, e.strerror)
                continue
            gone.append(c.name)
        self.removed += len(gone)
        self.kept = [c for c in p.kept if c.name not in gone] if gone else p.kept
        if gone:
            log.debug("retention: removed %s", ", ".join(gone))
        if p.over_budget and not self._warned_budget:
            self._warned_budget = True
            log.warning(
                "retention: the newest and best checkpoints alone take %s, over train.keep.budgetGB=%g",
                size_text(sum(c.size for c in p.kept)),
                self.policy.budget_bytes / GB,
            )
        return gone

    def _listing(self) -> list[Checkpoint]:
        out = []
        try:
            entries = list(os.scandir(self.nn))
        except OSError:
            return out
        for e in entries:
            if not is_checkpoint_name(e.name) or e.is_symlink():
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            out.append(Checkpoint(e.name, epoch_of(e.name), st.st_mtime, st.st_size))
        return out

    def tidy(self) -> list[str]:
        try:
            moved = archive.tidy(self.runs_dir, "train", self.runs_keep)
        except OSError as e:
            log.warning("archive: %s", e)
            return []
        if moved:
            log.info(
                "archive: moved %d older experiment(s) to %s/: %s",
                len(moved),
                archive.archive_dir(self.runs_dir).name,
                ", ".join(moved),
            )
        return moved

    def measure(self) -> dict:
        self._next_disk = time.monotonic() + DISK_PERIOD_S
        if self.policy is None:
            self.kept = self._listing()  # retention keeps it up to date otherwise
        room = usage(self.runs_dir)
        if room is None:
            return self._disk
        self.low = room["free_percent"] < self.low_disk_percent
        self._disk = {
            "runs_bytes": tree_bytes(self.runs_dir),
            **room,
            "low": self.low,
            "low_percent": self.low_disk_percent,
        }
        return self._disk

    def report(self) -> dict:
        """progress.json's `disk` and `checkpoints` fields."""
        return {
            "disk": dict(self._disk) or None,
            "checkpoints": {
                "kept": len(self.kept),
                "bytes": sum(c.size for c in self.kept),
                "removed": self.removed,
                "budget_bytes": self.policy.budget_bytes if self.policy else None,
                "retention": self.policy is not None,
            },
        }

    def _say_low(self) -> None:
        d = self._disk
        if self.low:
            log.warning(
                "disk low: %.1f %% free (%s) where runs are written, under train.keep.lowDiskPercent=%g: keeping "
                "fewer checkpoints (the 2 newest, no recent window, a quarter of the history)",
                d["free_percent"],
                size_text(d["free_bytes"]),
                self.low_disk_percent,
            )
        else:
            log.info("disk: %.1f %% free again; the usual checkpoint retention", d["free_percent"])
