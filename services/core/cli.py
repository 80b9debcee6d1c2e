"""The one way a command line becomes a run, shared by `train.py` and `python -m services.<name>`, and
the one way to spell such a command line for a child process (the stack, benchmarks, tests)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from .config import ConfigError, load_config, print_request
from .logs import setup_logging


def main(argv: list[str], run: Callable, default_preset: str = "config", banner: str = "") -> int:
    """--help prints the presets/aliases; `--cfg job` the composed config; a refused value is one line +
    exit 2; else `run(cfg)`'s code.

    `run` may raise ConfigError for a refusal that needs the composed config (e.g. the wrong mode).
    """
    if any(a in ("-h", "--help", "help") for a in argv):
        from .usage import help_text

        print((banner.strip().replace("`", "") + "\n\n" if banner else "") + help_text())
        return 0
    try:
        show, resolve, argv = print_request(argv)
        cfg = load_config(argv, default_preset)
        if show:  # Hydra's `--cfg job`: the composed config as YAML, nothing run
            from omegaconf import OmegaConf

            print(OmegaConf.to_yaml(cfg, resolve=resolve), end="")
            return 0
        setup_logging()
        return run(cfg)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


TRAIN_PY = Path(__file__).resolve().parents[2] / "train.py"


def command(entry: str, *args, **overrides) -> list[str]:
    """argv that starts a policycast process with this interpreter.

    entry: "train" (train.py, the seed's CLI) or a service ("trainer", "tester", "streamer", "sync").
    args are passed as they are (str() of each: dotted overrides, --flags); keyword overrides become
    key=value, None as Hydra's null. E.g. command("tester", "test.id=t1", checkpoint="latest", numEnvs=1).
    """
    head = [sys.executable, str(TRAIN_PY)] if entry == "train" else [sys.executable, "-m", f"services.{entry}"]
    return head + [str(a) for a in args] + [f"{k}={'null' if v is None else v}" for k, v in overrides.items()]
