#!/usr/bin/env python
"""policycast command line, compatible with the seed's `train.py`.

    python train.py config=train_headless task=BlindGrasping
    python train.py config=test_stream testGamesNum=0 checkpoint=latest reloadInterval=30
    python train.py --help
"""
import os
import sys

# MUJOCO_GL is read when mujoco is imported: EGL renders offscreen without a display.
os.environ.setdefault("MUJOCO_GL", "egl")

from services.core.config import ConfigError, help_text, load_config, stream_token  # noqa: E402
from services.core.logs import setup_logging  # noqa: E402


def main(argv: list[str]) -> int:
    if any(a in ("-h", "--help", "help") for a in argv):
        print(help_text())
        return 0
    try:
        cfg = load_config(argv)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    setup_logging()
    if cfg.mode == "train":
        from services.trainer import run as train

        return train(cfg)
    if cfg.stream.enabled:
        return test_and_stream(cfg)
    from services.tester import run as test

    return test(cfg)


def test_and_stream(cfg) -> int:
    """The seed's one-process mode: the tester publishes straight into an embedded streamer."""
    from services.streamer import PortInUseError, start_in_process
    from services.tester import run as test

    try:
        server, hub = start_in_process(port=cfg.stream.port, bind_all=cfg.stream.bindAll, token=stream_token(cfg))
    except PortInUseError as e:
        print(f"error: streamPort={cfg.stream.port}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        return test(cfg, hub=hub)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
