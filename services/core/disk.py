"""How much a folder holds and how much room is left where it lives: the figures the trainer
(progress.json) and sync (/healthz) report, and the dashboard and `make ps` show."""

from __future__ import annotations

import os
import shutil


def tree_bytes(path) -> int:
    """Bytes of the regular files under `path` (links not followed; what vanishes meanwhile is skipped)."""
    total, stack = 0, [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for e in entries:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def usage(path) -> dict | None:
    """`{"free_bytes", "total_bytes", "free_percent"}` of the filesystem holding `path`, or None."""
    try:
        u = shutil.disk_usage(path)
    except OSError:
        return None
    return {
        "free_bytes": u.free,
        "total_bytes": u.total,
        "free_percent": round(100.0 * u.free / u.total, 1) if u.total else 100.0,
    }


def size_text(n: float | None) -> str:
    """1536 -> '1.5 KB' (binary units, as du -h)."""
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"
