"""The e2e flow on Docker Compose: images built offline, the stack up, down, and the runs volume kept."""
import os
import subprocess

import pytest

from .e2e import ROOT, Stack, docker, e2e_flow, require_engine, volume_checkpoints, volume_files

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]


def test_make_up_docker_end_to_end(tmp_path):
    require_engine()
    project = f"policycast-e2e-{os.getpid()}"
    stack = Stack(tmp_path, RUNTIME="docker", COMPOSE_PROJECT_NAME=project)
    try:
        up = stack.start_up()
        assert up.wait(1200) == 0, stack.log.read_text()[-4000:]
        assert f"dashboard: {stack.url}" in stack.log.read_text()
        e2e_flow(stack, lambda: volume_checkpoints(f"{project}_runs"))

        done = stack.make("down", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        left = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
        assert left == [], "containers outlived `make down`"
        assert volume_checkpoints(f"{project}_runs"), "the runs volume lost its checkpoints"
        # testers read runs read-only; their own log and per-checkpoint eval land in their volume
        assert volume_files(f"{project}_tester-runs", "*_test_*/test.log"), "no tester log in tester-runs"
        assert volume_files(f"{project}_tester-runs", "*_test_*/eval/episodes.jsonl"), "no eval in tester-runs"
    finally:
        subprocess.run(["make", "-s", "-C", str(ROOT), "down"], env=stack.env, capture_output=True, timeout=300)
        for v in ("runs", "trainer-runs", "tester-runs"):
            docker("volume", "rm", "-f", f"{project}_{v}")
