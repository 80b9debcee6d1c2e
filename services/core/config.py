"""The seed-compatible command line: `config=PRESET`, short aliases, dotted overrides, validation.

Hydra composes the presets in configs/; this module only rewrites the user's words into Hydra
overrides, checks values once at start, and turns every refusal into one line naming the key.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

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


def _int(lo=None, hi=None):
    def check(v):
        return isinstance(v, int) and not isinstance(v, bool) and (lo is None or v >= lo) and (hi is None or v <= hi)

    what = (
        "an integer"
        + (f" >= {lo}" if lo is not None and hi is None else "")
        + (f" in {lo}..{hi}" if lo is not None and hi is not None else "")
    )
    return check, what


def _number(lo=0):
    return (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= lo
    ), f"a number >= {lo}"


MIN_LIVE_INTERVAL = 0.5  # the least interval a running tester is given: shorter ones only spin its reloader


def reload_interval(value) -> float:
    """A reload interval set on a running tester, checked the same at every entry (tester API, streamer,
    make): 0 (keep the current checkpoint) or a finite number >= MIN_LIVE_INTERVAL; ValueError says what
    is expected. (`reloadInterval=` at start takes any number >= 0: tests reload fast on purpose.)
    """
    check, _ = RULES["train.reloadInterval"]
    if not check(value) or 0 < value < MIN_LIVE_INTERVAL:
        raise ValueError(f"expects 0 (keep the current checkpoint) or a number >= {MIN_LIVE_INTERVAL} of seconds")
    return float(value)


_BOOL = (lambda v: isinstance(v, bool)), "true or false"
_DIR = (lambda v: isinstance(v, str) and v != ""), "a directory path"
_DEVICE = (lambda v: isinstance(v, str) and re.fullmatch(r"cpu|cuda(:\d+)?", v) is not None), "cpu, cuda or cuda:N"

RULES = {
    "mode": ((lambda v: v in ("train", "test")), "train or test"),
    "device": _DEVICE,
    "headless": _BOOL,
    "runsDir": _DIR,
    "env.numEnvs": _int(1),
    "env.backend": ((lambda v: v in ("auto", "mujoco", "warp")), "auto, mujoco or warp"),
    "train.seed": _int(0),
    # null (None: skipped by validate) = until stopped
    "train.maxIterations": (_int(1)[0], "an integer >= 1, or null (train until stopped)"),
    "train.saveFrequency": _int(0),
    "train.testGamesNum": _int(0),
    "train.reloadInterval": _number(0),
    "train.followLatest": _BOOL,
    "train.printInterval": _int(1),
    "train.keep.enabled": _BOOL,
    "train.keep.newest": _int(1),
    "train.keep.recentMinutes": _number(0),
    "train.keep.history": _int(0),
    "train.keep.budgetGB": _number(0),
    "train.keep.lowDiskPercent": (
        (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 100),
        "a number in 0..100 (percent of the disk free)",
    ),
    "runs.keep": (_int(1)[0], "an integer >= 1, or null (never move experiments to the archive)"),
    "test.deterministic": _BOOL,
    "test.watchEvents": _BOOL,
    "test.realtime": _BOOL,
    "test.eval.episodes": _int(0),
    "test.eval.seed": _int(0),
    "test.outDir": _DIR,
    "test.render.width": _int(16, 4096),
    "test.render.height": _int(16, 4096),
    "test.render.tile": _int(1, 64),
    "test.render.fps": _number(0.1),
    "test.render.jpegQuality": _int(1, 100),
    "test.control.port": _int(0, 65535),
    "test.view3d.enabled": _BOOL,
    "test.view3d.port": _int(0, 65535),
    "test.view3d.bindAll": _BOOL,
    "test.view3d.fps": (
        (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 60),
        "a number in 1..60",
    ),
    "test.clips.enabled": _BOOL,
    "test.clips.every": ((lambda v: v in ("checkpoint", "episode")), "checkpoint or episode"),
    "test.clips.keep": _int(1),
    "test.clips.format": ((lambda v: v in ("mp4", "webm")), "mp4 (H.264) or webm (VP9)"),
    "test.clips.tensorboard": _BOOL,
    "stream.enabled": _BOOL,
    "stream.port": _int(1, 65535),
    "stream.bindAll": _BOOL,
    "viewer.enabled": _BOOL,
}


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


def load_config(argv: list[str], default_preset: str = "config") -> DictConfig:
    """Compose the config a command line asks for, or raise ConfigError with one line."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    preset, overrides = split_argv(argv, default_preset)
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
        key = m.group(1)
        return f"{key}: unknown key (see `python train.py --help` for the keys and aliases)"
    m = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if m:
        return f"{m.group(1)}={m.group(2)}: unknown choice; accepts {', '.join(choices(m.group(1)))}"
    return text.strip().splitlines()[0]


def validate(cfg: DictConfig) -> None:
    for key, (check, what) in RULES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is None and key not in ("mode", "device"):
            continue
        if not check(value):
            raise ConfigError(f"{_alias_of(key)}={value!r}: not accepted; expects {what}")
    if cfg.mode == "test" and not cfg.train.checkpoint:
        raise ConfigError(
            "checkpoint: test mode needs one (latest, latest_train, latest_test, "
            "an experiment directory, a .pth file or part of an experiment name)"
        )


def stream_token(cfg: DictConfig) -> str | None:
    """The control token: `streamToken=` wins, then $POLICYCAST_TOKEN."""
    return cfg.stream.token or os.environ.get("POLICYCAST_TOKEN") or None


def help_text() -> str:
    base = load_config([], "config")
    lines = [
        "policycast — watch an RL policy improve while it trains",
        "",
        "usage: python train.py [config=PRESET] [alias=value ...] [dotted.key=value ...]",
        "",
        "presets (config=):",
    ]
    for name in PRESETS:
        first = (CONFIG_DIR / f"{name}.yaml").read_text().splitlines()[0].lstrip("# ").strip()
        lines.append(f"  {name:<15} {first}")
    lines += ["", f"tasks (task=): {', '.join(choices('task'))}", "", "aliases (default):"]
    for alias, key in ALIASES.items():
        default = (
            base.task.name
            if key == "task"
            else "per task"
            if key == "train.maxIterations"
            else OmegaConf.select(base, key)
        )
        target = "" if alias == key else f" -> {key}"
        lines.append(f"  {alias + '=':<16} {str(default):<12}{target}")
    lines += [
        "",
        "maxIterations: PPO epochs; each task's configs/train/<Task>PPO.yaml sets its budget",
        "  (Reach 300, BlindGrasping null = until stopped); maxIterations=N overrides it.",
        "Any dotted key works too, e.g. env.numEnvs=64 train.seed=3 test.render.fps=15.",
        "Examples:",
        "  python train.py config=train_headless task=Reach",
        "  python train.py config=test_stream testGamesNum=0 checkpoint=latest reloadInterval=30",
        "  python train.py config=test_record checkpoint=latest testGamesNum=10   # MP4s in runs/<exp>/videos/",
        "  python train.py config=test checkpoint=latest --cfg job [--resolve]    # print the config, exit",
    ]
    return "\n".join(lines)
