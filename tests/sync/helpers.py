"""Helpers for the sync tests: start the real service as a process, poll, talk HTTP on 127.0.0.1."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from services.core.cli import command
from tests.processes import run, start
from tests.waiting import free_port, wait_for  # noqa: F401 (re-exported for this area)


def write_atomic(path: Path, data: bytes) -> None:
    """Like the trainer: a dot-prefixed .tmp in the same dir, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{time.monotonic_ns() % 100000}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def http_get(url: str):
    """(status, body bytes) of a GET; errors answered with a status are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def healthz(port: int):
    code, body = http_get(f"http://127.0.0.1:{port}/healthz")
    return code, json.loads(body)


def run_once(*args, timeout=60, env=None):
    cmd = command("sync", "--once", "--metrics-port", 0, *args)
    return run(cmd, timeout=timeout, env=env)


class SyncProcess:
    """`python -m services.sync ...` in the background; stop() sends SIGTERM and returns the exit code."""

    def __init__(self, *args, metrics_port=None):
        self.port = metrics_port or free_port()
        cmd = command("sync", "--metrics-port", self.port, *args)
        self.proc = start(cmd, stderr=subprocess.STDOUT)
        wait_for(self._serving, timeout=20, what="the sync HTTP server")

    def _serving(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"sync exited early ({self.proc.returncode}):\n{self.proc.stdout.read()}")
        try:
            return http_get(f"http://127.0.0.1:{self.port}/healthz")[0] in (200, 503)
        except OSError:
            return False

    def health(self):
        return healthz(self.port)

    def metrics(self) -> str:
        return http_get(f"http://127.0.0.1:{self.port}/metrics")[1].decode()

    def rsync_children(self) -> list[int]:
        """rsync processes this service started (its direct children)."""
        pids = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                try:
                    if Path(f"/proc/{pid}/comm").read_text().strip() == "rsync":
                        pids.append(int(pid))
                except OSError:
                    pass
        return pids

    def stop(self, timeout=15) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            raise AssertionError(f"sync did not stop on SIGTERM within {timeout}s:\n{out}") from None
        return self.proc.returncode, out


@pytest.fixture
def sync_process():
    started = []

    def start(*args, **kw):
        p = SyncProcess(*args, **kw)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate()


def make_experiment(runs: Path, name: str, files: dict[str, bytes], link: str | None = "latest_train") -> Path:
    """A run directory with nn/ files, config.yaml, and optionally `latest_*` pointing at it (relative)."""
    exp = runs / name
    for fname, data in files.items():
        write_atomic(exp / "nn" / fname, data)
    write_atomic(exp / "config.yaml", b"task: Reach\n")
    if link:
        tmp = runs / f".{link}.tmp"
        os.symlink(name, tmp)
        os.replace(tmp, runs / link)
    return exp


SSHD = "/usr/sbin/sshd"


def keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "policycast-test", "-f", str(path)],
        check=True,
        timeout=30,
    )
    return (path.with_suffix(".pub")).read_text().strip()


class Sshd:
    """A real sshd on 127.0.0.1:<free port> accepting only a fresh user key. `stop()` takes the "server"
    away; `start()` brings it back on the same port with the same host key."""

    def __init__(self, d: Path):
        if not os.path.exists(SSHD):
            pytest.skip(f"{SSHD} not installed (Debian: apt-get install openssh-server)")
        self.dir = d
        d.mkdir(parents=True, exist_ok=True)
        host_pub = keygen(d / "host_key")
        (d / "authorized_keys").write_text(keygen(d / "user_key") + "\n")
        self.port = free_port()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {' '.join(host_pub.split()[:2])}\n")
        (d / "sshd_config").write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"HostKey {d / 'host_key'}",
                    f"PidFile {d / 'sshd.pid'}",
                    f"AuthorizedKeysFile {d / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "LogLevel ERROR",
                ]
            )
            + "\n"
        )
        # sshd refuses to start as root without its privilege-separation dir (Debian's init makes it).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.proc = None
        self.start()

    def info(self) -> dict:
        return {
            "port": self.port,
            "identity": self.dir / "user_key",
            "known_hosts": self.dir / "known_hosts",
            "dir": self.dir,
        }

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config"), "-p", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError(f"sshd exited: {self.proc.stdout.read()}")
            return (
                subprocess.run(
                    ["ssh-keyscan", "-p", str(self.port), "127.0.0.1"], capture_output=True, timeout=10
                ).returncode
                == 0
            )

        wait_for(listening, timeout=15, step=0.1, what="sshd to listen")

    def stop(self) -> None:
        """The listener goes away (connections it already handed off end with their clients)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
