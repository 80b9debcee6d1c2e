"""The command line users type: presets, aliases, dotted overrides, and refusals naming the key."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from services.core import schema
from services.core.cli import command
from services.core.config import ConfigError, load_config, validate
from services.core.run_config import RunConfig
from tests.processes import run

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
    assert load_config([]).env.compile is None and load_config(["env.compile=true"]).env.compile is True
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
        ("env.compile=sometimes", "env.compile"),
        ("streamPort=70000", "streamPort"),
        ("headless=maybe", "headless"),
        ("device=gpu", "device"),
        ("maxIterations=0", "maxIterations"),
        ("test.eval.episodes=-1", "test.eval.episodes"),
        ("test.eval.seed=x", "test.eval.seed"),
        ("numEnvs=null", "numEnvs"),
        ("test.numEnvs=0", "test.numEnvs"),
        ("test.numEnvs=${env.nosuch}", "test.numEnvs"),  # an interpolation that resolves to nothing
        ("device=cuda:x", "device"),
        ("runsDir=", "runsDir"),
        ("streamToken=true", "streamToken"),
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
        ("+test.clip.keep=3", "test.clip"),  # Hydra's `+` adds a key; the schema still knows none such
        ("task=NoSuchTask", "task"),
        ("config=nosuchpreset", "config"),
    ],
)
def test_bad_values_are_refused_with_the_key_name(arg, named):
    with pytest.raises(ConfigError) as err:
        load_config([arg])
    line = str(err.value)
    assert line.startswith(named) and "\n" not in line


def _wrong(s: schema.Setting):
    """A value of another type than the setting's (or outside its pattern)."""
    base = s.type if not s.optional else next(a for a in s.type.__args__ if a is not type(None))
    if base is bool:
        return "maybe"
    if base in (int, float):
        return "many"
    if base is str:
        return "" if s.pattern else True
    return "nosuch"  # a Literal


def test_every_key_refuses_another_type_in_one_line_naming_it_and_what_it_accepts():
    """Each run-level key of RunConfig, one at a time: the refusal names the key and ends with what it accepts
    (the same words --help shows)."""
    base = load_config(["config=test"])
    checked = 0
    for s in schema.settings(RunConfig):
        if s.free_form:
            continue
        cfg = base.copy()
        OmegaConf.update(cfg, s.key, _wrong(s), merge=False)
        with pytest.raises(ConfigError) as err:
            validate(cfg)
        line = str(err.value)
        assert "\n" not in line and (f"({s.key})=" in line or line.startswith(f"{s.key}=")), line
        assert line.endswith(f"not accepted; expects {s.expects()}"), line
        checked += 1
    assert checked >= 50  # every key of the schema, not a few


def test_ranges_take_their_bounds_and_refuse_one_step_past():
    base = load_config(["config=test"])
    bounded = [s for s in schema.settings(RunConfig) if s.lo is not None or s.hi is not None]
    assert len(bounded) >= 20
    for s in bounded:
        step = 0.05 if isinstance(s.default, float) else 1
        for value, ok in ((s.lo, True), (s.hi, True), (None if s.lo is None else s.lo - step, False)):
            if value is None:
                continue
            cfg = base.copy()
            OmegaConf.update(cfg, s.key, value, merge=False)
            if ok:
                validate(cfg)
                assert OmegaConf.select(cfg, s.key) == value
            else:
                with pytest.raises(ConfigError, match="not accepted"):
                    validate(cfg)
        if s.hi is not None:
            cfg = base.copy()
            OmegaConf.update(cfg, s.key, s.hi + step, merge=False)
            with pytest.raises(ConfigError, match="not accepted"):
                validate(cfg)


def test_values_arrive_at_their_schema_type():
    """The services read the composed config as it is: a float key holds a float, a string key a string
    (Hydra reads `checkpoint=20250801` as an int), interpolations still follow their target."""
    cfg = load_config(
        ["config=test", "reloadInterval=60", "checkpoint=20250801", "test.render.fps=15", "numEnvs=8", "seed=3"]
    )
    assert type(cfg.train.reloadInterval) is float and cfg.train.reloadInterval == 60.0
    assert type(cfg.test.render.fps) is float and type(cfg.train.keep.budgetGB) is float
    assert cfg.train.checkpoint == "20250801"
    assert type(cfg.env.numEnvs) is int and cfg.test.numEnvs == 8 and cfg.train.params.seed == 3
    assert OmegaConf.to_container(cfg.test)["numEnvs"] == "${env.numEnvs}"


def test_a_users_own_train_config_without_a_budget_trains_until_stopped_or_takes_max_iterations(tmp_path, monkeypatch):
    """configs/train/<Task>PPO.yaml need not start from PPO.yaml: the base gives maxIterations null."""
    (tmp_path / "task").mkdir()
    (tmp_path / "train").mkdir()
    (tmp_path / "task" / "Mine.yaml").write_text((ROOT / "configs/task/Reach.yaml").read_text())
    (tmp_path / "train" / "MinePPO.yaml").write_text("params:\n  config:\n    name: Mine\n")
    monkeypatch.setenv("POLICYCAST_CONFIG_PATH", str(tmp_path))
    assert load_config(["task=Mine"]).train.maxIterations is None
    assert load_config(["task=Mine", "maxIterations=7"]).train.maxIterations == 7


def test_cli_refuses_a_bad_value_with_one_line_and_nonzero_exit():
    out = run(command("train", "config=test", reloadInterval=-1), timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: reloadInterval (train.reloadInterval)=-1: not accepted; expects a number >= 0"
    ]


def test_cli_help_lists_presets_tasks_and_aliases_with_defaults():
    out = run(command("train", "--help"), timeout=120)
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
    # every run-level key, with its default, doc and what it accepts, as RunConfig declares it
    flat = " ".join(out.stdout.split())
    for s in schema.settings(RunConfig):
        what = s.doc if s.free_form else f"{schema.spelled(s.default)} {s.doc}. Accepts {s.expects()}."
        assert f" {s.key} {'(free-form) ' if s.free_form else ''}{what}" in flat, s.key


def test_each_task_carries_its_training_budget_and_the_cli_overrides_it():
    """Reach stops by itself; BlindGrasping trains until stopped (null), as `make up` relies on."""
    assert load_config(["config=train_headless", "task=Reach"]).train.maxIterations == 300
    assert load_config(["config=train_headless", "task=BlindGrasping"]).train.maxIterations is None
    for task in ("Reach", "BlindGrasping"):
        assert load_config(["config=train_headless", f"task={task}", "maxIterations=7"]).train.maxIterations == 7
    assert load_config(["task=Reach", "maxIterations=null"]).train.maxIterations is None
