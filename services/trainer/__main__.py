"""`python -m services.trainer [overrides]` = `python train.py config=train_headless [overrides]`."""

import sys

from services.core.cli import main
from services.core.config import ConfigError


def run(cfg) -> int:
    if cfg.mode != "train":
        raise ConfigError(f"mode={cfg.mode}: services.trainer only trains (use services.tester)")
    from services.trainer import run as train

    return train(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], run, default_preset="train_headless", banner=__doc__))
