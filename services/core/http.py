"""A WSGI app on cheroot (a production threaded server) in a background thread, bound at once.

The tester's control API and the streamer both serve this way; binding in the caller's thread means a
busy port fails at start, as one line naming it.
"""

from __future__ import annotations

import errno
import threading

from cheroot import wsgi


class PortInUseError(OSError):
    """str() is the one line to show the user."""


class WsgiServer:
    def __init__(self, app, host: str, port: int, threads: int, name: str, on_stop=None, hint: str = "", **options):
        """`options` go to cheroot's Server (timeout, shutdown_timeout, ...); `on_stop` runs before it stops."""
        self.host, self._on_stop = host, on_stop
        self._server = wsgi.Server((host, port), app, numthreads=threads, server_name=name, **options)
        try:
            self._server.prepare()
        except OSError as e:
            cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
            if cause.errno == errno.EADDRINUSE or "Address already in use" in str(e):
                raise PortInUseError(errno.EADDRINUSE, f"port {port} on {host} is already in use{hint}") from None
            raise
        self.port = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, name=name, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self._on_stop:
            self._on_stop()
        self._server.stop()
        self._thread.join(timeout=5)
