"""The stack's end-to-end flow, driven through `make` exactly as a user would, for either runtime."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from tests.waiting import free_port  # noqa: F401 (re-exported for this area)

ROOT = Path(__file__).resolve().parents[2]
# Small and quick: few envs, a checkpoint every 2 epochs, testers polling every 2 s.
# No MAX_ITERATIONS: the trainer runs Reach's own budget (configs/train/ReachPPO.yaml).
UP_ARGS = ["TASK=Reach", "NUM_ENVS=8", "SAVE_FREQUENCY=2", "reload-interval=2"]


def require_engine():
    """Skip where no Docker engine runs; fail instead in CI (POLICYCAST_REQUIRE_DOCKER), where one must."""
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        return
    if os.environ.get("POLICYCAST_REQUIRE_DOCKER"):
        pytest.fail("no Docker engine runs, and POLICYCAST_REQUIRE_DOCKER is set (CI)")
    pytest.skip("no Docker engine runs here (start dockerd; .ci/run does)")


def docker(*args, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def volume_files(volume, pattern):
    """Paths matching `pattern` in a named volume (read through a throwaway container)."""
    out = docker("run", "--rm", "-v", f"{volume}:/v:ro", "--entrypoint", "find", "policycast-sync:local",
                 "/v", "-path", pattern)
    return out.stdout.split() if out.returncode == 0 else []


def volume_checkpoints(volume):
    return volume_files(volume, "*_train_*/nn/*.pth")


def swarm_state():
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def stack_objects(project):
    """Everything of the stack Docker still has, except volumes (those are kept on purpose)."""
    label = f"label=com.docker.stack.namespace={project}"
    found = {kind: docker(*cmd, "-q", "--filter", label).stdout.split() for kind, cmd in
             {"containers": ["ps", "-a"], "networks": ["network", "ls"]}.items()}
    if swarm_state() == "active":
        found.update({kind: docker(kind, "ls", "-q", "--filter", label).stdout.split()
                      for kind in ("service", "secret", "config")})
    return {k: v for k, v in found.items() if v}


class Stack:
    """One stack under test: its own POLICYCAST_HOME, streamer port and (Docker) compose project."""

    def __init__(self, home: Path, **env):
        self.home = home
        self.port = free_port()
        self.env = {**os.environ, "POLICYCAST_HOME": str(home), "STREAM_PORT": str(self.port),
                    "SYNC_PORT": str(free_port()), **env}
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "make-up.log"

    def make(self, *args, timeout=900, **kw):
        return subprocess.run(["make", "-s", "-C", str(ROOT), *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, **kw)

    def start_up(self, *args):
        """`make up` in the background (the local runtime stays in the foreground until `make down`)."""
        self.out = open(self.log, "w")
        return subprocess.Popen(["make", "-s", "-C", str(ROOT), "up", *UP_ARGS, *args], env=self.env,
                                stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)

    def testers(self):
        try:
            return requests.get(self.url + "/api/testers", timeout=5).json()
        except (requests.RequestException, ValueError):
            return []

    def online(self):
        return [t for t in self.testers() if t.get("online")]

    def wait(self, what, pred, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = pred()
            if value:
                return value
            time.sleep(1)
        tail = self.log.read_text()[-4000:] if self.log.exists() else ""
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; testers={self.testers()}\n{tail}")

    def jpeg_frames(self, n=2, timeout=30):
        """Read GET /stream until n complete JPEG frames came, and decode them."""
        frames, buf = [], b""
        with requests.get(self.url + "/stream", stream=True, timeout=10) as r:
            assert r.status_code == 200
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            deadline = time.monotonic() + timeout
            for chunk in r.iter_content(8192):
                buf += chunk
                while (start := buf.find(b"\xff\xd8")) >= 0 and (end := buf.find(b"\xff\xd9", start)) >= 0:
                    frames.append(buf[start:end + 2])
                    buf = buf[end + 2:]
                if len(frames) >= n or time.monotonic() > deadline:
                    break
        images = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
        return [im for im in images if im is not None]


def e2e_flow(stack: Stack, shared_checkpoints):
    """The issue's "done when": checkpoints reach the shared runs, a tester reloads twice, /stream has
    JPEGs, `make reload-interval=60` reaches every tester, `make testers ... N=2` gives two testers."""
    stack.wait("checkpoints in the shared runs", lambda: len(shared_checkpoints()) >= 1)
    stack.wait("a tester that reloaded twice", lambda: any(t.get("reloads", 0) >= 2 for t in stack.online()))
    # the trainer's progress.json came through sync and the tester's status: training at Reach's budget
    training = stack.wait("training progress on the dashboard", lambda: next(
        (t["training"] for t in stack.online() if t.get("training")), None))
    assert training["state"] in ("training", "finished") and training["max_epochs"] == 300 and training["env_steps"] > 0

    images = stack.jpeg_frames(2)
    assert len(images) >= 2, "GET /stream delivered fewer than two JPEG frames"
    assert all(im.shape[0] >= 16 and im.shape[1] >= 16 and im.std() > 0 for im in images)

    done = stack.make("reload-interval=60", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reload-interval=60 s set on 1 tester(s)" in done.stdout
    assert all(t["reload_interval"] == 60 for t in stack.online())

    done = stack.make("testers", "EXPERIMENT=latest", "N=2", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    two = stack.wait("two testers online", lambda: (ts := stack.online()) and len(ts) == 2 and ts)
    # the new one started with the remembered interval
    stack.wait("both testers at the remembered interval",
               lambda: all(t["reload_interval"] == 60 for t in stack.online()), timeout=60)
    assert len({t["id"] for t in two}) == 2

    # a named experiment gets testers of its own, beside the ones following latest
    experiment = two[0]["experiment"]
    done = stack.make("testers", f"EXPERIMENT={experiment}", "N=1", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # its first status may come before its reloader resolved the experiment: wait for that, too
    three = stack.wait("a third tester, named after its experiment, on it",
                       lambda: (ts := stack.online()) and len(ts) == 3 and any(
                           t["id"].startswith(experiment) and t["experiment"] == experiment for t in ts) and ts)
    named = [t for t in three if t["id"].startswith(experiment)]
    assert len(named) == 1 and named[0]["experiment"] == experiment
