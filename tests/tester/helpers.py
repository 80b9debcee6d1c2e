"""Helpers shared by the tester tests (plain functions; fixtures live in conftest.py)."""

import os
import shutil
from pathlib import Path

import torch

from services.core.config import load_config
from services.tester.policy import act
from tests.waiting import wait_for  # noqa: F401 (re-exported for this area)


def land(src: Path, dest: Path) -> Path:
    """Put a checkpoint into an nn/ dir the way the trainer does: temp file, then rename into place."""
    tmp = dest.with_name(f".{dest.name}.landing.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest


def config_for(runs_dir, *extra):
    """The `config=test` a user would get, on this runs root, stepping as fast as the CPU allows."""
    return load_config(["config=test", f"runsDir={runs_dir}", "test.realtime=false", *extra], "test")


def actions_of(model, obs):
    return act(model, obs, deterministic=True)


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def play_then_close_env(tester, stop):
    """Run the loop on a thread, as the tests do; the EGL renderer is released on the thread that made it."""
    try:
        tester.play(0, stop)
    finally:
        tester.env.close()


def copy_run(experiment: Path, runs: Path) -> Path:
    """A copy of a training run (config and checkpoints) under `runs`, `latest_train` at it: tests write
    their eval and clips into the copy, never into the session's shared run."""
    from services.core.experiments import update_latest_link

    exp = runs / experiment.name
    shutil.copytree(experiment, exp, ignore=shutil.ignore_patterns("eval", "summaries"))
    update_latest_link(runs, exp, "train")
    return exp
