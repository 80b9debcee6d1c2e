"""cheroot (a production threaded WSGI server) running the app in a background thread."""
from __future__ import annotations

import errno
import logging
import threading

from cheroot import wsgi

log = logging.getLogger("streamer")

# Every open MJPEG viewer holds one worker thread for as long as it watches (cheroot's pool is fixed).
DEFAULT_THREADS = 64


class PortInUseError(OSError):
    """str() is the one line to show the user."""


class StreamerServer:
    def __init__(self, app, host: str, port: int, threads: int = DEFAULT_THREADS, on_stop=None):
        self.host = host
        self._on_stop = on_stop
        # timeout: a viewer that accepts no bytes for this long is disconnected (frees its thread)
        self._server = wsgi.Server((host, port), app, numthreads=threads, server_name="policycast-streamer",
                                   timeout=10, shutdown_timeout=2, request_queue_size=128)
        try:
            self._server.prepare()  # binds now, so a busy port fails here, in the caller's thread
        except OSError as e:
            cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
            if cause.errno == errno.EADDRINUSE or "Address already in use" in str(e):
                raise PortInUseError(errno.EADDRINUSE, f"port {port} on {host} is already in use "
                                     f"(another streamer? pick another with --port / streamPort=)") from None
            raise
        self.port = self._server.bind_addr[1]
        self._thread = threading.Thread(target=self._server.serve, name="streamer-http", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self._on_stop:
            self._on_stop()  # releases viewer generators first, so worker threads can finish
        self._server.stop()
        self._thread.join(timeout=5)
