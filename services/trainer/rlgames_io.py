"""Route rl_games' checkpoint files and console prints through policycast's rules.

rl_games writes with a plain `torch.save` to the final name (a reader can see half a file), stores
`last_mean_rewards` as a numpy scalar (refused by `weights_only=True`), loads with
`weights_only=False`, and prints on every save. `A2CAgent` calls `torch_ext.save_checkpoint` /
`load_checkpoint` as module attributes, so swapping those two attributes reroutes every file access.

A full disk (the checkpoint, a TensorBoard summary or the log all live in the experiment) stops
training with one log line and exit code 1 instead of tracebacks from rl_games and TensorBoard's
writer thread: nothing more can be saved until space is freed, and every checkpoint saved before is
whole (saves are atomic), so the user frees space and resumes with `checkpoint=latest`. TensorBoard's
writer thread often meets the full disk first; its queue then fills and the main thread would block on
it for ever, so that thread's error is raised in the main thread (a signal wakes it).
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import math
import os
import re
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import torch
from rl_games.algos_torch import torch_ext

from services.core.checkpoints import load_checkpoint, save_atomic

log = logging.getLogger("trainer")
rl_log = logging.getLogger("rl_games")

# rl_games names the final file `..._rew__12.3_` (str of a 1-element array) and the periodic one
# `..._rew_12.345678` (str of a float32): one spelling for both, two decimals.
_REW_RE = re.compile(r"_rew_+\[?\s*(-?(?:inf|nan|[\d.]+(?:e[-+]?\d+)?))\s*\]?_*$", re.IGNORECASE)


def checkpoint_path(filename: str) -> Path:
    """The `.pth` path rl_games meant by `filename` (it passes names without the suffix)."""
    m = _REW_RE.search(filename)
    if m:
        reward = float(m.group(1))
        text = f"{reward:.2f}" if math.isfinite(reward) else str(reward)
        filename = filename[: m.start()] + f"_rew_{text}"
    return Path(filename + ".pth")


def plain(value):
    """numpy values as Python/torch ones, so the file loads with weights_only=True everywhere."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, np.generic):
        return value.item()
    return value


_last_saved: list[Path] = []  # rl_games saves the final epoch twice when it is also a periodic one
_on_saved: list = []  # callables(path) run after each save (the trainer's checkpoint retention)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def save_checkpoint(filename: str, state: dict) -> Path:
    state = plain(state)
    # A torch.compile'd model prefixes every key; testers load into an uncompiled one.
    state["model"] = {k.removeprefix("_orig_mod."): v for k, v in state["model"].items()}
    path = save_atomic(state, checkpoint_path(filename))  # OSError naming the file when it fails
    # Periodic and final files are news; the best file is rewritten on nearly every improvement.
    news = path.name.startswith("last_") and _last_saved[-1:] != [path]
    (log.info if news else log.debug)("saved %s/%s", path.parent.name, path.name)
    _last_saved[:] = [path]
    for hook in _on_saved:
        try:
            hook(path)
        except Exception:  # retention is housekeeping: it must never stop the training
            log.warning("after saving %s:", path.name, exc_info=True)
    return path


def load(filename) -> dict:
    return load_checkpoint(filename)


def disk_full(exc: BaseException | None) -> OSError | None:
    """The disk-full OSError behind `exc`, preferring one that names its file (a cleanup that failed
    the same way may have replaced the first error, which is kept as its __context__)."""
    found, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            found.append(exc)
        exc = exc.__cause__ or exc.__context__
    return next((e for e in found if e.filename), found[0] if found else None)


@contextlib.contextmanager
def patched_checkpoint_io(on_saved=None):
    """Every rl_games save is atomic and weights_only-clean; every load is weights_only=True; a full
    disk ends the run with one line and exit code 1 (see the module doc). `on_saved(path)` runs after
    each save."""
    saved = torch_ext.save_checkpoint, torch_ext.load_checkpoint, threading.excepthook
    _on_saved[:] = [on_saved] if on_saved is not None else []
    torch_ext.save_checkpoint, torch_ext.load_checkpoint = save_checkpoint, load
    threading.excepthook = _disk_full_in_a_thread_stops_training(threading.excepthook)
    previous = signal.signal(THREAD_DISK_FULL, _raise_thread_disk_full)
    try:
        yield
    except BaseException as e:
        full = disk_full(e)
        if full is None:
            raise
        where = f"writing {full.filename}" if full.filename else "writing to the experiment"
        log.error(
            "disk full %s (%s): training stopped; every checkpoint saved before is intact. Free some "
            "space, then resume with checkpoint=latest",
            where,
            full.strerror,
        )
        logging.shutdown()
        sys.stdout.flush()
        # Not SystemExit: TensorBoard's exit handler would block on its dead writer's full queue. Nothing
        # is lost: the failed save has cleaned up after itself, and every earlier file is whole.
        os._exit(1)
    finally:
        _on_saved.clear()
        torch_ext.save_checkpoint, torch_ext.load_checkpoint, threading.excepthook = saved
        signal.signal(THREAD_DISK_FULL, previous)


THREAD_DISK_FULL = signal.SIGUSR2
_thread_disk_full: list[OSError] = []


def _raise_thread_disk_full(signum, frame):
    raise _thread_disk_full[0]


def _disk_full_in_a_thread_stops_training(hook):
    """A writer thread that died of the full disk prints nothing: the main thread gets its error (woken
    by a signal even while blocked on that writer's queue) and says it in one line."""

    def excepthook(args):
        full = disk_full(args.exc_value) if args.exc_value is not None else None
        if full is None:
            return hook(args)
        if not _thread_disk_full:
            _thread_disk_full.append(full)
            signal.pthread_kill(threading.main_thread().ident, THREAD_DISK_FULL)

    return excepthook


class _PrintsToLog(io.TextIOBase):
    """rl_games' start-up and per-save prints go to the DEBUG log; its warnings stay visible."""

    def __init__(self):
        self._buffer = ""

    def writable(self):
        return True

    def write(self, text):
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            if line.strip():
                (rl_log.warning if "WARNING" in line else rl_log.debug)(line.strip())
        return len(text)

    def flush(self):
        if self._buffer.strip():
            rl_log.debug(self._buffer.strip())
        self._buffer = ""


@contextlib.contextmanager
def quiet_prints():
    sink = _PrintsToLog()
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        sink.flush()
