"""The stack's end-to-end flow, driven through `make` exactly as a user would, for either runtime."""

import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from services.streamer.mjpeg import read_parts
from services.tester.frames import frame_comment
from tests.view3d_client import WireViewer
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
    out = docker(
        "run", "--rm", "-v", f"{volume}:/v:ro", "--entrypoint", "find", "policycast-sync:local", "/v", "-path", pattern
    )
    return out.stdout.split() if out.returncode == 0 else []


def volume_checkpoints(volume):
    return volume_files(volume, "*_train_*/nn/*.pth")


def swarm_state():
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def stack_objects(project):
    """Everything of the stack Docker still has, except volumes (those are kept on purpose)."""
    label = f"label=com.docker.stack.namespace={project}"
    found = {
        kind: docker(*cmd, "-q", "--filter", label).stdout.split()
        for kind, cmd in {"containers": ["ps", "-a"], "networks": ["network", "ls"]}.items()
    }
    if swarm_state() == "active":
        found.update(
            {
                kind: docker(kind, "ls", "-q", "--filter", label).stdout.split()
                for kind in ("service", "secret", "config")
            }
        )
    return {k: v for k, v in found.items() if v}


class Stack:
    """One stack under test: its own POLICYCAST_HOME, streamer port and (Docker) compose project."""

    def __init__(self, home: Path, **env):
        self.home = home
        self.port = free_port()
        self.env = {
            **os.environ,
            "POLICYCAST_HOME": str(home),
            "STREAM_PORT": str(self.port),
            "SYNC_PORT": str(free_port()),
            **env,
        }
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "make-up.log"

    def make(self, *args, timeout=900, **kw):
        return subprocess.run(
            ["make", "-s", "-C", str(ROOT), *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kw
        )

    def start_up(self, *args):
        """`make up` in the background (the local runtime stays in the foreground until `make down`)."""
        self.out = open(self.log, "w")
        return subprocess.Popen(
            ["make", "-s", "-C", str(ROOT), "up", *UP_ARGS, *args],
            env=self.env,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def testers(self):
        """GET /api/testers; anything but a 200 with a JSON list fails the test here, loudly."""
        r = requests.get(self.url + "/api/testers", timeout=10)
        assert r.status_code == 200, f"GET /api/testers answered {r.status_code}: {r.text[:500]}"
        body = r.json()
        assert isinstance(body, list), body
        return body

    def testers_by_id(self):
        return {t["id"]: t for t in self.testers()}

    def online(self):
        return [t for t in self.testers() if t.get("online")]

    def token(self):
        return dict(
            line.split("=", 1)
            for line in (self.home / ".policycast.env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )["POLICYCAST_TOKEN"]

    def wait(self, what, pred, timeout=300):
        """Poll pred() until truthy. Only 'the streamer is not listening yet' is waited through; any
        other failure of the API propagates."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = pred()
            except requests.ConnectionError:
                value = None
            if value:
                return value
            time.sleep(1)
        tail = self.log.read_text()[-4000:] if self.log.exists() else ""
        try:
            seen = self.testers()
        except (requests.RequestException, AssertionError) as e:
            seen = f"unavailable ({e})"
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; testers={seen}\n{tail}")

    def stream_frames(self, seconds=3.0, timeout=30):
        """(arrival time, jpeg) of every frame GET /stream delivers over `seconds`."""
        frames = []
        with requests.get(self.url + "/stream", stream=True, timeout=10) as r:
            assert r.status_code == 200
            assert r.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            start = time.monotonic()
            for _, jpeg in read_parts(r.iter_content(8192)):
                frames.append((time.monotonic(), jpeg))
                if time.monotonic() - start >= seconds or time.monotonic() - start > timeout:
                    break
        return frames

    def stream_images(self, seconds=2.0):
        """The frames GET /stream delivers over `seconds`, decoded (BGR arrays)."""
        return [
            cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) for _, jpeg in self.stream_frames(seconds)
        ]


def e2e_flow(stack: Stack, shared_checkpoints):
    """The stack working end to end: checkpoints reach the shared runs, a tester reloads twice, /stream has
    JPEGs, `make reload-interval=60` reaches every tester, `make testers ... N=2` gives two testers."""
    stack.wait("checkpoints in the shared runs", lambda: len(shared_checkpoints()) >= 1)
    stack.wait("a tester that reloaded twice", lambda: any(t.get("reloads", 0) >= 2 for t in stack.online()))
    # the trainer's progress.json came through sync and the tester's status: training at Reach's budget
    training = stack.wait(
        "training progress on the dashboard",
        lambda: next((t["training"] for t in stack.online() if t.get("training")), None),
    )
    assert training["state"] in ("training", "finished") and training["max_epochs"] == 300 and training["env_steps"] > 0

    # controls need the token (every streamer, in every mode), sent as the dashboard sends it: JSON
    tester_id = stack.online()[0]["id"]
    assert requests.post(f"{stack.url}/api/testers/{tester_id}/reload", json={}, timeout=10).status_code == 401
    r = requests.post(
        f"{stack.url}/api/testers/{tester_id}/reload",
        json={},
        timeout=10,
        headers={"Authorization": f"Bearer {stack.token()}"},
    )
    assert r.status_code == 200, r.text

    done = stack.make("reload-interval=60", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reload-interval=60 s set on 1 tester(s)" in done.stdout

    def one_tester_at_60():
        online = stack.online()
        return online if len(online) == 1 and online[0]["reload_interval"] == 60 else None

    # statuses reach the streamer every second: the dashboard shows the new interval within a few
    stack.wait("one tester showing the new reload interval on the dashboard", one_tester_at_60, timeout=15)
    # now each checkpoint is kept a minute: what the frames show stays put while we look
    check_live_frames(stack, shared_checkpoints)
    check_3d_view(stack)
    check_clips(stack)

    done = stack.make("testers", "EXPERIMENT=latest", "N=2", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    two = stack.wait("two testers online", lambda: (ts := stack.online()) and len(ts) == 2 and ts)
    # the new one started with the remembered interval
    stack.wait(
        "both testers at the remembered interval",
        lambda: (ts := stack.online()) and len(ts) == 2 and all(t["reload_interval"] == 60 for t in ts),
        timeout=60,
    )
    # friendly ids, the replica's number (the local runtime's process names; compose's container names)
    assert sorted(t["id"] for t in two) == ["tester-1", "tester-2"], [t["id"] for t in two]
    # each replica has a 3D view of its own that opens from here
    links = stack.wait(
        "both testers' 3D links",
        lambda: (
            (ts := stack.online())
            and len(ts) == 2
            and all(t.get("view3d_url") for t in ts)
            and [t["view3d_url"] for t in ts]
        ),
        timeout=60,
    )
    assert len(set(links)) == 2, links
    assert all(requests.get(link, timeout=10).status_code == 200 for link in links), links

    # a named experiment gets testers of its own, beside the ones following latest
    experiment = two[0]["experiment"]
    done = stack.make("testers", f"EXPERIMENT={experiment}", "N=1", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    # its first status may come before its reloader resolved the experiment: wait for that, too
    three = stack.wait(
        "a third tester, named after its experiment, on it",
        lambda: (
            (ts := stack.online())
            and len(ts) == 3
            and any(t["id"].startswith(experiment) and t["experiment"] == experiment for t in ts)
            and ts
        ),
    )
    named = [t for t in three if t["id"].startswith(experiment)]
    assert len(named) == 1 and named[0]["experiment"] == experiment
    assert named[0]["id"] == f"{experiment[:50]}-1", named[0]["id"]


def free_range(n: int) -> str:
    """FIRST-LAST of n consecutive ports free on 127.0.0.1 now (the stack's 3D relay, VIEW3D_PORTS)."""
    for _ in range(200):
        first = random.randrange(30000, 60000)
        try:
            held = [socket.create_server(("127.0.0.1", p)) for p in range(first, first + n)]
        except OSError:
            continue
        for sock in held:
            sock.close()
        return f"{first}-{first + n - 1}"
    raise RuntimeError(f"no {n} consecutive free ports")


def check_3d_view(stack: Stack):
    """The tester's 3D link opens from this machine, on 127.0.0.1 (the streamer's relay in compose, the
    tester itself in the local runtime): MuJoCo's viewer page, and the world streams to a page."""
    tester = stack.wait("the tester's 3D link", lambda: (ts := stack.online()) and ts[0].get("view3d_url") and ts[0])
    url = tester["view3d_url"]
    assert url.startswith("http://127.0.0.1:"), url
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "MuJoCo" in page.text, (page.status_code, page.text[:200])
    with WireViewer(url) as viewer:
        stack.wait("the world streaming to a 3D page", lambda: viewer.payloads >= 30, timeout=60)


def check_live_frames(stack: Stack, shared_checkpoints, seconds=3.0):
    """/stream shows a policy at work, not a placeholder: frames that change over time (the scene below
    the overlay, not only its numbers) and say, in their JPEG comment, the epoch of the checkpoint the
    tester reports running — one that is in the shared runs. Call it while the tester keeps its
    checkpoint (a long reload interval)."""
    before = stack.online()
    frames = stack.stream_frames(seconds)
    after = stack.online()
    assert len(before) == len(after) == 1 and before[0]["epoch"] is not None, (before, after)
    assert (after[0]["epoch"], after[0]["reloads"]) == (before[0]["epoch"], before[0]["reloads"]), (
        f"the tester reloaded while keeping each checkpoint {after[0]['reload_interval']} s: {before} -> {after}"
    )
    assert len(frames) >= 2 and frames[-1][0] - frames[0][0] >= seconds * 0.8, "GET /stream stalled"
    comments = [frame_comment(jpeg) for _, jpeg in frames]
    assert all(c and c["state"] == "running" for c in comments), comments[:3]
    assert {int(c["epoch"]) for c in comments} == {before[0]["epoch"]}, (comments[:3], before)
    names = {str(p).rsplit("/", 1)[-1] for p in shared_checkpoints()}
    assert before[0]["checkpoint"].rsplit("/", 1)[-1] in names, (before, names)
    first, last = (
        cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_GRAYSCALE) for j in (frames[0][1], frames[-1][1])
    )
    diff = np.abs(first.astype(int) - last.astype(int)) > 12
    h, w = diff.shape
    diff[: h * 15 // 100, : w * 3 // 4] = False  # the text overlay's block: its numbers change anyway
    changed = diff.mean()
    assert changed > 0.002, f"the scene did not move in {seconds} s ({changed:.4f} of its pixels changed)"


def check_clips(stack: Stack):
    """The tester's clip of the checkpoint it keeps now (recorded from its testers' own volume or folder)
    is listed on the dashboard and served through the streamer with range requests, so a browser seeks."""
    tid = stack.online()[0]["id"]
    clips = stack.wait(
        "a clip listed on the dashboard",
        lambda: requests.get(f"{stack.url}/api/testers/{tid}/clips", timeout=10).json(),
        timeout=120,
    )
    clip = clips[-1]
    assert clip["length"] == 100 and clip["format"] == "mp4" and clip["epoch"] is not None, clip
    part = requests.get(stack.url + clip["url"], headers={"Range": "bytes=0-99"}, timeout=10)
    assert part.status_code == 206, (part.status_code, part.text[:300])
    assert len(part.content) == 100 and part.content[4:8] == b"ftyp"  # the start of an MP4
    size = int(part.headers["Content-Range"].rsplit("/", 1)[1])
    tail = requests.get(stack.url + clip["url"], headers={"Range": f"bytes={size - 100}-"}, timeout=10)
    assert tail.status_code == 206 and len(tail.content) == 100
