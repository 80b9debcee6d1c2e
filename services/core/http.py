"""A WSGI app on cheroot (a production threaded server) in a background thread, bound at once.

The tester's control API and the streamer both serve this way; binding in the caller's thread means a
busy port fails at start, as one line naming it.

Slow and large clients cost a bounded amount. cheroot gives a worker thread to each connection from its
first byte until the answer is sent, and times out only single reads (`timeout`): a client trickling a
header line every few seconds holds its worker for ever. So, beside cheroot's own limits (request head
at most MAX_HEAD_BYTES, a read or write that waits `timeout` s ends the connection):
- a request's head and body must arrive within READ_DEADLINE_S of its first byte (the JSON guard says
  when the body is read: `request_read()`), or its connection is shut;
- the worker pool grows while fewer than SPARE_WORKERS are idle, up to `max_threads`, so slow clients
  and open MJPEG viewers cannot take the last worker from `/healthz` or the testers' pushes;
- cheroot's own error answers (a malformed request line, a head too large) are JSON, like the apps'.
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import threading
import time

from cheroot import server as cheroot_server
from cheroot import wsgi

READ_DEADLINE_S = 10.0
MAX_HEAD_BYTES = 16 * 1024
SPARE_WORKERS = 4
MAX_THREADS = 512
TICK_S = 0.2
log = logging.getLogger("http")


class PortInUseError(OSError):
    """str() is the one line to show the user."""


class _Deadlines:
    """Requests being read (by worker thread) and the time their connection is shut if still reading; one
    thread also grows the servers' pools."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reading: dict[int, tuple[socket.socket, float]] = {}
        self.servers: list[WsgiServer] = []
        self.thread: threading.Thread | None = None

    def arm(self, sock) -> None:
        with self.lock:
            self.reading[threading.get_ident()] = (sock, time.monotonic() + READ_DEADLINE_S)

    def disarm(self) -> None:
        with self.lock:
            self.reading.pop(threading.get_ident(), None)

    def watch(self, srv: WsgiServer) -> None:
        with self.lock:
            self.servers.append(srv)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self.thread.start()

    def forget(self, srv: WsgiServer) -> None:
        with self.lock:
            if srv in self.servers:
                self.servers.remove(srv)

    def _run(self) -> None:
        while True:
            time.sleep(TICK_S)
            now = time.monotonic()
            with self.lock:
                late = [(k, s) for k, (s, t) in self.reading.items() if t < now]
                for k, _ in late:
                    del self.reading[k]
                servers = list(self.servers)
            for _, sock in late:
                try:  # the worker's blocked read returns at once; cheroot then closes the connection
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for srv in servers:
                srv.fit_pool()


_DEADLINES = _Deadlines()


def request_read() -> None:
    """The current request's head and body are in: its read deadline ends (called by the JSON guard)."""
    _DEADLINES.disarm()


class _Request(cheroot_server.HTTPRequest):
    def parse_request(self):
        _DEADLINES.arm(self.conn.socket)
        try:
            super().parse_request()
        finally:
            if not self.ready:
                _DEADLINES.disarm()

    def respond(self):
        try:
            super().respond()
        finally:
            _DEADLINES.disarm()  # an app that never said its body was read

    def simple_response(self, status, msg=""):
        """cheroot's own error answers (bad request line, head too large, ...) as JSON."""
        status = str(status)
        text = msg.decode("latin-1") if isinstance(msg, bytes) else str(msg)
        body = json.dumps({"error": text or status[4:] or status}).encode()
        head = [f"{self.server.protocol} {status}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
        if status[:3] in ("400", "413", "414"):
            self.close_connection = True
            head.append("Connection: close")
        try:
            self.conn.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            pass  # the client left: nothing to tell it


class _Connection(cheroot_server.HTTPConnection):
    RequestHandlerClass = _Request


class WsgiServer:
    def __init__(
        self,
        app,
        host: str,
        port: int,
        threads: int,
        name: str,
        on_stop=None,
        hint: str = "",
        max_threads: int = MAX_THREADS,
        **options,
    ):
        """`threads` workers at start, up to `max_threads` as needed; `options` go to cheroot's Server
        (timeout, shutdown_timeout, ...); `on_stop` runs before it stops."""
        self.host, self._on_stop = host, on_stop
        self._server = wsgi.Server(
            (host, port), app, numthreads=threads, max=max(threads, max_threads), server_name=name, **options
        )
        self._server.ConnectionClass = _Connection
        self._server.max_request_header_size = MAX_HEAD_BYTES
        try:
            self._server.prepare()
        except OSError as e:
            cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
            if cause.errno == errno.EADDRINUSE or "Address already in use" in str(e):
                raise PortInUseError(errno.EADDRINUSE, f"port {port} on {host} is already in use{hint}") from None
            raise
        self.port = self._server.bind_addr[1]
        # fit_pool (the deadline thread) and stop never overlap: workers spawned while cheroot stops would
        # take its shutdown requests, and stop would then wait for ever on a worker that got none
        self._pool_lock, self._stopping = threading.Lock(), False
        self._thread = threading.Thread(target=self._server.serve, name=name, daemon=True)
        self._thread.start()
        _DEADLINES.watch(self)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def workers(self) -> int:
        return len(self._server.requests._threads)

    def fit_pool(self) -> None:
        """Grow the pool while fewer than SPARE_WORKERS are idle; give back what a burst left idle."""
        with self._pool_lock:
            if not self._stopping:
                self._fit(self._server.requests)

    @staticmethod
    def _fit(pool) -> None:
        try:
            idle = pool.idle
            waiting = pool.qsize  # connections no worker has taken yet
            if idle < SPARE_WORKERS or waiting:
                pool.grow(waiting + 2 * SPARE_WORKERS)
            elif idle > 4 * SPARE_WORKERS:
                pool.shrink(idle - 2 * SPARE_WORKERS)
        except Exception as e:  # a pool being stopped; never let the deadline thread die
            log.debug("worker pool: %s", e)

    def stop(self) -> None:
        _DEADLINES.forget(self)
        with self._pool_lock:
            self._stopping = True
        if self._on_stop:
            self._on_stop()
        self._server.stop()
        self._thread.join(timeout=5)
