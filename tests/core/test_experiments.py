"""Experiment directories as users find them under runs/."""

import os
import re

from omegaconf import OmegaConf

from services.core.experiments import create_experiment


def test_create_experiment_layout_config_and_latest_link(runs_dir):
    cfg = OmegaConf.create({"task": {"name": "Reach"}, "env": {"numEnvs": 8}})
    exp = create_experiment(runs_dir, "Reach", "train", cfg)
    assert re.fullmatch(r"Reach_train_\d{8}_\d{6}", exp.name)
    assert (exp / "nn").is_dir()
    assert OmegaConf.load(exp / "config.yaml").env.numEnvs == 8
    assert os.readlink(runs_dir / "latest_train") == exp.name


def test_two_runs_in_one_second_get_distinct_dirs_and_latest_follows(runs_dir):
    first = create_experiment(runs_dir, "Reach", "test")
    second = create_experiment(runs_dir, "Reach", "test")
    assert first != second
    assert os.readlink(runs_dir / "latest_test") == second.name
