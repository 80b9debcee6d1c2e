"""The tester as users start it: real `train.py config=test ...` processes."""

import json
import os
import shutil
import signal
import socket

import pytest

from services.core.checkpoints import load_checkpoint
from services.core.cli import command
from tests.processes import run, start
from tests.tester.helpers import wait_for
from tests.waiting import free_port, status_of_tester

FAST = ["numEnvs=2", "test.realtime=false", "test.render.width=160", "test.render.height=120", "test.id=cli"]


def argv(*args, runs_dir, module=False):
    head = command("tester") if module else command("train", "config=test")
    return head + [f"runsDir={runs_dir}", *FAST, *args]


def test_n_games_then_a_summary_and_exit_0(runs_dir, reach_checkpoints, new_run):
    exp = new_run(*reach_checkpoints)
    epoch = load_checkpoint(reach_checkpoints[-1])["epoch"]
    done = run(argv("checkpoint=" + exp.name, "testGamesNum=3", runs_dir=runs_dir), timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = [line for line in done.stdout.splitlines() if line.startswith("test summary:")]
    assert len(summary) == 1 and "episodes 3," in summary[0] and "mean return" in summary[0]
    assert "success rate" in summary[0] and reach_checkpoints[-1].name in summary[0]
    assert f"(epoch {epoch})" in summary[0]

    episodes = [json.loads(line) for line in (exp / "eval" / "cli" / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 3 and {e["epoch"] for e in episodes} == {epoch}
    assert all(e["length"] > 0 for e in episodes)
    assert list((exp / "eval" / "cli").glob("events.out.tfevents.*")), "no TensorBoard eval scalars"
    test_exp = (runs_dir / "latest_test").resolve()
    assert test_exp.name.startswith("Reach_test_") and (test_exp / "test.log").is_file()
    assert "reload nothing -> " + reach_checkpoints[-1].name in (test_exp / "test.log").read_text()


def test_waits_for_the_first_checkpoint_then_plays_until_sigterm(runs_dir, reach_checkpoints, new_run):
    """Started before any training run exists (the stack's start order); stopped like a container."""
    port = free_port()
    proc = start(
        argv(
            "checkpoint=latest",
            "testGamesNum=0",
            "reloadInterval=30",
            f"test.control.port={port}",
            runs_dir=runs_dir,
            module=True,
        )
    )
    try:
        status = wait_for(lambda: status_of_tester(port), 60)  # it is up, and says it waits
        assert status["state"] == "waiting" and status["checkpoint"] is None
        exp = new_run(reach_checkpoints[0])
        wait_for(lambda: (exp / "eval" / "cli" / "episodes.jsonl").is_file(), 90)
        assert proc.poll() is None, "a forever tester exited by itself"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert "reload nothing -> " + reach_checkpoints[0].name in err
    assert "test summary: episodes" in out and reach_checkpoints[0].name in out


@pytest.mark.parametrize(
    "args, says",
    [
        (["checkpoint=NoSuchRun"], "checkpoint=NoSuchRun: no file, directory or experiment matches"),
        (["checkpoint=latest", "reloadInterval=-1"], "reloadInterval (train.reloadInterval)=-1"),
        (["checkpoint=latest", "testGamesNum=1.5"], "testGamesNum (train.testGamesNum)"),
        (["checkpoint=latest", "test.watchEvents=maybe"], "test.watchEvents"),
    ],
)
def test_bad_values_are_refused_with_one_line(runs_dir, args, says):
    done = run(argv(*args, runs_dir=runs_dir), timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="needs xvfb-run (apt: xvfb)")
def test_viewer_window_under_xvfb(runs_dir, reach_checkpoints, new_run):
    new_run(reach_checkpoints[-1])
    cmd = [
        "xvfb-run",
        "-a",
        *command("train", "config=test_viewer", *FAST, checkpoint="latest", testGamesNum=2, runsDir=runs_dir),
    ]
    done = run(cmd, timeout=180, env={**os.environ, "MUJOCO_GL": "egl"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "viewer open" in done.stderr and "test summary: episodes 2," in done.stdout


def test_out_dir_takes_the_test_experiment_when_the_runs_are_not_writable(
    runs_dir, reach_checkpoints, new_run, tmp_path
):
    """The stack mounts runs read-only: the tester's log and its eval of the run go to test.outDir instead."""
    exp = new_run(reach_checkpoints[-1])
    (exp / "eval").write_text("")  # no eval/ can be made in the training run (root ignores file modes)
    out = tmp_path / "tester-out"
    done = run(argv("checkpoint=latest", "testGamesNum=2", f"test.outDir={out}", runs_dir=runs_dir), timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    test_exp = (out / "latest_test").resolve()
    assert test_exp.name.startswith("Reach_test_") and (test_exp / "test.log").is_file()
    # its evaluation of the run: the run's name in the tester's own folder, so TensorBoard lines them up
    assert len((out / exp.name / "eval" / "cli" / "episodes.jsonl").read_text().splitlines()) == 2
    assert not (runs_dir / "latest_test").exists()


def test_a_busy_control_port_is_one_line_naming_the_key(runs_dir, reach_checkpoints, new_run):
    new_run(reach_checkpoints[-1])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run(
            argv("checkpoint=latest", "testGamesNum=1", f"test.control.port={port}", runs_dir=runs_dir), timeout=180
        )
    assert done.returncode == 2
    assert f"error: test.control.port={port}: port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "Traceback" not in done.stderr
