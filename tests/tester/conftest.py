"""Tester test set-up: real checkpoints from the shared `reach_run`, copied into a fresh runs/ root."""

import time
from pathlib import Path

import pytest

from services.core.checkpoints import epoch_of, load_checkpoint
from services.core.experiments import create_experiment
from tests.tester.helpers import land


@pytest.fixture(scope="session")
def reach_checkpoints(reach_run):
    """The periodic checkpoints of the real Reach run, oldest epoch first (at least two)."""
    files = sorted((p for p in (reach_run / "nn").glob("last_*.pth")), key=epoch_of)
    assert len(files) >= 2, f"the Reach run saved too few checkpoints: {files}"
    return files


@pytest.fixture
def new_run(runs_dir):
    """Make a fresh `Reach_train_*` experiment in runs_dir (moves latest_train), optionally with checkpoints."""

    def make(*checkpoints: Path) -> Path:
        exp = create_experiment(runs_dir, "Reach", "train")
        for cp in checkpoints:
            land(cp, exp / "nn" / cp.name)
            time.sleep(0.01)  # distinct mtimes: newest is the last landed
        return exp

    return make


@pytest.fixture(scope="session")
def builder(reach_run, reach_checkpoints):
    """Empty Reach policies shaped like the trained one (obs/action sizes read from the checkpoint)."""
    from services.tester.policy import PolicyBuilder
    from tests.tester.helpers import config_for

    model = load_checkpoint(reach_checkpoints[-1])["model"]
    num_obs, num_actions = model["running_mean_std.running_mean"].shape[0], model["a2c_network.mu.weight"].shape[0]
    cfg = config_for(reach_run.parent)
    return PolicyBuilder(cfg.train.params, num_obs, num_actions)


@pytest.fixture(scope="session")
def probe_obs(builder):
    """A fixed batch of observations: the same inputs before and after a (refused) reload."""
    import torch

    return torch.randn(8, builder.build_config["input_shape"][0], generator=torch.Generator().manual_seed(0))
