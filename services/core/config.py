"""The seed-compatible command line: `config=PRESET`, short aliases, dotted overrides, validation.

Hydra composes the presets in configs/ over the run-level keys of `run_config.RunConfig`; this module
rewrites the user's words into Hydra overrides, checks the composed values once against RunConfig, and
turns every refusal into one line naming the key and what it accepts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from omegaconf import DictConfig

from . import schema
from .run_config import RunConfig

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
# Users' own configs (configs/task/<Name>.yaml, configs/train/<Name>PPO.yaml) live in folders named here.
CONFIG_PATH_ENV = "POLICYCAST_CONFIG_PATH"
PRESETS = ("config", "train_headless", "test", "test_viewer", "test_stream", "test_record")

# alias -> config key. `task` is a Hydra group choice; the rest are plain keys.
ALIASES = {
    "task": "task",
    "checkpoint": "train.checkpoint",
    "testGamesNum": "train.testGamesNum",
    "reloadInterval": "train.reloadInterval",
    "numEnvs": "env.numEnvs",
    "backend": "env.backend",
    "maxIterations": "train.maxIterations",
    "seed": "train.seed",
    "streamBindAll": "stream.bindAll",
    "streamPort": "stream.port",
    "streamToken": "stream.token",
    "headless": "headless",
    "runsDir": "runsDir",
}


class ConfigError(Exception):
    """A refused command line; str() is the one line to print."""


MIN_LIVE_INTERVAL = 0.5  # the least interval a running tester is given: shorter ones only spin its reloader


def reload_interval(value) -> float:
    """A reload interval set on a running tester, checked the same at every entry (tester API, streamer,
    make): 0 (keep the current checkpoint) or a finite number >= MIN_LIVE_INTERVAL; ValueError says what
    is expected. (`reloadInterval=` at start takes any number >= 0: tests reload fast on purpose.)
    """
    try:
        seconds = schema.setting(RunConfig, "train.reloadInterval").convert(value)
    except ValueError:
        seconds = None
    if seconds is None or 0 < seconds < MIN_LIVE_INTERVAL:
        raise ValueError(f"expects 0 (keep the current checkpoint) or a number >= {MIN_LIVE_INTERVAL} of seconds")
    return seconds


def config_dirs() -> list[Path]:
    """configs/ of this repo, then the folders in $POLICYCAST_CONFIG_PATH (':'-separated)."""
    extra = [Path(d).expanduser().resolve() for d in os.environ.get(CONFIG_PATH_ENV, "").split(os.pathsep) if d]
    return [CONFIG_DIR, *extra]


def choices(group: str) -> list[str]:
    return sorted({p.stem for d in config_dirs() for p in (d / group).glob("*.yaml")})


def _alias_of(key: str) -> str:
    for alias, k in ALIASES.items():
        if k == key:
            return f"{alias} ({key})" if alias != key else key
    return key


def split_argv(argv: list[str], default_preset: str = "config") -> tuple[str, list[str]]:
    """`config=NAME` picks the preset; aliases become dotted keys; `train=` follows `task=`.

    Task and train configs are found in configs/ and in $POLICYCAST_CONFIG_PATH's folders.
    """
    preset, overrides, task, train_given = default_preset, [], None, False
    for arg in argv:
        if "=" not in arg or arg.startswith("-") and not arg.lstrip("+~").count("="):
            raise ConfigError(f"argument '{arg}': expected key=value (see `python train.py --help`)")
        key, value = arg.split("=", 1)
        if key == "config":
            if value not in PRESETS:
                raise ConfigError(f"config={value}: unknown preset; accepts {', '.join(PRESETS)}")
            preset = value
            continue
        key = ALIASES.get(key, key)
        if key == "task":
            if value not in choices("task"):
                raise ConfigError(f"task={value}: unknown task; accepts {', '.join(choices('task'))}")
            task = value
        train_given |= key == "train"
        overrides.append(f"{key}={value}")
    if task and not train_given:  # the task's own PPO config, else the shared base
        overrides.append(f"train={task}PPO" if f"{task}PPO" in choices("train") else "train=PPO")
    extra = config_dirs()[1:]
    if extra:
        overrides.append("hydra.searchpath=[" + ",".join(f"file://{d}" for d in extra) + "]")
    return preset, overrides


def print_request(argv: list[str]) -> tuple[bool, bool, list[str]]:
    """Hydra's `--cfg job` (print the composed config and exit) and `--resolve` (interpolations resolved).

    Returns (print it, resolve, the other arguments); a flag it cannot honour is refused with one line.
    """
    wanted, resolve, rest, args = False, False, [], iter(argv)
    for arg in args:
        if arg in ("--cfg", "-c") or arg.startswith("--cfg="):
            value = arg.split("=", 1)[1] if "=" in arg else next(args, "")
            if value != "job":
                raise ConfigError(
                    f"--cfg {value}: not accepted; expects job (print the composed configuration "
                    "and exit; there is no separate hydra config to print)"
                )
            wanted = True
        elif arg == "--resolve":
            resolve = True
        else:
            rest.append(arg)
    if resolve and not wanted:
        raise ConfigError("--resolve: only with --cfg job")
    return wanted, resolve, rest


# The run-level base every preset starts from: configs/config.yaml lists it first in its defaults.
RUN_DEFAULTS = "run_defaults"


def load_config(argv: list[str], default_preset: str = "config") -> DictConfig:
    """Compose the config a command line asks for, checked and typed, or raise ConfigError with one line."""
    from hydra import compose, initialize_config_dir
    from hydra.core.config_store import ConfigStore
    from hydra.errors import HydraException

    preset, overrides = split_argv(argv, default_preset)
    # A plain dict, not OmegaConf.structured(RunConfig): a structured node would make OmegaConf check types
    # while Hydra composes, and it takes yes/no/on/off/1/0 for booleans, knows no ranges, and refuses in
    # several lines (`full_key: ...`). Composed untyped, the config is checked once by `validate`, which
    # keeps every refusal one line naming the key and what it accepts, and users' task and train groups
    # stay free-form.
    ConfigStore.instance().store(name=RUN_DEFAULTS, node=schema.defaults(RunConfig))
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=preset, overrides=overrides)
    except HydraException as e:
        raise ConfigError(_hydra_message(e)) from None
    validate(cfg)
    return cfg


def _hydra_message(e: Exception) -> str:
    text = str(e)
    m = re.search(r"Key '([^']+)' is not in struct", text) or re.search(r"Could not override '([^']+)'", text)
    if m:
        return _unknown(m.group(1))
    m = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if m:
        return f"{m.group(1)}={m.group(2)}: unknown choice; accepts {', '.join(choices(m.group(1)))}"
    return text.strip().splitlines()[0]


def _unknown(key: str) -> str:
    return f"{key}: unknown key (see `python train.py --help` for the keys and aliases)"


def validate(cfg: DictConfig) -> None:
    """Check every run-level key against RunConfig and store it at its type (30 -> 30.0 for a float key),
    so the services read `cfg.train.reloadInterval` as it is; the first refusal is one line."""
    try:
        schema.check(RunConfig, cfg)
    except schema.Refusal as e:
        if e.expects is None:
            raise ConfigError(_unknown(e.key)) from None
        value = schema.spelled(e.value, quoted=True)
        raise ConfigError(f"{_alias_of(e.key)}={value}: not accepted; expects {e.expects}") from None
    if cfg.mode == "test" and not cfg.train.checkpoint:
        raise ConfigError(
            "checkpoint: test mode needs one (latest, latest_train, latest_test, "
            "an experiment directory, a .pth file or part of an experiment name)"
        )


def stream_token(cfg: DictConfig) -> str | None:
    """The control token: `streamToken=` wins, then $POLICYCAST_TOKEN."""
    return cfg.stream.token or os.environ.get("POLICYCAST_TOKEN") or None
