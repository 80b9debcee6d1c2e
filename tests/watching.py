"""A user's whole loop in real processes: a tester waiting on a runs root, a trainer filling it.

Used where a new way of training (another backend, an out-of-tree task) must produce checkpoints
that the ordinary tester plays and hot-reloads.
"""

import os
import subprocess

from services.core.cli import command
from tests.processes import run, start
from tests.waiting import free_port, status_of_tester, wait_for


def train_while_a_tester_watches(runs, task, train_args, env=None, timeout=300, tester_args=()):
    """Start `config=test checkpoint=latest` on an empty runs root; train one epoch, then resume for a
    second (a new experiment that latest_train moves to). Returns the tester's status once it plays
    epoch 2 (a hot reload), and the trainers' stderr."""
    env = {**os.environ, **(env or {})}
    port = free_port()
    tester = start(
        command(
            "train",
            "config=test",
            f"task={task}",
            "checkpoint=latest",
            "testGamesNum=0",
            "reloadInterval=0.5",
            "test.numEnvs=2",
            "test.realtime=false",
            f"test.control.port={port}",
            f"runsDir={runs}",
            *tester_args,
        ),
        env=env,
        stderr=subprocess.STDOUT,
    )
    logs = []

    def train(epochs, *extra):
        done = run(
            command(
                "train",
                "config=train_headless",
                f"task={task}",
                f"maxIterations={epochs}",
                "train.saveFrequency=1",
                "numEnvs=4",
                f"runsDir={runs}",
                *train_args,
                *extra,
            ),
            env=env,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        logs.append(done.stderr)

    def plays(epoch):  # ... and an episode of that epoch finished (credited: its figures are in the status)
        return wait_for(
            lambda: (s := status_of_tester(port)) and s["epoch"] == epoch and s["reward_terms"] and s,
            120,
            0.2,
            f"the tester playing epoch {epoch}",
        )

    try:
        assert wait_for(lambda: status_of_tester(port), 120, 0.2, "the tester's control API")["state"] == "waiting"
        train(1)
        plays(1)
        train(2, "checkpoint=latest")
        return plays(2), "\n".join(logs)
    finally:
        tester.terminate()
        out, _ = tester.communicate(timeout=60)
        assert tester.returncode == 0, out[-3000:]
