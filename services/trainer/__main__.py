"""`python -m services.trainer [overrides]` = `python train.py config=train_headless [overrides]`."""
import os
import sys

# MUJOCO_GL is read when mujoco is imported: EGL renders offscreen without a display.
os.environ.setdefault("MUJOCO_GL", "egl")

from services.core.config import ConfigError, help_text, load_config  # noqa: E402
from services.core.logs import setup_logging  # noqa: E402

from . import run  # noqa: E402


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        print(help_text())
        return 0
    try:
        cfg = load_config(argv, default_preset="train_headless")
        if cfg.mode != "train":
            raise ConfigError(f"mode={cfg.mode}: services.trainer only trains (use services.tester)")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    setup_logging()
    return run(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
