"""Fault-suite fixtures: a runs root holding real Reach checkpoints, and services as processes."""

import pytest

from services.core.checkpoints import epoch_of
from tests.faults.helpers import Service


@pytest.fixture
def trained_runs(runs_dir, reach_run):
    """runs/ with a copy of the real Reach run's periodic checkpoints and latest_train -> it."""
    from services.core.experiments import create_experiment
    from tests.tester.helpers import land

    exp = create_experiment(runs_dir, "Reach", "train")
    for cp in sorted((reach_run / "nn").glob("last_*.pth"), key=epoch_of):
        land(cp, exp / "nn" / cp.name)
    return runs_dir


@pytest.fixture
def services():
    """start(name, argv) -> a running Service; every one still running is killed after the test."""
    started = []

    def start(*args, **kwargs):
        started.append(Service(*args, **kwargs))
        return started[-1]

    yield start
    for s in started:
        s.kill()
