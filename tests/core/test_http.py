"""The cheroot server behind both APIs stops promptly, also while its worker pool is growing."""

import socket
import threading
import time

from services.core import http

HELLO = lambda environ, start: start("200 OK", [("Content-Type", "text/plain")]) or [b"ok"]  # noqa: E731


def test_stop_returns_while_the_deadline_thread_grows_the_pool():
    """A stop that meets a pool growing (the deadline thread's fit_pool, slow clients about) returns: workers
    spawned during the stop used to take the shutdown requests meant for the others, and stop then waited
    for ever on a worker that got none (seen: a tester that never exited after SIGTERM)."""
    srv = http.WsgiServer(HELLO, "127.0.0.1", 0, threads=2, name="test-http")
    slow = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(2)]
    for c in slow:  # a request head that never ends: both workers are busy with it
        c.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    pool = srv._server.requests
    real_grow, growing = pool.grow, threading.Event()

    def slow_grow(amount):  # a grow under way when the stop comes (spawning a worker takes a while)
        growing.set()
        time.sleep(1.0)
        real_grow(amount)

    pool.grow = slow_grow
    pool_filler = threading.Thread(target=srv.fit_pool, daemon=True)  # what the deadline thread does
    pool_filler.start()
    assert growing.wait(10)
    stopper = threading.Thread(target=srv.stop, daemon=True)
    stopper.start()
    stopper.join(30)
    for c in slow:
        c.close()
    assert not stopper.is_alive(), "WsgiServer.stop() hung"
