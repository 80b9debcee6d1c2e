"""When to run the next pass: a debounced filesystem event, the interval timer, or a stop request."""

from __future__ import annotations

import threading
import time

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer

# Reads are events too (inotify open/close): rsync reading SRC would retrigger itself forever.
_WRITE_EVENTS = {"created", "modified", "moved", "deleted", "closed"}


class Trigger:
    """`wait()` returns "event" once changes went quiet for `debounce` s (or have kept coming for
    `max_delay` s, so a busy source still syncs), "timer" when the timeout ends, "stop" on stop()."""

    def __init__(self, debounce: float, max_delay: float | None = None):
        self.debounce = debounce
        self.max_delay = max_delay if max_delay is not None else max(5 * debounce, 2.0)
        self._cond = threading.Condition()
        self._first = self._last = None
        self._stopped = False

    def poke(self) -> None:
        with self._cond:
            now = time.monotonic()
            self._first = self._first or now
            self._last = now
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def wait(self, timeout: float, use_events: bool = True) -> str:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._stopped:
                    return "stop"
                now = time.monotonic()
                wake = deadline
                if use_events and self._last is not None:
                    fire = min(self._last + self.debounce, self._first + self.max_delay)
                    if now >= fire:
                        self._first = self._last = None
                        return "event"
                    wake = min(wake, fire)
                if now >= deadline:
                    self._first = self._last = None  # the pass about to run covers them
                    return "timer"
                self._cond.wait(wake - now)


class _Poker(FileSystemEventHandler):
    def __init__(self, trigger: Trigger):
        self.trigger = trigger

    def on_any_event(self, event) -> None:
        if event.event_type in _WRITE_EVENTS:
            self.trigger.poke()


def watch(directory: str, trigger: Trigger):
    """Start a watchdog observer on `directory` (recursive); returns it (call .stop(), .join())."""
    observer = Observer()
    observer.daemon = True
    observer.schedule(_Poker(trigger), directory, recursive=True)
    observer.start()
    return observer
