"""SIGINT/SIGTERM end training cleanly: the loop stops at the next env step and saves once more.

Containers are stopped with SIGTERM (then SIGKILL after a grace period), people press Ctrl-C; both
must leave a complete final checkpoint. A second signal aborts at once.
"""
from __future__ import annotations

import contextlib
import logging
import signal
import threading

log = logging.getLogger("trainer")


class StopRequested(Exception):
    """Raised inside rl_games' loop (from the observer) to leave `agent.train()`."""


class StopFlag:
    def __init__(self):
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum, _frame):
        if self.requested:  # second signal: the user does not want to wait for the save
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        log.info("%s: stopping; a final checkpoint will be saved (send it again to abort)", self.signal_name)


@contextlib.contextmanager
def stop_on_signals():
    """Yield a StopFlag set by SIGINT/SIGTERM (handlers only in the main thread, restored after)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.signal(s, flag._handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
