"""The streamer's HTTP server: cheroot with a worker thread per open viewer."""

from __future__ import annotations

from services.core.http import PortInUseError, WsgiServer

# Every open MJPEG viewer holds one worker thread for as long as it watches (cheroot's pool is fixed).
DEFAULT_THREADS = 64

__all__ = ["DEFAULT_THREADS", "PortInUseError", "StreamerServer"]


class StreamerServer(WsgiServer):
    def __init__(self, app, host: str, port: int, threads: int = DEFAULT_THREADS, on_stop=None):
        # on_stop releases viewer generators first, so worker threads can finish.
        # timeout: a viewer that accepts no bytes for this long is disconnected (frees its thread).
        super().__init__(
            app,
            host,
            port,
            threads,
            "policycast-streamer",
            on_stop=on_stop,
            hint=" (another streamer? pick another with --port / streamPort=)",
            timeout=10,
            shutdown_timeout=2,
            request_queue_size=128,
        )
