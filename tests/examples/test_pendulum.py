"""A task that lives outside the repo (examples/pendulum) trains, tests and hot-reloads like a built-in one."""

import pytest

from tests.processes import ROOT
from tests.watching import train_while_a_tester_watches

EXAMPLE = ROOT / "examples" / "pendulum"


@pytest.mark.slow
def test_an_out_of_tree_task_trains_and_hot_reloads(runs_dir):
    env = {"PYTHONPATH": str(EXAMPLE), "POLICYCAST_CONFIG_PATH": str(EXAMPLE / "configs")}
    status, log = train_while_a_tester_watches(runs_dir, "Pendulum", [], env=env)
    assert status["task"] == "Pendulum" and status["reloads"] >= 1
    assert set(status["reward_terms"]) == {"upright", "velocity", "effort"}
    config = (runs_dir / "latest_train" / "config.yaml").read_text()
    assert "class: pendulum_task:Pendulum" in config
