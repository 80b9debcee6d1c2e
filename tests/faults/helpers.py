"""Helpers for the fault suite: services as real processes (logs kept for the failure message), and
what a user sees of them over HTTP."""

import os
import signal
import subprocess
from pathlib import Path

import requests

from services.core.cli import command
from tests.waiting import free_port, wait_for  # noqa: F401 (re-exported for this area)

ROOT = Path(__file__).resolve().parents[2]


class Service:
    """`ARGS...` (e.g. `command("streamer", ...)`) in its own process group, output to a log file."""

    def __init__(self, name: str, args: list, log_dir: Path, env: dict | None = None, cwd: Path = ROOT):
        self.name, self.log_path = name, Path(log_dir) / f"{name}.log"
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [str(a) for a in args],
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.log.close()

    def stop(self, timeout=30) -> int:
        """SIGTERM, as `make down` and docker stop do; returns the exit code."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def argv_streamer(port: int) -> list:
    return command("streamer", "--port", port)


def argv_tester(runs: Path, streamer_url: str, tester_id: str, *extra) -> list:
    """A small real tester following latest_train and pushing to a streamer service."""
    return command(
        "tester",
        "checkpoint=latest",
        f"runsDir={runs}",
        f"test.streamerUrl={streamer_url}",
        f"test.id={tester_id}",
        "numEnvs=1",
        "reloadInterval=30",
        "test.render.width=160",
        "test.render.height=120",
        "test.render.fps=10",
        *extra,
    )


def tiles_of(url: str) -> dict:
    """{id: tile} from GET /api/testers; None while the streamer does not answer."""
    try:
        return {t["id"]: t for t in requests.get(f"{url}/api/testers", timeout=5).json()}
    except requests.ConnectionError:
        return None


def tiles_live(url: str, ids, frames_after: dict | None = None) -> dict | None:
    """The tiles of `ids` when every one is online with a checkpoint (and, given `frames_after`, has
    received frames beyond those counts); else None."""
    tiles = tiles_of(url) or {}
    if all(
        i in tiles
        and tiles[i]["online"]
        and tiles[i]["epoch"] is not None
        and tiles[i]["frames_received"] > (frames_after or {}).get(i, 0)
        for i in ids
    ):
        return tiles
    return None
