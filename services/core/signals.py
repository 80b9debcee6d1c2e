"""SIGINT/SIGTERM as a stop request, the same in every service.

Containers are stopped with SIGTERM (then SIGKILL after a grace period) and people press Ctrl+C;
every service then finishes what it must (a final checkpoint, stopping its children) and exits 0.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag(threading.Event):
    """Set by the first SIGINT/SIGTERM; `signal_name` says which one."""

    signal_name: str | None = None


@contextlib.contextmanager
def stop_on_signals(on_stop: Callable[[str], None] | None = None, abort_on_second: bool = False):
    """Yield a StopFlag that SIGINT/SIGTERM set, after calling `on_stop(signal_name)` on a helper thread.

    Handlers go in only in the main thread (elsewhere the flag is just never set by a signal) and
    the previous ones come back on exit. With `abort_on_second`, a second signal raises
    KeyboardInterrupt: the user does not want to wait for the clean stop.
    """
    flag = StopFlag()

    def stop():
        if on_stop is not None:
            on_stop(flag.signal_name)
        flag.set()  # after on_stop: whoever wakes on the flag sees its effects

    def handle(signum, _frame):
        if flag.signal_name is not None:
            if abort_on_second:
                raise KeyboardInterrupt
            return
        flag.signal_name = signal.Signals(signum).name
        # Not flag.set() here: the handler runs on the main thread between two bytecodes, possibly
        # while that thread holds the lock of the very Event it waits on (Event.wait), and that lock
        # is not reentrant. A helper thread takes the locks instead.
        threading.Thread(target=stop, name="stop-signal", daemon=True).start()

    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
