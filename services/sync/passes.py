"""One sync pass, and the order of its steps that gives readers of DST their guarantees.

0. **The source's records first** (`archived.jsonl`, `<exp>/removed.jsonl`, and nothing else), and
   what they say is followed (step 4): a checkpoint the trainer's retention removed leaves the mirror
   before the new ones arrive, so the mirror stays within the source's budget while it follows.
1. **Links snapshot.** The top-level `latest_*` symlinks are copied into a hidden staging dir
   `DST/.sync-links/` (not into place).
2. **Files.** Everything except `latest_*` is copied. rsync writes each file to a dot-prefixed temp
   name and renames it when complete, so a reader never sees a partial checkpoint; `--partial-dir`
   (a hidden dot-dir) keeps the received part of an interrupted file so the next pass resumes it.
   The trainer's temp files (`.*.tmp`) and rsync's `.~tmp~` dirs are never copied.
3. **Links into place.** Each staged link is renamed over `DST/latest_*` (atomic) only if its target
   directory exists in DST. The snapshot was taken *before* step 2, so step 2 copied everything the
   target held when the link was read: a link never points at an experiment still arriving.
   A link whose target has not arrived yet stays as it was; the next pass comes soon after.
4. **The source's own removals and archive moves** (follow.py): checkpoints its retention removed and
   experiments it moved to `runs_all/`, read from the records steps 0 and 2 copied. Never more than
   that: an empty or wrong source removes nothing.
5. **Deletions** (only with `--delete`), last, so a link is moved off an experiment before it goes.

Why not `--delay-updates`: it only delays regular files (symlinks and directories are created at
once, so `latest_train` could still point into a half-copied experiment), its final renames are one
per file rather than one for the tree, and a pass cut short leaves `.~tmp~` dirs behind. Two passes
with a staged link give the ordering guarantee on both local and SSH sources.

Symlinks are copied as links (`-l`, never `-L`/`--copy-links`), so relative links stay relative.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.core.archive import ARCHIVED_FILE
from services.core.retention import REMOVED_FILE
from services.sync.follow import Followed, Follower
from services.sync.rsync import Rsync, Stats

log = logging.getLogger("sync")

STAGING = ".sync-links"
PARTIAL_DIR = ".rsync-partial"  # relative: rsync also excludes it from transfer and deletion
LINKS = "latest_*"
EXCLUDES = [
    "--exclude=.*.tmp",  # the trainer's temp checkpoints (services.core.checkpoints)
    "--exclude=.~tmp~/",  # rsync's --delay-updates dirs, if a user ran rsync by hand
    f"--exclude=/{STAGING}/",
    f"--exclude=/{LINKS}",  # links go in step 3; excluded here also means never deleted here
]


RECORDS = [  # step 0: the two record files and the folders on their way, nothing else
    f"--include=/{ARCHIVED_FILE}",
    f"--exclude=/{STAGING}/",
    "--exclude=/.*/",
    "--include=/*/",
    f"--include=/*/{REMOVED_FILE}",
    "--exclude=*",
]


def base_args(ssh_command: str | None, bwlimit_kbps: int, io_timeout: int) -> list[str]:
    # -r -l -p -t: tree, links as links, modes, mtimes (mtimes let the next pass skip unchanged files).
    # No -o/-g: ownership is the reader's business, and it fails quietly for a non-root sidecar.
    args = ["-rlpt", f"--timeout={io_timeout}"]
    if ssh_command:
        args += ["-e", ssh_command]
    if bwlimit_kbps:
        args.append(f"--bwlimit={bwlimit_kbps}")
    return args


@dataclass
class PassResult:
    stats: Stats
    links_updated: list[str] = field(default_factory=list)
    links_pending: list[str] = field(default_factory=list)
    seconds: float = 0.0
    followed: Followed = field(default_factory=Followed)

    @property
    def moved_anything(self) -> bool:
        f = self.followed
        return bool(self.stats.files or self.stats.deleted or self.links_updated or f.removed or f.archived)


def sync_pass(rsync: Rsync, source: str, dest: Path, delete: bool, follower: Follower | None = None) -> PassResult:
    t0 = time.monotonic()
    staging = dest / STAGING
    shutil.rmtree(staging, ignore_errors=True)  # a pass cut short may have left one
    staging.mkdir(parents=True)
    followed = Followed()
    try:
        if follower is not None:
            stats = rsync.run("--prune-empty-dirs", *RECORDS, source, f"{dest}/")
            followed = follower.follow()
        else:
            stats = Stats()
        stats += rsync.run(f"--include=/{LINKS}", "--exclude=*", source, f"{staging}/")
        stats += rsync.run(f"--partial-dir={PARTIAL_DIR}", *EXCLUDES, source, f"{dest}/")
        updated, pending = install_links(staging, dest, delete)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if follower is not None:
        followed += follower.follow()
    if delete:
        # Transfers nothing (--existing + --ignore-existing); only removes what SRC no longer has.
        stats += rsync.run("--delete", "--existing", "--ignore-existing", *EXCLUDES, source, f"{dest}/")
    return PassResult(stats, updated, pending, time.monotonic() - t0, followed)


def install_links(staging: Path, dest: Path, delete: bool) -> tuple[list[str], list[str]]:
    """Move staged `latest_*` links into DST when their target has arrived. Returns (updated, pending)."""
    updated, pending = [], []
    staged = sorted(p for p in staging.glob(LINKS) if p.is_symlink())
    for link in staged:
        target = os.readlink(link)
        final = dest / link.name
        if final.is_symlink() and os.readlink(final) == target:
            continue
        if not (dest / target).is_dir():  # relative to DST, like the reader will resolve it
            pending.append(link.name)
            log.info("%s -> %s: target not in %s yet; link kept as it was", link.name, target, dest)
            continue
        try:
            os.replace(link, final)
            updated.append(link.name)
        except OSError as e:  # e.g. a real directory named latest_train in DST
            log.warning("cannot update %s: %s", final, e)
    if delete:
        names = {p.name for p in staged}
        for old in dest.glob(LINKS):
            if old.is_symlink() and old.name not in names:
                old.unlink()
                updated.append(old.name)
    return updated, pending
