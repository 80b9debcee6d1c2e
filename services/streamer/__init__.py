"""Streamer: MJPEG dashboard on :58080 — testers push JPEG frames once, every viewer gets the same bytes.

server, hub = start_in_process(port=58080, bind_all=False, token=None)   # server.token: the control token
publisher = hub.local_publisher("Reach-1", tester)   # tester: the control methods of docs/design.md
publisher.publish_status(tester.status()); publisher.publish_frame(jpeg_bytes)
server.stop()
"""

from __future__ import annotations

import logging
import secrets

from .app import create_app
from .hub import Hub
from .server import DEFAULT_THREADS, PortInUseError, StreamerServer
from .view3d_relay import Relay

__all__ = ["start_in_process", "PortInUseError", "Hub", "create_app", "StreamerServer"]
log = logging.getLogger("streamer")


def start_in_process(
    port: int = 58080,
    bind_all: bool = False,
    token: str | None = None,
    threads: int = DEFAULT_THREADS,
    announce: bool = True,
    view3d_relay=None,
) -> tuple[StreamerServer, Hub]:
    """Serve the dashboard from a background thread; returns (server, hub). Raises PortInUseError.

    Every control call needs `Authorization: Bearer <token>`, on loopback too (a web page or another user
    of this machine reaches 127.0.0.1 as well); with no token given one is generated, and (`announce`)
    the dashboard's URL with it is printed once, as Jupyter does; `server.token` holds it.
    bind_all: listen on 0.0.0.0 (warned); testers then register only with the token.
    view3d_relay: ports to relay testers' 3D views through (view3d_relay.py).
    """
    generated = not token
    token = token or secrets.token_urlsafe(18)
    # each viewer holds a worker thread: leave a few for the API and ingest
    hub = Hub(max_viewers=max(1, threads - 8))
    host = "0.0.0.0" if bind_all else "127.0.0.1"
    relay = Relay(view3d_relay, bind=host) if view3d_relay else None
    app = create_app(hub, token=token, bind=host, relay=relay)

    def on_stop():
        hub.close()
        if relay:
            relay.close()

    server = StreamerServer(app, host, port, threads=threads, on_stop=on_stop)
    server.token = token
    if bind_all:
        log.warning(
            "streamer listens on ALL interfaces (port %d): anyone who can reach this machine can "
            "watch; control and ingest calls need the bearer token",
            server.port,
        )
    if announce:
        log.info("dashboard on %s", server.url)
        if generated:
            # printed once, on stdout, so a user can copy it; never logged
            where = "<this-host>" if bind_all else "127.0.0.1"
            url = f"http://{where}:{server.port}/?token={token}"
            print(f"policycast dashboard (with its control token): {url}", flush=True)
    return server, hub
