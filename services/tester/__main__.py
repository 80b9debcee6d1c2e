"""`python -m services.tester [overrides]` = `python train.py config=test [overrides]`."""
import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")  # read at `import mujoco`

from services.core.config import ConfigError, help_text, load_config  # noqa: E402
from services.core.logs import setup_logging  # noqa: E402


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        print("python -m services.tester [overrides] = python train.py config=test [overrides]\n")
        print(help_text())
        return 0
    try:
        cfg = load_config(argv, default_preset="test")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    setup_logging()
    from services.tester import run

    return run(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
