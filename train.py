#!/usr/bin/env python
"""policycast command line, compatible with the seed's `train.py`.

python train.py config=train_headless task=BlindGrasping
python train.py config=test_stream testGamesNum=0 checkpoint=latest reloadInterval=30
python train.py --help
"""

import sys

from services.core.cli import main
from services.core.config import ConfigError, stream_token


def run(cfg) -> int:
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
        raise ConfigError(f"streamPort={cfg.stream.port}: {e.strerror}") from None
    cfg.stream.token = server.token  # one token for the dashboard and the tester's own control API
    try:
        return test(cfg, hub=hub)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], run))
