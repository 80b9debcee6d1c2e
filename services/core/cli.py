"""The one way a command line becomes a run, shared by `train.py` and `python -m services.<name>`."""

from __future__ import annotations

import sys
from collections.abc import Callable

from .config import ConfigError, help_text, load_config, print_request
from .logs import setup_logging


def main(argv: list[str], run: Callable, default_preset: str = "config", banner: str = "") -> int:
    """--help prints the presets/aliases; `--cfg job` the composed config; a refused value is one line +
    exit 2; else `run(cfg)`'s code.

    `run` may raise ConfigError for a refusal that needs the composed config (e.g. the wrong mode).
    """
    if any(a in ("-h", "--help", "help") for a in argv):
        print((banner + "\n\n" if banner else "") + help_text())
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
