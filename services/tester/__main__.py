"""`python -m services.tester [overrides]` = `python train.py config=test [overrides]`."""

import sys

from services.core.cli import main


def run(cfg) -> int:
    from services.tester import run as test

    return test(cfg)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], run, default_preset="test", banner=__doc__))
