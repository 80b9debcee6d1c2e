"""Experiment directories, the relative `latest_*` links that point at them, and the files in them that
services share by name (config.yaml, the trainer's progress.json)."""

from __future__ import annotations

import json
import os
import secrets
import time
from datetime import datetime
from pathlib import Path

from omegaconf import OmegaConf

MODES = ("train", "test")
PROGRESS_FILE = "progress.json"  # the trainer's state, every epoch (sync mirrors it; testers show it)


def experiment_name(task: str, mode: str, now: datetime | None = None) -> str:
    assert mode in MODES, mode
    return f"{task}_{mode}_{(now or datetime.now()).strftime('%Y%m%d_%H%M%S')}"


def create_experiment(runs_dir, task: str, mode: str, cfg=None) -> Path:
    """Make `runs/<Task>_<mode>_<stamp>/` with nn/, write config.yaml, point latest_<mode> at it."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(3):  # names have 1 s resolution: a second run in the same second waits for the next
        exp = runs_dir / experiment_name(task, mode)
        try:
            exp.mkdir()
            break
        except FileExistsError:
            time.sleep(1.01 - datetime.now().microsecond / 1e6)
    else:
        raise FileExistsError(f"cannot create a new experiment directory in {runs_dir}")
    (exp / "nn").mkdir()
    if cfg is not None:
        write_config(exp, cfg)
    update_latest_link(runs_dir, exp, mode)
    return exp


def temp_sibling(path) -> Path:
    """`.<name>.<random>.tmp` beside `path`: hidden from listings, skipped by sync, renamed into place."""
    path = Path(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def write_text_atomic(path, text: str) -> Path:
    """Write via `.<name>.<random>.tmp` + rename: readers (and rsync, which skips `.*.tmp`) see old or new."""
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_config(experiment, cfg) -> Path:
    return write_text_atomic(Path(experiment) / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))


def write_progress(experiment, progress: dict) -> Path:
    return write_text_atomic(Path(experiment) / PROGRESS_FILE, json.dumps(progress))


def read_progress(experiment) -> dict | None:
    """The training run's progress.json, or None when there is none (yet) or it cannot be read."""
    try:
        value = json.loads((Path(experiment) / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def saved_config(experiment):
    """The resolved config an experiment was made with (its config.yaml), or None."""
    path = Path(experiment) / "config.yaml" if experiment else None
    try:
        return OmegaConf.load(path) if path and path.is_file() else None
    except Exception:  # a torn or foreign config.yaml tells nothing
        return None


def trained_task(experiment):
    """(task config, rl_games params) a training run was made with, from its config.yaml; None when that is
    unknown (no saved config, or a test experiment's, which has no network). The one reading of "the task a
    run was trained on": a tester plays a run in it, a trainer resumes a run only in it."""
    saved = saved_config(experiment)
    if saved is None or "task" not in saved or "params" not in (saved.get("train") or {}):
        return None
    return saved.task, saved.train.params


def update_latest_link(runs_dir, experiment, mode: str) -> Path:
    """Atomically point `runs/latest_<mode>` at `experiment` with a *relative* symlink.

    Relative, so the link survives rsync and a volume mounted at another path; atomic (symlink to a
    temp name, then rename over), so a reader never finds the link missing.
    """
    runs_dir = Path(runs_dir)
    link = runs_dir / f"latest_{mode}"
    target = os.path.relpath(Path(experiment).resolve(), runs_dir.resolve())
    tmp = runs_dir / f".latest_{mode}.{secrets.token_hex(4)}.tmp"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return link
