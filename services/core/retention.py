"""Checkpoint retention: which of a run's checkpoints stay as it trains for days, and the record of the
ones removed.

A run that saves every 10 epochs writes thousands of checkpoints a day. What a user needs of them: the
best and the newest (testers play them, a resume starts from one), every checkpoint of the last minutes
(a lagging evaluator or a short run loses nothing) and a history over the whole run that thins as it
ages (the clip timeline, montages, "how did epoch 40 play?"), all within a size budget per run.

`plan()` is pure: it picks what to remove from a listing. The trainer applies it after each save and
appends every removal to `<experiment>/removed.jsonl`: sync reads that record to remove the same file
from its mirrors (never a file the source still has), and a tester names it when a pin is refused.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

REMOVED_FILE = "removed.jsonl"  # in the experiment: one JSON line per removed checkpoint
PERIODIC_PREFIX = "last_"  # rl_games' periodic files; only these are ever removed
GB = 1024**3


@dataclass(frozen=True)
class Checkpoint:
    name: str  # file name in nn/
    epoch: int | None  # None: not a periodic file (the best nn/<Task>.pth, a user's own): never removed
    mtime: float
    size: int


@dataclass(frozen=True)
class Policy:
    newest: int = 5  # the newest periodic checkpoints, always kept
    recent_s: float = 600.0  # every checkpoint saved this recently is kept
    history: int = 100  # older checkpoints kept, thinning with age; the first one of the run included
    budget_bytes: int = 2 * GB  # the run's checkpoints together; past it the history thins further

    def harder(self) -> Policy:
        """Low on disk: no recent window, a quarter of the history, the two newest."""
        return replace(self, newest=min(self.newest, 2), recent_s=0.0, history=max(2, self.history // 4))


@dataclass(frozen=True)
class Plan:
    remove: list[Checkpoint]
    kept: list[Checkpoint]
    over_budget: bool  # what may never go (best, newest) alone exceeds the budget


def periodic(c: Checkpoint) -> bool:
    return c.epoch is not None and c.name.startswith(PERIODIC_PREFIX)


def plan(checkpoints: list[Checkpoint], policy: Policy, now: float | None = None) -> Plan:
    """What to remove from one run's checkpoints so that what stays follows `policy`.

    Kept always: every non-periodic file (the best), the `newest` periodic ones. Kept while there is
    budget: every checkpoint of the last `recent_s`, and up to `history` older ones (the run's first
    among them) thinned so that their density falls with age (`_thin`). Over the budget the recent
    window and the history thin together by that same measure (the run's first goes last).
    """
    now = time.time() if now is None else now
    fixed = [c for c in checkpoints if not periodic(c)]
    series = sorted((c for c in checkpoints if periodic(c)), key=lambda c: (c.epoch, c.mtime))
    if not series:
        return Plan([], list(checkpoints), False)
    newest = series[-policy.newest :] if policy.newest > 0 else []
    older = series[: len(series) - len(newest)]
    recent = [c for c in older if c.mtime >= now - policy.recent_s]
    history = [c for c in older if c.mtime < now - policy.recent_s]  # history[0]: the run's first
    newest_epoch = series[-1].epoch
    span = max(newest_epoch - series[0].epoch, 1)
    removed: list[Checkpoint] = []

    def thin_to(points: list[Checkpoint], keep: int) -> list[Checkpoint]:
        dropped = _thin(points, keep, newest_epoch, span)
        removed.extend(dropped)
        gone = {id(c) for c in dropped}
        return [c for c in points if id(c) not in gone]

    def total() -> int:
        return sum(c.size for c in (*fixed, *history, *recent, *newest))

    history = thin_to(history, policy.history)
    if total() > policy.budget_bytes:
        # the recent window and the history thin together, by the same measure: the window's dense
        # stretch goes first, and what stays still spans the whole run
        history, recent = history + recent, []
        while total() > policy.budget_bytes and history:
            history = thin_to(history, len(history) - 1)
    kept = [*fixed, *history, *recent, *newest]
    return Plan(sorted(removed, key=lambda c: c.epoch), kept, total() > policy.budget_bytes)


def _thin(points: list[Checkpoint], keep: int, newest_epoch: int, span: int) -> list[Checkpoint]:
    """The points to drop so that `keep` remain, the survivors' density falling with age.

    A point's position is log(1 + age / scale), age = epochs before the newest, scale = a tenth of the
    run: evenly spread positions put ~30 % of the points in the run's newest tenth and ~4 % in its
    oldest, which still has some. Each drop takes the point whose neighbours are closest in that measure (the
    densest spot), the older one on a tie; the oldest point stays while another can go.
    """
    keep = max(keep, 0)
    if len(points) <= keep:
        return []
    scale = max(span / 10.0, 1.0)
    pts = sorted(points, key=lambda c: (c.epoch, c.mtime))
    pos = [math.log1p((newest_epoch - c.epoch) / scale) for c in pts]
    dropped = []
    while len(pts) > keep:
        if len(pts) <= 2:
            i = len(pts) - 1 if len(pts) == 2 and keep == 1 else 0  # keep the oldest
        else:
            # positions fall with epoch: the gap around j is pos[j-1] - pos[j+1]; the newest point's right
            # neighbour is the newest checkpoint (position 0)
            def gap(j):
                right = pos[j + 1] if j + 1 < len(pos) else 0.0
                return (pos[j - 1] - right, j)

            i = min(range(1, len(pts)), key=gap)
        dropped.append(pts.pop(i))
        pos.pop(i)
    return dropped


# --- the record of removals -----------------------------------------------------------------------


def record_removal(experiment, path, st: os.stat_result, why: str) -> None:
    """Append one removed file to `<experiment>/removed.jsonl`, after the file is gone.

    After, so that a crash in between leaves a file in the mirrors (harmless) and never a mirror
    missing a file its source still has. One write of one line: appends from two processes never tear.
    `size` and `mtime_ns` name the version: a mirror removes its copy only when it is that very file.
    """
    experiment = Path(experiment)
    line = {
        "file": Path(path).resolve().relative_to(experiment.resolve()).as_posix(),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "removed_at": round(time.time(), 3),
        "why": why,
    }
    fd = os.open(experiment / REMOVED_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def read_records(path, offset: int = 0) -> tuple[list[dict], int]:
    """The complete JSON lines of an append-only record from byte `offset` on, and the offset after the
    last complete one (a torn last line is read again next time). A file shorter than `offset` was
    replaced: it is read from the start."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < offset:
                offset = 0
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    out = []
    for raw in data[:end].splitlines():
        try:
            value = json.loads(raw)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out, offset + end


def removal_of(experiment, name: str) -> dict | None:
    """The record of the checkpoint `name` (nn/<name>) removed from `experiment`, if it was."""
    records, _ = read_records(Path(experiment) / REMOVED_FILE)
    return next((r for r in reversed(records) if r.get("file") == f"nn/{name}"), None)
