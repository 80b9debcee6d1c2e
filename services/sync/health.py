"""What the sidecar reports: pass outcomes as state, Prometheus metrics, and a tiny HTTP server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
)

from services.core.disk import tree_bytes, usage
from services.sync.passes import PassResult

DISK_PERIOD_S = 10.0

disable_created_metrics()  # no `*_created` series: this process has only our registry


class SyncState:
    """Outcome of every pass; read by /healthz and /metrics from the server's threads."""

    def __init__(self, source: str, dest: str, unhealthy_after: int):
        self.source, self.dest, self.unhealthy_after = source, dest, unhealthy_after
        self._lock = threading.Lock()
        self.started = time.time()
        self.last_success = None
        self.last_error = None
        self.consecutive_failures = 0
        self.passes = {"ok": 0, "error": 0}
        self.files_total = self.bytes_total = self.wire_bytes_total = 0
        self.removed_total = self.archived_total = 0  # what the source's records said (follow.py)
        self.disk: dict | None = None
        self._next_disk = 0.0
        r = self.registry = CollectorRegistry()  # private: only our series, no process/gc noise
        self._m_passes = Counter("policycast_sync_passes", "Sync passes by result", ["result"], registry=r)
        self._m_files = Counter("policycast_sync_files_transferred", "Files copied to DST", registry=r)
        self._m_bytes = Counter("policycast_sync_bytes_transferred", "Size of the files copied", registry=r)
        self._m_wire = Counter("policycast_sync_wire_bytes", "Bytes rsync moved over its pipe/network", registry=r)
        self._m_deleted = Counter(
            "policycast_sync_files_deleted",
            "Files removed from DST (as the source's retention removed them, or --delete)",
            registry=r,
        )
        self._m_links = Counter("policycast_sync_links_updated", "latest_* links moved", registry=r)
        self._m_last_ok = Gauge(
            "policycast_sync_last_success_timestamp_seconds",
            "Unix time of the last successful pass (0: none yet)",
            registry=r,
        )
        self._m_fails = Gauge(
            "policycast_sync_consecutive_failures", "Failed passes since the last success", registry=r
        )
        self._m_seconds = Gauge("policycast_sync_last_pass_seconds", "Duration of the last successful pass", registry=r)

    def record_success(self, result: PassResult) -> None:
        s = result.stats
        with self._lock:
            self.last_success, self.consecutive_failures, self.last_error = time.time(), 0, None
            self.passes["ok"] += 1
            self.files_total += s.files
            self.bytes_total += s.bytes
            self.wire_bytes_total += s.wire_bytes
            self.removed_total += len(result.followed.removed)
            self.archived_total += len(result.followed.archived)
        self._m_passes.labels("ok").inc()
        self._m_files.inc(s.files)
        self._m_bytes.inc(s.bytes)
        self._m_wire.inc(s.wire_bytes)
        self._m_deleted.inc(s.deleted + len(result.followed.removed))
        self._m_links.inc(len(result.links_updated))
        self._m_last_ok.set(self.last_success)
        self._m_fails.set(0)
        self._m_seconds.set(result.seconds)

    def measure_disk(self, dest, force: bool = False) -> None:
        """The mirror's size and the room left where it lives, at most every DISK_PERIOD_S (a walk)."""
        now = time.monotonic()
        if not force and now < self._next_disk:
            return
        self._next_disk = now + DISK_PERIOD_S
        room = usage(dest)
        value = {"dest_bytes": tree_bytes(dest), **room} if room else None
        with self._lock:
            self.disk = value

    def record_failure(self, error: str) -> int:
        with self._lock:
            self.consecutive_failures += 1
            self.last_error = error
            self.passes["error"] += 1
            n = self.consecutive_failures
        self._m_passes.labels("error").inc()
        self._m_fails.set(n)
        return n

    def health(self) -> tuple[int, dict]:
        """200 while fewer than `unhealthy_after` passes in a row failed (so also before the first
        pass and through a short outage), 503 after."""
        with self._lock:
            healthy = self.consecutive_failures < self.unhealthy_after
            body = {
                "status": "ok" if self.consecutive_failures == 0 else ("degraded" if healthy else "failing"),
                "source": self.source,
                "dest": self.dest,
                "last_success": self.last_success,
                "last_success_age_s": None if self.last_success is None else round(time.time() - self.last_success, 3),
                "consecutive_failures": self.consecutive_failures,
                "last_error": self.last_error,
                "passes": dict(self.passes),
                "files_transferred": self.files_total,
                "bytes_transferred": self.bytes_total,
                "wire_bytes": self.wire_bytes_total,
                "files_removed": self.removed_total,
                "experiments_archived": self.archived_total,
                "disk": self.disk,
            }
        return (200 if healthy else 503), body


def serve(state: SyncState, bind: str, port: int) -> ThreadingHTTPServer:
    """Serve /healthz (JSON) and /metrics (Prometheus text) on a daemon thread. Raises OSError if
    the port is taken."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                code, body = state.health()
                self._send(code, "application/json", json.dumps(body).encode())
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(state.registry))
            else:
                self._send(404, "application/json", b'{"error": "not found; try /healthz or /metrics"}')

        def _send(self, code: int, ctype: str, data: bytes):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # scrapes every few seconds would drown the pass log
            pass

    server = ThreadingHTTPServer((bind, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="sync-http", daemon=True).start()
    return server
