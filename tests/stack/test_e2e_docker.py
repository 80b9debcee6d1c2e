"""The e2e flow on Docker Compose: images built offline, the stack up, down, and the runs volume kept."""

import json
import os
import signal
import subprocess

import pytest

from .e2e import ROOT, Stack, docker, e2e_flow, free_range, require_engine, volume_checkpoints, volume_files

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]


def eval_files(volume) -> dict:
    """{path: (lines, lines that parse as JSON, ends with a newline)} of every eval file in a volume."""
    code = (
        "import glob, json\nout = {}\nfor p in glob.glob('/v/*_train_*/eval/*/episodes.jsonl'):\n"
        "    t = open(p).read(); ok = 0\n"
        "    for line in t.splitlines():\n"
        "        try: json.loads(line); ok += 1\n"
        "        except ValueError: pass\n"
        "    out[p] = [len(t.splitlines()), ok, t.endswith('\\n') or not t]\nprint(json.dumps(out))"
    )
    out = docker("run", "--rm", "-v", f"{volume}:/v:ro", "--entrypoint", "python", "policycast-sync:local", "-c", code)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def kill_a_tester_and_see_it_return(stack, project):
    """A tester's process SIGKILLed inside its container (as the OOM killer would): compose's restart
    policy starts it again, its tile returns under the same id (tester-N: the N of its container's name), and
    no eval file is torn."""
    tile = next(t for t in stack.online() if t["id"] == "tester-1")
    container = f"{project}-tester-1"  # compose names the replica <project>-tester-1
    init_pid = int(docker("inspect", "-f", "{{.State.Pid}}", container).stdout)
    python_pid = int(open(f"/proc/{init_pid}/task/{init_pid}/children").read().split()[0])  # under tini
    os.kill(python_pid, signal.SIGKILL)
    stack.wait(
        "compose restarting the container",
        lambda: docker("inspect", "-f", "{{.RestartCount}}", container).stdout.strip() == "1",
        120,
    )
    frames = stack.testers_by_id()[tile["id"]]["frames_received"]  # the new process is still starting
    back = stack.wait(
        "the killed tester's tile back",
        lambda: (
            (t := stack.testers_by_id()[tile["id"]])["online"]
            and t["epoch"] is not None
            and t["frames_received"] > frames
            and t
        ),
        240,
    )
    assert back["experiment"] == tile["experiment"]
    files = eval_files(f"{project}_tester-runs")
    assert files and all(n == ok and whole for n, ok, whole in files.values()), files


def test_make_up_docker_end_to_end(tmp_path):
    require_engine()
    project = f"policycast-e2e-{os.getpid()}"
    stack = Stack(tmp_path, RUNTIME="docker", COMPOSE_PROJECT_NAME=project, VIEW3D_PORTS=free_range(4))
    try:
        up = stack.start_up()
        assert up.wait(1200) == 0, stack.log.read_text()[-4000:]
        assert f"dashboard: {stack.url}" in stack.log.read_text()
        e2e_flow(stack, lambda: volume_checkpoints(f"{project}_runs"))
        kill_a_tester_and_see_it_return(stack, project)

        done = stack.make("down", timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        left = docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
        assert left == [], "containers outlived `make down`"
        assert volume_checkpoints(f"{project}_runs"), "the runs volume lost its checkpoints"
        # testers read runs read-only; their own log lands in their volume, and their evaluation of the run
        # under its name there, one folder per tester (what `make tensorboard` shows beside the training)
        assert volume_files(f"{project}_tester-runs", "*_test_*/test.log"), "no tester log in tester-runs"
        evals = volume_files(f"{project}_tester-runs", "*_train_*/eval/*/episodes.jsonl")
        assert {p.split("/")[-2] for p in evals} >= {"tester-1", "tester-2"}, evals
    except BaseException:
        print(stack.make("logs", "FOLLOW=0", timeout=120).stdout[-6000:])  # what the containers said
        raise
    finally:
        subprocess.run(["make", "-s", "-C", str(ROOT), "down"], env=stack.env, capture_output=True, timeout=300)
        for v in ("runs", "trainer-runs", "tester-runs"):
            docker("volume", "rm", "-f", f"{project}_{v}")
