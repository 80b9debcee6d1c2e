"""One rsync invocation through the `sh` package: run, stop on request, read `--stats`."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

import sh


class RsyncError(Exception):
    """A failed rsync run (network down, disk full, killed...): transient, the caller retries."""


class Stopped(Exception):
    """The service is shutting down; the run was cut short on purpose."""


@dataclass
class Stats:
    files: int = 0  # regular files transferred (new or changed)
    bytes: int = 0  # their total size
    wire_bytes: int = 0  # bytes that crossed the pipe/network, both directions
    deleted: int = 0

    def __add__(self, other: Stats) -> Stats:
        return Stats(
            self.files + other.files,
            self.bytes + other.bytes,
            self.wire_bytes + other.wire_bytes,
            self.deleted + other.deleted,
        )


_STAT_RE = {
    "files": re.compile(r"^Number of regular files transferred: ([\d,.]+)", re.M),
    "bytes": re.compile(r"^Total transferred file size: ([\d,.]+)", re.M),
    "sent": re.compile(r"^Total bytes sent: ([\d,.]+)", re.M),
    "received": re.compile(r"^Total bytes received: ([\d,.]+)", re.M),
    "deleted": re.compile(r"^Number of deleted files: ([\d,.]+)", re.M),
}


def parse_stats(text: str) -> Stats:
    def num(key: str) -> int:
        m = _STAT_RE[key].search(text)
        return int(re.sub(r"[,.]", "", m.group(1))) if m else 0

    return Stats(num("files"), num("bytes"), num("sent") + num("received"), num("deleted"))


class Rsync:
    """Runs rsync; `terminate()` (from another thread: the stop signal's) stops the current run.

    rsync answers SIGTERM by moving the partly received file into --partial-dir, so a stopped run
    resumes on the next start instead of leaving a half file in place.
    """

    def __init__(self, base_args: list[str]):
        self._cmd = sh.Command("rsync")  # raises sh.CommandNotFound: checked by the CLI first
        self._base = base_args
        self._lock = threading.RLock()  # terminate() comes from the stop-signal thread while run() may hold it
        self._proc = None
        self._stopping = False
        # C locale: --stats numbers and messages in one stable format.
        self._env = {**os.environ, "LC_ALL": "C"}

    def run(self, *args: str) -> Stats:
        with self._lock:
            if self._stopping:
                raise Stopped()
            self._proc = self._cmd(
                *self._base, "--stats", *args, _bg=True, _bg_exc=False, _env=self._env, _tty_out=False
            )
        try:
            self._proc.wait()
            return parse_stats(self._proc.stdout.decode(errors="replace"))
        except sh.ErrorReturnCode as e:
            if self._stopping:
                raise Stopped() from None
            raise RsyncError(_one_line(e)) from None
        finally:
            with self._lock:
                self._proc = None

    def terminate(self) -> None:
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is not None:
            try:
                proc.terminate()
            except (ProcessLookupError, OSError):
                pass


def _one_line(e: sh.ErrorReturnCode) -> str:
    """The telling part of rsync/ssh stderr on one line: first and last meaningful lines (ssh's
    banners are '@' frames; rsync's own 'rsync error:' / 'connection unexpectedly closed' only echo
    the cause)."""
    lines = [line.strip(" @\t") for line in e.stderr.decode(errors="replace").splitlines()]
    echo = ("rsync error:", "rsync: connection unexpectedly closed", "rsync: [receiver]", "rsync: [sender]")
    telling = [line for line in lines if any(c.isalpha() for c in line) and not line.startswith(echo)]
    if not telling:
        telling = [line for line in lines if line] or ["no message"]
    detail = telling[0] if len(telling) == 1 or telling[0] == telling[-1] else f"{telling[0]} ... {telling[-1]}"
    return f"rsync exit {e.exit_code}: {detail}"
