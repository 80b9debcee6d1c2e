"""Tester service: play the policy forever (or N games), hot-reload newer checkpoints, stream frames.

python train.py config=test checkpoint=latest testGamesNum=0 reloadInterval=30
python -m services.tester checkpoint=latest          # the same, as a service

`run` is the entry; `build` (wiring.py) puts a tester together from its parts.
"""

from __future__ import annotations

import logging
import sys

from .wiring import Service, build

__all__ = ["Service", "build", "run"]
log = logging.getLogger("tester")


def run(cfg, hub=None) -> int:
    """Run the tester the config asks for; returns the process exit code."""
    from services.core.checkpoints import ResolveError
    from services.core.config import ConfigError
    from services.core.http import PortInUseError
    from services.core.signals import stop_on_signals

    try:
        service = build(cfg, hub)
    except ResolveError as e:  # a typo in checkpoint=; a `latest*` may legitimately not exist yet
        print(f"error: {e}", file=sys.stderr)
        return 2
    except PortInUseError as e:
        raise ConfigError(f"test.control.port={cfg.test.control.port}: {e.strerror}") from None
    games = cfg.train.testGamesNum
    log.info(
        "tester %s: checkpoint=%s, %s, each checkpoint kept >= %s s",
        service.tester.id,
        cfg.train.checkpoint,
        f"{games} games" if games else "until stopped",
        cfg.train.reloadInterval,
    )
    # SIGINT/SIGTERM end the loop cleanly (exit 0): containers are stopped with SIGTERM.
    try:
        with stop_on_signals() as stop:
            if cfg.viewer.enabled:
                from .viewer import watch

                watch(service.tester, games, stop)
            else:
                service.tester.play(games, stop)
    finally:
        service.close()
    _print_summary(service.tester.summary())
    return 0


def _print_summary(s: dict) -> None:
    def fmt(v, spec):
        return "n/a" if v is None else format(v, spec)

    print(
        f"test summary: episodes {s['episodes']}, mean return {fmt(s['mean_return'], '.3f')}, "
        f"success rate {fmt(s['success_rate'], '.3f')}, checkpoint {s['checkpoint']} (epoch {s['epoch']}), "
        f"reloads {s['reloads']}",
        flush=True,
    )
