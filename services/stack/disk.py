"""`make ps`'s disk lines: the trainer's runs (its progress.json) and sync's mirror (its /healthz), each
with its size and the free space where it lives — what a run that goes on for days needs in view."""

from __future__ import annotations

from pathlib import Path

import requests

from services.core.disk import size_text
from services.core.experiments import read_progress

HEALTHZ = "http://127.0.0.1:{port}/healthz"


def lines(progress: dict | None, health: dict | None) -> list[str]:
    """One line for the trainer's runs, one for the mirror; what is not known is left out."""
    out = []
    disk = (progress or {}).get("disk")
    if disk:
        kept = progress.get("checkpoints")
        ckpts = (
            f" (latest run: {kept['kept']} checkpoints, {size_text(kept['bytes'])}, {kept['removed']:,} removed)"
            if kept
            else ""
        )
        out.append(
            f"disk  trainer runs {size_text(disk['runs_bytes'])}{ckpts} · "
            f"{size_text(disk['free_bytes'])} free ({disk['free_percent']:.0f} %)"
            + (
                f"  LOW DISK: under {disk['low_percent']:g} %, the trainer keeps fewer checkpoints"
                if disk.get("low")
                else ""
            )
        )
    mirror = (health or {}).get("disk")
    if mirror:
        out.append(
            f"disk  sync mirror {size_text(mirror['dest_bytes'])} ({health.get('files_removed', 0):,} removed, "
            f"{health.get('experiments_archived', 0)} archived as the source did) · "
            f"{size_text(mirror['free_bytes'])} free ({mirror['free_percent']:.0f} %)"
        )
    return out


def local(runs_dir, sync_port: int) -> list[str]:
    """The local runtime: progress.json of runs/latest_train, sync's /healthz on 127.0.0.1."""
    return lines(read_progress(Path(runs_dir) / "latest_train"), _get(HEALTHZ.format(port=sync_port)))


def relayed(streamer: str, health: dict | None) -> list[str]:
    """A Docker stack, whose runs this machine does not see: the trainer's progress as a tester passes it
    to the streamer, and sync's /healthz as its runtime fetched it."""
    progress = None
    testers = _get(f"{streamer}/api/testers")
    for t in testers if isinstance(testers, list) else []:
        if isinstance(t.get("training"), dict) and t["training"].get("disk"):
            progress = t["training"]
            break
    return lines(progress, health)


def _get(url: str):
    try:
        return requests.get(url, timeout=3).json()
    except (requests.RequestException, ValueError):
        return None
