"""python -m services.streamer [--port 58080] [--bind-all] [--token T] — the stack's streamer service."""

from __future__ import annotations

import argparse
import os
import sys

from services.core.logs import setup_logging
from services.core.signals import stop_on_signals

from . import PortInUseError, start_in_process
from .server import DEFAULT_THREADS
from .view3d_relay import parse_ports


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m services.streamer", description="policycast streamer: MJPEG dashboard, fan-out, control proxy"
    )
    p.add_argument("--port", type=int, default=58080, help="listen port (default 58080)")
    p.add_argument(
        "--bind-all",
        action="store_true",
        help="listen on all interfaces (default 127.0.0.1); testers then register only with the token",
    )
    p.add_argument(
        "--token",
        default=os.environ.get("POLICYCAST_TOKEN"),
        help="bearer token every control call needs (default $POLICYCAST_TOKEN; else generated and printed "
        "once with the dashboard's URL); names beside 127.0.0.1/localhost: $POLICYCAST_ALLOWED_HOSTS",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        help=f"worker threads = most concurrent viewers + API calls (default {DEFAULT_THREADS})",
    )
    p.add_argument(
        "--view3d-relay",
        metavar="FIRST-LAST",
        default=None,
        help="relay testers' 3D views through these ports (the compose stack: 58201-58216)",
    )
    args = p.parse_args(argv)
    if not 1 <= args.port <= 65535:
        p.error(f"--port {args.port}: accepts 1..65535")
    if args.threads < 2:
        p.error(f"--threads {args.threads}: accepts an integer >= 2")
    try:
        relay = parse_ports(args.view3d_relay) if args.view3d_relay else None
    except ValueError as e:
        p.error(f"--view3d-relay {e}")
    setup_logging()
    try:
        server, _hub = start_in_process(
            args.port, args.bind_all, args.token or None, threads=args.threads, view3d_relay=relay
        )
    except PortInUseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with stop_on_signals() as stop:
        stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
