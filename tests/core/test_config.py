"""The command line users type: presets, aliases, dotted overrides, and refusals naming the key."""

import subprocess
from pathlib import Path

import pytest

from services.core.cli import command
from services.core.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_presets_aliases_and_dotted_overrides_compose():
    cfg = load_config(
        [
            "config=test_stream",
            "task=BlindGrasping",
            "testGamesNum=3",
            "numEnvs=8",
            "checkpoint=latest",
            "reloadInterval=60",
            "streamPort=58090",
            "train.seed=3",
        ]
    )
    assert cfg.mode == "test" and cfg.stream.enabled
    assert cfg.task.name == "BlindGrasping"
    assert "params" in cfg.train  # the task's rl_games parameters follow task=
    assert (cfg.train.testGamesNum, cfg.env.numEnvs, cfg.train.checkpoint) == (3, 8, "latest")
    assert (cfg.train.reloadInterval, cfg.stream.port, cfg.train.seed) == (60, 58090, 3)
    assert load_config(["config=train_headless"]).mode == "train"
    assert load_config(["config=test_viewer"]).viewer.enabled


@pytest.mark.parametrize(
    "arg, named",
    [
        ("testGamesNum=abc", "testGamesNum"),
        ("testGamesNum=1.5", "testGamesNum"),
        ("reloadInterval=-5", "reloadInterval"),
        ("reloadInterval=inf", "reloadInterval"),  # a wait no timer can hold
        ("numEnvs=0", "numEnvs"),
        ("env.numEnvs=-1", "numEnvs"),
        ("streamPort=70000", "streamPort"),
        ("headless=maybe", "headless"),
        ("device=gpu", "device"),
        ("maxIterations=0", "maxIterations"),
        ("test.eval.episodes=-1", "test.eval.episodes"),
        ("test.eval.seed=x", "test.eval.seed"),
        ("test.view3d.enabled=yes", "test.view3d.enabled"),
        ("test.view3d.port=65536", "test.view3d.port"),
        ("test.view3d.bindAll=1", "test.view3d.bindAll"),
        ("test.view3d.fps=0", "test.view3d.fps"),
        ("test.view3d.fps=120", "test.view3d.fps"),
        ("test.clips.keep=0", "test.clips.keep"),
        ("test.clips.format=avi", "test.clips.format"),
        ("test.clips.every=epoch", "test.clips.every"),
        ("test.clips.enabled=sometimes", "test.clips.enabled"),
        ("train.keep.enabled=sometimes", "train.keep.enabled"),
        ("train.keep.newest=0", "train.keep.newest"),
        ("train.keep.recentMinutes=-1", "train.keep.recentMinutes"),
        ("train.keep.history=many", "train.keep.history"),
        ("train.keep.budgetGB=-2", "train.keep.budgetGB"),
        ("train.keep.lowDiskPercent=150", "train.keep.lowDiskPercent"),
        ("runs.keep=0", "runs.keep"),
        ("nosuchkey=1", "nosuchkey"),
        ("env.nosuch=1", "env.nosuch"),
        ("task=NoSuchTask", "task"),
        ("config=nosuchpreset", "config"),
    ],
)
def test_bad_values_are_refused_with_the_key_name(arg, named):
    with pytest.raises(ConfigError) as err:
        load_config([arg])
    line = str(err.value)
    assert line.startswith(named) and "\n" not in line


def test_cli_refuses_a_bad_value_with_one_line_and_nonzero_exit():
    out = subprocess.run(
        command("train", "config=test", reloadInterval=-1),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: reloadInterval (train.reloadInterval)=-1: not accepted; expects a number >= 0"
    ]


def test_cli_help_lists_presets_tasks_and_aliases_with_defaults():
    out = subprocess.run(command("train", "--help"), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for word in (
        "train_headless",
        "test_viewer",
        "test_stream",
        "Reach",
        "BlindGrasping",
        "reloadInterval=",
        "streamPort=",
        "58080",
        "runsDir=",
        "null = until stopped",
    ):
        assert word in out.stdout


def test_each_task_carries_its_training_budget_and_the_cli_overrides_it():
    """Reach stops by itself; BlindGrasping trains until stopped (null), as `make up` relies on."""
    assert load_config(["config=train_headless", "task=Reach"]).train.maxIterations == 300
    assert load_config(["config=train_headless", "task=BlindGrasping"]).train.maxIterations is None
    for task in ("Reach", "BlindGrasping"):
        assert load_config(["config=train_headless", f"task={task}", "maxIterations=7"]).train.maxIterations == 7
    assert load_config(["task=Reach", "maxIterations=null"]).train.maxIterations is None
