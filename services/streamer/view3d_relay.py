"""A TCP relay to testers' 3D views that only the stack's own network reaches (the compose stack).

In compose, a tester's web viewer listens on its container's address. A port range published on the
tester service would give each replica a host port, but Docker hands out another one from the range
every time it restarts a container, and nothing on the host keeps watching. The streamer is the one
container that knows every tester and whose ports are published 1:1: with `--view3d-relay 58201-58216`
it gives each tester reporting a 3D view (`view3d_port` in its status) a port of that range and copies
bytes both ways between a browser and the tester's viewer — its page, model and WebSockets alike. The
page gets an origin of its own (the port), as MuJoCo's viewer wants. The relay listens where the
streamer does (127.0.0.1, or every interface with --bind-all, as in its container, where the host
publishes the range on 127.0.0.1 only). It holds no state worth keeping: after a streamer restart the
testers' next statuses route them again.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field

log = logging.getLogger("streamer.view3d")
CONNECT_TIMEOUT_S = 5.0
CHUNK = 65536


def parse_ports(text: str) -> range:
    """`58201-58216` (or one port) -> a range of ports; ValueError says what is accepted."""
    try:
        lo, _, hi = text.partition("-")
        ports = range(int(lo), int(hi or lo) + 1)
    except ValueError:
        ports = range(0)
    if not ports or ports.start < 1 or ports.stop > 65536:
        raise ValueError(f"{text!r}: expects FIRST-LAST ports in 1..65535, e.g. 58201-58216")
    return ports


@dataclass
class _Route:
    port: int
    target: tuple[str, int]  # the tester's viewer: (host, port) on the stack network
    sock: socket.socket = field(repr=False)


class Relay:
    def __init__(self, ports, bind: str = "127.0.0.1", public_host: str = "127.0.0.1"):
        self.ports, self.bind, self.public_host = list(ports), bind, public_host
        self._routes: dict[str, _Route] = {}
        self._lock = threading.Lock()
        self._warned_full = False

    def route(self, tester_id: str, host: str, port: int) -> int | None:
        """The relay port of `tester_id`'s viewer at host:port, opened on first use; None when all are taken."""
        with self._lock:
            r = self._routes.get(tester_id)
            if r is not None:
                if r.target != (host, port):
                    log.info("3D view of %s now at %s:%d (relayed on port %d)", tester_id, host, port, r.port)
                    r.target = (host, port)  # the tester came back elsewhere: new connections go there
                return r.port
            used = {r.port for r in self._routes.values()}
            for p in self.ports:
                if p in used:
                    continue
                try:
                    sock = socket.create_server((self.bind, p))
                except OSError:
                    continue  # another process holds it: the next one
                r = self._routes[tester_id] = _Route(p, (host, port), sock)
                threading.Thread(target=self._accept, args=(r,), name=f"view3d-relay-{p}", daemon=True).start()
                log.info("3D view of %s relayed on port %d -> %s:%d", tester_id, p, host, port)
                return p
            if not self._warned_full:
                self._warned_full = True
                log.warning(
                    "3D relay: every port of %d-%d is in use: %s gets no 3D link (remove offline "
                    "tiles, or widen --view3d-relay)",
                    self.ports[0],
                    self.ports[-1],
                    tester_id,
                )
            return None

    def port_of(self, tester_id: str) -> int | None:
        r = self._routes.get(tester_id)
        return r.port if r else None

    def url(self, port: int, host: str | None = None) -> str:
        host = host or self.public_host
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def forget(self, tester_id: str) -> None:
        with self._lock:
            r = self._routes.pop(tester_id, None)
        if r is not None:
            _close_listener(r.sock)

    def close(self) -> None:
        with self._lock:
            routes, self._routes = list(self._routes.values()), {}
        for r in routes:
            _close_listener(r.sock)

    # --- the byte pumps --------------------------------------------------------------------------
    def _accept(self, r: _Route) -> None:
        while True:
            try:
                client, _ = r.sock.accept()
            except OSError:
                return  # listener closed (forget/close)
            threading.Thread(target=self._serve, args=(client, r.target), daemon=True).start()

    @staticmethod
    def _serve(client: socket.socket, target: tuple[str, int]) -> None:
        try:
            upstream = socket.create_connection(target, timeout=CONNECT_TIMEOUT_S)
        except OSError as e:
            log.debug("3D relay: %s:%d unreachable (%s)", *target, e)
            client.close()
            return
        upstream.settimeout(None)
        other = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        other.start()
        _pump(client, upstream)
        other.join()
        client.close()
        upstream.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy src -> dst until src ends; then end dst's writing side, so the other direction finishes too."""
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _close_listener(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
    except OSError:
        pass
    sock.close()
