"""A real `train.py config=test_stream` process (tester + dashboard in one), as the browser and end-to-end tests
start it: small frames, its log in a file, its status read through the dashboard's API, stopped with SIGTERM
(exit 0 expected)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import requests

from services.core.cli import command
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("test.numEnvs=1", "test.render.width=320", "test.render.height=240", "test.render.fps=10")


class StreamingTester:
    def __init__(self, tester_id: str, runs: Path, log: Path, *args, env: dict | None = None, **overrides):
        self.id, self.log = tester_id, log
        self.url = f"http://127.0.0.1:{free_port()}"
        argv = ["config=test_stream", f"test.id={tester_id}", *SMALL, *args]
        overrides = {"checkpoint": "latest", "runsDir": runs, "streamPort": self.url.rsplit(":", 1)[1], **overrides}
        self._log = open(log, "w")
        self.proc = subprocess.Popen(
            command("train", *argv, **overrides),
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**(os.environ if env is None else env), "MUJOCO_GL": "egl"},  # env: the whole environment
        )

    def text(self) -> str:
        return self.log.read_text()

    def status(self) -> dict | None:
        """Its tile's status (None until the dashboard answers); fails at once if the process died."""
        assert self.proc.poll() is None, self.text()[-3000:]
        try:
            r = requests.get(f"{self.url}/api/testers/{self.id}", timeout=2)
        except requests.ConnectionError:
            return None
        return r.json() if r.ok else None

    def wait(self, predicate, timeout=120, what="the tester's status"):
        """Its status once `predicate(status)` holds."""
        return wait_for(lambda: (s := self.status()) and predicate(s) and s, timeout=timeout, what=what)

    def dashboard_url(self) -> str:
        """The dashboard's URL with its control token, as the process printed it (what a user opens)."""
        return re.search(r"control token\): (http://\S+)", self.text()).group(1)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._log.close()
        return rc

    def __enter__(self) -> StreamingTester:
        return self

    def __exit__(self, exc_type, *_) -> None:
        rc = self.stop()
        if exc_type is None:
            assert rc == 0, self.text()[-3000:]
