"""The service loop: wait for a trigger, run a pass, record it, back off on failure; stop on SIGTERM."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from services.core.signals import stop_on_signals
from services.sync.follow import Follower
from services.sync.health import SyncState, serve
from services.sync.passes import PassResult, base_args, sync_pass
from services.sync.rsync import Rsync, RsyncError, Stopped
from services.sync.trigger import Trigger, watch

log = logging.getLogger("sync")

MAX_BACKOFF = 60.0


@dataclass(frozen=True, kw_only=True)
class Settings:
    source: str  # with trailing slash
    dest: Path
    remote: bool
    interval: float
    once: bool
    delete: bool
    debounce: float
    no_watch: bool
    metrics_port: int  # 0: no HTTP server
    metrics_bind: str
    ssh_command: str | None
    bwlimit: int
    io_timeout: int
    unhealthy_after: int
    archive: Path | None = None  # where experiments the source archived go (None: they stay in DST)


def backoff(failures: int, interval: float) -> float:
    """1, 2, 4, ... s, capped at max(interval, 60 s): fast recovery from a blip, no hammering."""
    return min(2.0 ** (failures - 1), max(interval, MAX_BACKOFF))


class SetupError(Exception):
    """A start-up problem the user must fix (port taken, DST not creatable): exit 2, not retried."""


def run(s: Settings) -> int:
    state = SyncState(s.source, str(s.dest), s.unhealthy_after)
    try:
        s.dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SetupError(f"--dest {s.dest}: {e.strerror}") from None
    try:
        server = serve(state, s.metrics_bind, s.metrics_port) if s.metrics_port else None
    except OSError as e:
        raise SetupError(f"--metrics-port {s.metrics_port}: cannot listen on {s.metrics_bind}: {e.strerror}") from None
    rsync = Rsync(base_args(s.ssh_command, s.bwlimit, s.io_timeout))
    follower = Follower(s.dest, s.archive)
    state.measure_disk(s.dest)
    trigger = Trigger(s.debounce)
    observer = None
    if not (s.remote or s.once or s.no_watch):
        try:
            observer = watch(s.source, trigger)
        except OSError as e:  # e.g. inotify watch limit reached: the interval still syncs
            log.warning("no file events (%s); syncing every %gs", e, s.interval)

    def on_stop(signal_name):
        log.info("%s: stopping (an interrupted transfer resumes on the next start)", signal_name)
        trigger.stop()
        rsync.terminate()

    log.info(
        "syncing %s -> %s (%s, interval %gs%s%s)",
        s.source,
        s.dest,
        "ssh" if s.remote else ("local" if s.no_watch else "local, file events"),
        s.interval,
        ", --delete" if s.delete else "",
        f", http {s.metrics_bind}:{s.metrics_port}" if server else "",
    )
    exit_code, delay, use_events, was_pending = 0, 0.0, True, False
    with stop_on_signals(on_stop):
        try:
            while trigger.wait(delay, use_events) != "stop":
                try:
                    result = sync_pass(rsync, s.source, s.dest, s.delete, follower)
                except Stopped:
                    break
                except (RsyncError, OSError) as e:
                    failures = state.record_failure(str(e))
                    if s.once:
                        log.error("pass failed: %s", e)
                        exit_code = 1
                        break
                    delay, use_events = backoff(failures, s.interval), False
                    log.warning("pass failed (%d in a row): %s; retry in %gs", failures, e, delay)
                    continue
                state.record_success(result)
                state.measure_disk(s.dest)
                _log_pass(result)
                if s.once:
                    break
                # A link waiting for its experiment: look again soon (once; a link to an experiment that
                # never comes, e.g. dangling in SRC, then waits for the interval like everything else).
                soon = result.links_pending and not was_pending
                delay, use_events, was_pending = (
                    (max(s.debounce, 0.5) if soon else s.interval),
                    True,
                    bool(result.links_pending),
                )
        finally:
            if observer is not None:
                observer.stop()
            if server is not None:
                server.shutdown()
                server.server_close()
    log.info("stopped")
    return exit_code


NEWS_BYTES = 64 * 1024  # a pass that moved less, and no link or removal, carried only progress.json and logs


def _log_pass(r: PassResult) -> None:
    if not r.moved_anything:
        log.debug("pass: nothing new (%.2fs)", r.seconds)
        return
    s, f = r.stats, r.followed
    news = s.bytes >= NEWS_BYTES or s.deleted or r.links_updated or f.removed or f.archived
    # a trainer rewrites progress.json every epoch: those passes would fill the log once a second
    log.log(
        logging.INFO if news else logging.DEBUG,
        "pass: %d files, %s (wire %s), %d deleted, links %s%s%s in %.2fs",
        s.files,
        _size(s.bytes),
        _size(s.wire_bytes),
        s.deleted,
        ",".join(r.links_updated) or "-",
        f", {len(f.removed)} removed as the source's retention did" if f.removed else "",
        f", archived {', '.join(f.archived)}" if f.archived else "",
        r.seconds,
    )


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
