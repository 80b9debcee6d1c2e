"""What the security probes share: a streamer and a tester as the stack runs them (real processes on
127.0.0.1, the stack's token in their environment), and a listener that records who calls it."""

import json
import os
import pickle
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from services.core.checkpoints import list_checkpoints
from services.core.cli import command
from tests.faults.helpers import argv_tester
from tests.processes import stop
from tests.tester.helpers import copy_run
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "the-stacks-token-for-the-probes"
TESTER = "sec-1"


class _RunsCode:
    """Unpickling this would leave a marker file (a hostile checkpoint)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Served:
    url: str  # the streamer
    control_url: str  # the tester's control API
    experiment: Path
    hostile: Path  # the run's newest file, a pickle that would run code
    good: list  # the run's loadable checkpoints, oldest first
    logs: Path

    def tile(self) -> dict:
        return requests.get(f"{self.url}/api/testers/{TESTER}", timeout=5).json()


@pytest.fixture(scope="package")
def served(reach_run, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    runs = tmp / "runs"
    exp = copy_run(reach_run, runs)
    good = list_checkpoints(exp)
    hostile = exp / "nn" / "last_Reach_ep_99_rew_99.0.pth"
    hostile.write_bytes(pickle.dumps({"model": {}, "x": _RunsCode(tmp / "PWNED")}))  # the newest file
    port, control_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "POLICYCAST_TOKEN": TOKEN}  # as `make up` runs them
    procs = []
    for name, argv in (
        ("streamer", command("streamer", "--port", port)),
        ("tester", argv_tester(runs, url, TESTER, f"test.control.port={control_port}")),
    ):
        out = open(tmp / f"{name}.log", "w")
        procs.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))

    def registered():
        for p, name in zip(procs, ("streamer", "tester")):
            assert p.poll() is None, (tmp / f"{name}.log").read_text()[-3000:]
        try:
            tile = requests.get(f"{url}/api/testers/{TESTER}", timeout=5)
        except requests.ConnectionError:
            return False
        return tile.ok and tile.json()["epoch"] is not None and tile.json()

    try:
        wait_for(registered, 120, step=0.3, what="the tester registered and playing a checkpoint")
        yield Served(url, f"http://127.0.0.1:{control_port}", exp, hostile, good, tmp)
    finally:
        stop(*reversed(procs))
    assert not (tmp / "PWNED").exists(), "a hostile checkpoint ran code"


class Listener:
    """An HTTP server on 127.0.0.1 that answers every call with a JSON status and records its headers."""

    def __init__(self):
        self.calls: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _any(self):
                outer.calls.append({"method": self.command, "path": self.path, **dict(self.headers)})
                body = json.dumps({"state": "HIJACKED", "reloads": 99}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def tokens_seen(self) -> list[str | None]:
        return [c.get("Authorization") for c in self.calls]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()
