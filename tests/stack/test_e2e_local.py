"""The e2e flow on the local-process runtime: `make up` on a machine where no Docker engine answers."""

import json
import os

import pytest

from .e2e import Stack, e2e_flow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_make_up_local_end_to_end(tmp_path):
    stack_home = tmp_path
    # DOCKER_HOST pointing nowhere: as on a fresh machine with no engine running
    # STREAM_BIND=0.0.0.0: the dashboard open to the network, so every control call needs the token
    stack = Stack(stack_home, RUNTIME="auto", DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock", STREAM_BIND="0.0.0.0")
    up = stack.start_up()
    shared = stack_home / "runs-shared"
    pids = []
    try:
        e2e_flow(stack, lambda: sorted(shared.glob("*_train_*/nn/*.pth")))
        state = json.loads((stack_home / ".policycast" / "local-stack.json").read_text())
        pids = [p["pid"] for p in state["procs"]]
        assert {p["name"] for p in state["procs"]} >= {"trainer", "sync", "streamer", "tester-1", "tester-2"}
        assert any(p["group"] not in (None, "latest") for p in state["procs"])
        done = stack.make("down", timeout=120)
        assert done.returncode == 0, done.stderr
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:
            os.killpg(up.pid, 15)
            up.wait(60)
    gone = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone.append(pid)
    assert gone == pids, "a service process outlived `make down`"
    assert sorted(shared.glob("*_train_*/nn/*.pth")), "the shared runs lost their checkpoints"
    log = stack.log.read_text()
    assert "no Docker engine is running: starting the services as local processes" in log
    assert "trainer  | " in log and "tester-1 | " in log  # prefixed lines
    assert f"dashboard: {stack.url}" in log
