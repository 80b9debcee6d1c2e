"""Small helpers every test area uses: a free loopback port, a bounded wait, and a tester's status to poll."""

import socket
import time

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, step=0.02, what="condition"):
    """Poll until predicate() is truthy; returns its value. Bounded, so every test stops by itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def status_of_tester(port):
    """A tester's status on its control port; None while it gives none (not listening yet, no answer, or
    its 503 while it starts), so a poll waits through its start."""
    try:
        r = requests.get(f"http://127.0.0.1:{port}/status", timeout=2)
    except requests.RequestException:
        return None
    return r.json() if r.ok else None
