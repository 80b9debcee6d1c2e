"""Command line: parse and check arguments (bad ones exit 2 with one line), then run the loop."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from services.core.archive import archive_dir
from services.core.logs import setup_logging
from services.sync.loop import Settings, SetupError, run
from services.sync.source import SshOptions, is_remote, with_trailing_slash

DEFAULT_METRICS_PORT = 58090


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.sync",
        description="Mirror a runs/ directory with rsync: checkpoints arrive whole, latest_* links last.",
    )
    p.add_argument("--source", required=True, help="local path or [user@]host:/path/runs/ (over SSH)")
    p.add_argument("--dest", required=True, help="local directory to mirror into (created if missing)")
    p.add_argument(
        "--interval",
        type=float,
        default=30.0,
        help="seconds between passes (default 30); for a local source, file events also trigger a pass",
    )
    p.add_argument("--once", action="store_true", help="one pass, then exit (0 ok, 1 failed)")
    p.add_argument(
        "--delete",
        action="store_true",
        help="also delete what SRC no longer has (off by default: only what the source's own records say "
        "it removed or archived goes)",
    )
    p.add_argument(
        "--archive",
        help="where experiments the source moved to its archive go (default: DEST_all beside DEST)",
    )
    p.add_argument(
        "--no-watch",
        action="store_true",
        help="no file events, interval only (for filesystems without inotify, e.g. NFS)",
    )
    p.add_argument("--debounce", type=float, default=0.5, help="quiet seconds after a file event before a pass")
    p.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULT_METRICS_PORT,
        help=f"port of /healthz and /metrics (default {DEFAULT_METRICS_PORT}; 0 = off)",
    )
    p.add_argument("--metrics-bind", default="127.0.0.1", help="address to serve on (0.0.0.0 in a container)")
    p.add_argument("--unhealthy-after", type=int, default=3, help="failed passes in a row before /healthz says 503")
    p.add_argument("--ssh-port", type=int, help="SSH port of the source host")
    p.add_argument("--identity", help="SSH private key file")
    p.add_argument("--known-hosts", help="known_hosts file holding the source host's key (checked strictly)")
    p.add_argument("--bwlimit", type=int, default=0, help="bandwidth limit in KiB/s (0 = none)")
    p.add_argument(
        "--io-timeout", type=int, default=60, help="rsync --timeout: seconds without I/O before a pass fails"
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def parse_settings(argv=None) -> Settings:
    parser = build_parser()
    a = parser.parse_args(argv)
    if a.interval <= 0:
        parser.error("--interval must be > 0 seconds")
    if a.debounce < 0:
        parser.error("--debounce must be >= 0 seconds")
    if not 0 <= a.metrics_port <= 65535:
        parser.error("--metrics-port must be 0..65535")
    if a.unhealthy_after < 1:
        parser.error("--unhealthy-after must be >= 1")
    if a.bwlimit < 0 or a.io_timeout < 0:
        parser.error("--bwlimit and --io-timeout must be >= 0")
    if a.source.startswith("rsync://") or "::" in a.source:
        parser.error("--source: rsync daemon sources are not supported; use a local path or user@host:/path")
    if is_remote(a.dest):
        parser.error("--dest must be a local directory")
    remote = is_remote(a.source)
    ssh_command = None
    if remote:
        if a.ssh_port is not None and not 1 <= a.ssh_port <= 65535:
            parser.error("--ssh-port must be 1..65535")
        for flag, path in (("--identity", a.identity), ("--known-hosts", a.known_hosts)):
            if path and not os.path.isfile(path):
                parser.error(f"{flag}: no such file: {path}")
        ssh_command = SshOptions(a.ssh_port, a.identity, a.known_hosts).command()
    else:
        given = [
            f
            for f, v in (("--ssh-port", a.ssh_port), ("--identity", a.identity), ("--known-hosts", a.known_hosts))
            if v is not None
        ]
        if given:
            parser.error(f"{', '.join(given)} only apply to a remote source (user@host:/path)")
        if not os.path.isdir(a.source):
            parser.error(f"--source: no such directory: {a.source}")
    dest = Path(a.dest).resolve()
    if not remote and Path(a.source).resolve() == dest:
        parser.error("--source and --dest are the same directory")
    setup_logging(a.log_level)
    logging.getLogger("sh").setLevel(logging.WARNING)  # sh logs every process start at INFO
    return Settings(
        source=with_trailing_slash(a.source),
        dest=dest,
        remote=remote,
        interval=a.interval,
        once=a.once,
        delete=a.delete,
        debounce=a.debounce,
        no_watch=a.no_watch,
        metrics_port=a.metrics_port,
        metrics_bind=a.metrics_bind,
        ssh_command=ssh_command,
        bwlimit=a.bwlimit,
        io_timeout=a.io_timeout,
        unhealthy_after=a.unhealthy_after,
        archive=Path(a.archive).resolve() if a.archive else archive_dir(dest),
    )


def missing_tool(remote: bool) -> str | None:
    for tool in ("rsync", "ssh") if remote else ("rsync",):
        if shutil.which(tool) is None:
            return tool
    return None


def main(argv=None) -> int:
    settings = parse_settings(argv)
    tool = missing_tool(settings.remote)
    if tool:
        pkg = "rsync" if tool == "rsync" else "openssh-client"
        print(f"sync: error: '{tool}' not found on PATH (Debian/Ubuntu: apt-get install {pkg})", file=sys.stderr)
        return 2
    try:
        return run(settings)
    except SetupError as e:
        print(f"sync: error: {e}", file=sys.stderr)
        return 2
