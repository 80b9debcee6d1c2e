"""The experiment archive: runs/ keeps the newest experiments, older ones move whole to runs_all/.

As the seed's training system does: `runs/` stays small enough to browse and to mirror, and nothing is
lost (`checkpoint=` resolves in `runs_all/` too). Each kind of process tidies what it writes — the
trainer its `*_train_*` experiments, a tester its own `*_test_*` ones — keeping the newest `keep` of
that kind. Never moved:
- an experiment a `latest_*` link points at;
- one written to in the last hour (the newest mtime in its tree: a rule every container and node that
  shares the folder agrees on, with no lock or process to ask);
- one marked kept (a `KEPT` file in it: `make keep EXPERIMENT=...`).

Every move is appended to `runs/archived.jsonl` (after it is done): sync reads that record to move its
mirror's copy into the mirror's own archive instead of keeping it or deleting it.

    python -m services.core.archive keep RUNS_DIR EXPERIMENT     (make keep; unkeep undoes it)
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import sys
import time
from pathlib import Path

KEPT_FILE = "KEPT"
ARCHIVED_FILE = "archived.jsonl"  # in the runs root: one JSON line per experiment moved out
ARCHIVE_SUFFIX = "_all"  # runs/ -> runs_all/ beside it
RECENT_S = 3600.0  # an experiment written to this recently stays
_STAMP_RE = re.compile(r"_(train|test)_(\d{8}_\d{6})$")


def archive_dir(runs_dir) -> Path:
    """`runs_all/` beside `runs/` (for any name: `runs-shared/` -> `runs-shared_all/`)."""
    runs_dir = Path(os.path.abspath(runs_dir))
    return runs_dir.with_name(runs_dir.name + ARCHIVE_SUFFIX)


def mode_of(name: str) -> str | None:
    m = _STAMP_RE.search(name)
    return m.group(1) if m else None


def _age_key(exp: Path) -> tuple:
    """Newest first by the name's time stamp (names of different tasks sort by task otherwise)."""
    m = _STAMP_RE.search(exp.name)
    return (m.group(2) if m else "", exp.name)


def is_kept(experiment) -> bool:
    return (Path(experiment) / KEPT_FILE).is_file()


def mark_kept(experiment, kept: bool = True) -> None:
    path = Path(experiment) / KEPT_FILE
    if kept:
        path.write_text(f"kept {time.strftime('%Y-%m-%d %H:%M:%S')}: never moved to the archive (make unkeep)\n")
    else:
        path.unlink(missing_ok=True)


def linked(runs_dir) -> set[Path]:
    """The experiments the `latest_*` links of `runs_dir` point at."""
    out = set()
    for link in Path(runs_dir).glob("latest_*"):
        try:
            if link.is_symlink():
                out.add(link.resolve())
        except (OSError, RuntimeError):
            continue
    return out


def last_write(experiment) -> float:
    """The newest mtime in the experiment's tree (directories too: a removed file touches its folder)."""
    newest = 0.0
    stack = [str(experiment)]
    while stack:
        d = stack.pop()
        try:
            newest = max(newest, os.stat(d).st_mtime)
            with os.scandir(d) as entries:
                for e in entries:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        else:
                            newest = max(newest, e.stat(follow_symlinks=False).st_mtime)
                    except OSError:
                        continue
        except OSError:
            continue
    return newest


def why_stays(experiment: Path, links: set[Path], now: float, recent_s: float = RECENT_S) -> str | None:
    """Why an experiment past the newest `keep` is not moved, or None when it may be."""
    if experiment.resolve() in links:
        return "a latest_* link points at it"
    if is_kept(experiment):
        return "marked kept"
    if last_write(experiment) > now - recent_s:
        return f"written to in the last {recent_s / 3600:g} h"
    return None


def tidy(runs_dir, mode: str, keep: int | None, now: float | None = None, recent_s: float = RECENT_S) -> list[str]:
    """Move `mode`'s experiments past the newest `keep` to the archive; returns the names moved.

    `keep` None: never. A move that fails (a name already in the archive, a read-only folder) leaves
    the experiment where it is, and is tried again next time.
    """
    runs_dir = Path(runs_dir)
    if keep is None or not runs_dir.is_dir():
        return []
    now = time.time() if now is None else now
    exps = sorted(
        (p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink() and mode_of(p.name) == mode),
        key=_age_key,
        reverse=True,
    )
    links, moved = linked(runs_dir), []
    for exp in exps[keep:]:
        if why_stays(exp, links, now, recent_s) is not None:
            continue
        identity = version(exp)
        if move_experiment(exp, archive_dir(runs_dir)):
            record_move(runs_dir, exp.name, identity)
            moved.append(exp.name)
    return moved


def version(experiment) -> dict | None:
    """What tells one experiment from another of the same name: its config.yaml's size and mtime (copies
    made by rsync keep both). None without a config.yaml."""
    try:
        st = (Path(experiment) / "config.yaml").stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def move_experiment(experiment: Path, archive: Path) -> bool:
    """Move a whole experiment into `archive` (same name). Across filesystems (volumes) it is copied
    to a hidden name there, renamed into place, and only then removed here: an interrupted move leaves
    the experiment whole in at least one place. False when it stays (the name is taken there...)."""
    dest = archive / experiment.name
    try:
        archive.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            return False
        os.rename(experiment, dest)
        return True
    except FileNotFoundError:
        return False  # another process moved it first
    except OSError as e:
        if e.errno != errno.EXDEV:  # not another filesystem: leave it
            return False
    tmp = archive / f".{experiment.name}.{secrets.token_hex(4)}.tmp"
    try:
        shutil.copytree(experiment, tmp, symlinks=True)
        os.rename(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    shutil.rmtree(experiment, ignore_errors=True)
    return True


def record_move(runs_dir, name: str, identity: dict | None) -> None:
    """One line in `runs/archived.jsonl` (one write: appends from two processes never tear). A record
    that cannot be written only leaves the mirrors' copies where they are."""
    line = json.dumps({"experiment": name, "config": identity, "archived_at": round(time.time(), 3)}) + "\n"
    try:
        fd = os.open(Path(runs_dir) / ARCHIVED_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        os.write(fd, line.encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def main(argv=None) -> int:
    """`keep|unkeep RUNS_DIR EXPERIMENT` (EXPERIMENT: what `checkpoint=` takes that names an experiment)."""
    from .checkpoints import ResolveError, resolve

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] not in ("keep", "unkeep"):
        print("usage: python -m services.core.archive keep|unkeep RUNS_DIR EXPERIMENT", file=sys.stderr)
        return 2
    verb, runs_dir, spec = args
    try:
        experiment = resolve(spec, runs_dir).experiment
    except ResolveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if experiment is None:
        print(f"error: {spec}: not an experiment", file=sys.stderr)
        return 2
    mark_kept(experiment, verb == "keep")
    print(f"{experiment.name}: {'kept (never moved to the archive)' if verb == 'keep' else 'no longer kept'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
