"""An honest summary: a checkpoint whose failures end early scores the same in `testGamesNum=N`, in
seeded evaluation and on the tester's status (the tile), with real tester processes on a real env.

The Outcome task (tests/tester/outcome) decides by world: even worlds succeed and run 40 steps, odd
worlds fail at step 5 and end. Every checkpoint's true success rate is 50 %; counting the first N
episodes that end would see ~8 failures for each success.
"""

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from services.core.checkpoints import list_checkpoints
from services.core.cli import command
from tests.processes import run
from tests.waiting import free_port, status_of_tester, wait_for

ROOT = Path(__file__).resolve().parents[2]
OUTCOME = ROOT / "tests" / "tester" / "outcome"
ENV = {**os.environ, "PYTHONPATH": str(OUTCOME), "POLICYCAST_CONFIG_PATH": str(OUTCOME)}
PLAY = ["task=Outcome", "test.numEnvs=8", "test.realtime=false", "test.clips.enabled=false"]


@pytest.fixture(scope="module")
def outcome_checkpoint(tmp_path_factory):
    """A real checkpoint of the Outcome task: one PPO epoch of the real trainer."""
    runs = tmp_path_factory.mktemp("outcome") / "runs"
    done = run(
        command("train", "config=train_headless", task="Outcome", numEnvs=8, maxIterations=1, runsDir=runs),
        env=ENV,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (checkpoint,) = list_checkpoints((runs / "latest_train").resolve())
    return runs, checkpoint


def summary(stdout: str) -> tuple[int, float]:
    (line,) = [line for line in stdout.splitlines() if line.startswith("test summary:")]
    m = re.search(r"episodes (\d+), mean return [-\d.]+, success rate ([\d.]+)", line)
    return int(m[1]), float(m[2])


def run_tester(runs, *args, timeout=180):
    return run(command("train", "config=test", *PLAY, f"runsDir={runs}", *args), env=ENV, timeout=timeout)


def test_n_games_count_as_seeded_evaluation_does(outcome_checkpoint):
    runs, checkpoint = outcome_checkpoint
    plain = run_tester(runs, f"checkpoint={checkpoint}", "testGamesNum=32")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert summary(plain.stdout) == (32, 0.5)  # the first 32 episodes to end: 4 successes, 28 failures
    # one fixed .pth in seeded evaluation: its summary, then exit 0 (nothing newer can come)
    seeded = run_tester(runs, f"checkpoint={checkpoint}", "test.eval.episodes=32", "testGamesNum=0", timeout=90)
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    assert summary(seeded.stdout) == (32, 0.5)
    # its evaluation row says how the episodes ended: half by the task's failure, half at the time limit
    (rows,) = list(checkpoint.parents[1].glob("eval/*/evaluations.jsonl"))  # the run checkpoint/../..
    (row,) = [json.loads(line) for line in rows.read_text().splitlines()]
    assert row["episodes"] == 32 and row["terminations"] == {"failAt": 0.5, "timeLimit": 0.5}


def test_the_status_counts_each_checkpoint_in_rounds_of_every_world(outcome_checkpoint):
    runs, checkpoint = outcome_checkpoint
    port = free_port()
    proc = subprocess.Popen(
        command("train", "config=test", *PLAY, f"runsDir={runs}", f"checkpoint={checkpoint}", "testGamesNum=0")
        + [f"test.control.port={port}"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def status():
        s = status_of_tester(port)
        return s if s and s["episodes"] >= 100 else None

    try:
        s = wait_for(status, timeout=120, step=0.2, what="100 finished episodes")
        assert s["success_rate"] == 0.5, s  # finished episodes as they end: ~11 %
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
