"""Follow the source's own removals and archive moves in the mirror, without rsync's `--delete`.

`--delete` makes DST look like SRC: a source that is empty for a moment (an unmounted volume, a typo
in `--source`, a fresh trainer volume) wipes every mirror. Here DST changes only on the source's word:
- `<exp>/removed.jsonl`, written by the trainer's checkpoint retention after each removal: the mirror
  removes its copy of a listed file only when it is that very file (same size, same mtime: rsync keeps
  mtimes), i.e. the file it copied from that source — a file of the same name from elsewhere stays;
- `archived.jsonl` in the runs root, written after an experiment moved to `runs_all/`: the mirror moves
  its copy whole into its own archive (`<dest>_all/` beside it) when it is that experiment (its
  config.yaml of the same size and mtime) and the mirror has no reason of its own to keep it (the
  archive's rules, applied to its copy: a `latest_*` link in DST, a tester here writing its eval into
  it within the hour, `KEPT`): then it is looked at again each pass. Nothing is deleted: an archive
  that cannot be written leaves the experiment in place.

Both records reach DST by the pass's own copy (step 2), so an SSH source works like a local one. An
empty or wrong source has no record of this mirror's files, and so removes nothing. Files are removed
only after the source removed them, so a mirror never holds fewer checkpoints than its source.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from services.core.archive import ARCHIVED_FILE, linked, move_experiment, version, why_stays
from services.core.checkpoints import is_checkpoint_name
from services.core.retention import REMOVED_FILE, read_records

log = logging.getLogger("sync")
MTIME_SLACK_NS = 1_000_000_000  # a filesystem without sub-second mtimes on either side


@dataclass
class Followed:
    removed: list[str] = field(default_factory=list)  # files (relative to DST)
    archived: list[str] = field(default_factory=list)  # experiment names

    def __iadd__(self, other: Followed) -> Followed:
        self.removed += other.removed
        self.archived += other.archived
        return self


class Follower:
    def __init__(self, dest: Path, archive: Path | None):
        self.dest, self.archive = Path(dest), archive
        self._offsets: dict[str, tuple[int, int]] = {}  # removed.jsonl -> (its size when read, bytes applied)
        self._archived_seen: tuple | None = None
        self._to_archive: dict[str, dict | None] = {}  # experiment -> its config version, as the record says
        self._warned: set[str] = set()

    def follow(self) -> Followed:
        done = Followed()
        done.archived = self._archive_moves()
        for exp in self._experiments():
            done.removed += self._removals(exp)
        return done

    def _experiments(self) -> list[Path]:
        try:
            return [p for p in self.dest.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
        except OSError:
            return []

    # --- removals --------------------------------------------------------------------------------
    def _removals(self, exp: Path) -> list[str]:
        record = exp / REMOVED_FILE
        try:
            size = record.stat().st_size
        except OSError:
            return []
        key = str(record)
        seen_size, offset = self._offsets.get(key, (-1, 0))
        if size == seen_size:
            return []  # unchanged since the last pass
        records, offset = read_records(record, offset)
        self._offsets[key] = (size, offset)
        gone = []
        for r in records:
            target = self._target(exp, r.get("file"))
            if target is not None and _same_version(target, r) and _unlink(target):
                gone.append(target.relative_to(self.dest).as_posix())
        return gone

    @staticmethod
    def _target(exp: Path, rel) -> Path | None:
        """`nn/<checkpoint>` inside this experiment, or None for anything else a record might say."""
        if not isinstance(rel, str):
            return None
        p = PurePosixPath(rel)
        if p.is_absolute() or len(p.parts) != 2 or p.parts[0] != "nn" or not is_checkpoint_name(p.name):
            return None
        return exp / "nn" / p.name

    # --- archive moves ---------------------------------------------------------------------------
    def _archive_moves(self) -> list[str]:
        record = self.dest / ARCHIVED_FILE
        try:
            st = record.stat()
        except OSError:
            return []
        seen = (st.st_size, st.st_mtime_ns, st.st_ino)
        if seen != self._archived_seen:  # small (a line per experiment): read whole, moves are idempotent
            self._archived_seen = seen
            self._to_archive = {
                r["experiment"]: r.get("config")
                for r in read_records(record)[0]
                if isinstance(r.get("experiment"), str) and _plain_name(r["experiment"])
            }
        links, moved, now = linked(self.dest), [], time.time()
        for name, config in list(self._to_archive.items()):
            exp = self.dest / name
            if not exp.is_dir() or exp.is_symlink():
                del self._to_archive[name]  # moved, or never copied here
                continue
            if not _same_experiment(version(exp), config):
                self._warn_once(name, f"{name}: archived at the source, but this mirror's copy is another (kept)")
                del self._to_archive[name]
                continue
            # the mirror's own reasons to keep it for now (a tester here writing its eval into it, a link,
            # `make keep`): looked at again next pass
            if why_stays(exp, links, now) is not None or self.archive is None:
                if self.archive is None:
                    self._warn_once("no-archive", f"{name}: archived at the source; this mirror has no archive")
                continue
            if move_experiment(exp, self.archive):
                moved.append(name)
                del self._to_archive[name]
            else:
                self._warn_once(name, f"{name}: archived at the source but could not be moved to {self.archive}")
        return moved

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)


def _plain_name(name: str) -> bool:
    return bool(name) and "/" not in name and not name.startswith(".")


def _same_version(path: Path, record: dict) -> bool:
    try:
        st = os.lstat(path)
        size, mtime_ns = int(record["size"]), int(record["mtime_ns"])
    except (OSError, KeyError, TypeError, ValueError):
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size and abs(st.st_mtime_ns - mtime_ns) < MTIME_SLACK_NS


def _same_experiment(mine: dict | None, theirs) -> bool:
    if mine is None or not isinstance(theirs, dict):
        return mine is None and theirs is None
    try:
        same_time = abs(mine["mtime_ns"] - int(theirs["mtime_ns"])) < MTIME_SLACK_NS
        return mine["size"] == int(theirs["size"]) and same_time
    except (KeyError, TypeError, ValueError):
        return False


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as e:
        log.warning("cannot remove %s: %s", path, e.strerror)
        return False
