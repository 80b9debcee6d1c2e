"""The dashboard every runtime serves on 127.0.0.1:<port> (the streamer): its URL, with the control token
as Jupyter prints its own, whether it answers, the lines printed once it does, and `make reload-interval`,
which goes through its API whatever runs the stack."""

from __future__ import annotations

import sys
import time

import requests

from services.core.auth import bearer

from . import settings


def streamer_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def dashboard_url(port: int, saved) -> str:
    """The URL to open once: the page keeps the token and drops it from the address bar."""
    return f"{streamer_url(port)}/?token={saved['POLICYCAST_TOKEN']}"


def streamer_up(port: int) -> bool:
    try:
        return requests.get(streamer_url(port) + "/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def wait_for_streamer(port: int, timeout_s: float = 240) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if streamer_up(port):
            return True
        time.sleep(1)
    return False


def announce(port: int, saved, note: str = "") -> int:
    """Compose and Swarm: wait for the streamer, then print the dashboard's URL (the local runtime says it
    through its supervisor, which owns the terminal)."""
    if not wait_for_streamer(port):
        print(f"stack: the streamer did not answer on {streamer_url(port)}/healthz; see `make logs`", file=sys.stderr)
        return 1
    print(
        f"\n  dashboard: {dashboard_url(port, saved)}   (its control token: POLICYCAST_TOKEN in {settings.ENV_FILE})"
        f"\n{note}"
        f"  testers keep each checkpoint at least {saved['RELOAD_INTERVAL']} s; change it live with "
        "`make reload-interval=N`\n",
        flush=True,
    )
    return 0


def reload_interval(port: int, text: str) -> int:
    """`make reload-interval=N`: remember N, and set it on every tester of a running stack."""
    seconds = settings.parse_interval(text)
    saved = settings.save({"RELOAD_INTERVAL": seconds})
    if not streamer_up(port):
        print(f"stack: no stack running: remembered reload-interval={seconds} s for the next `make up`")
        return 0
    r = requests.put(
        streamer_url(port) + "/api/reload-interval",
        json={"seconds": float(seconds)},
        headers=bearer(saved["POLICYCAST_TOKEN"]),
        timeout=30,
    )
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    took = [t for t in body.get("testers", []) if "status" in t]
    for t in body.get("testers", []):
        print(
            f"  {t['id']}: "
            + (
                f"keeps each checkpoint >= {t['status'].get('reload_interval')} s"
                if "status" in t
                else f"failed: {t.get('error')}"
            )
        )
    for tester_id in body.get("offline", []):
        print(f"  {tester_id}: offline, skipped (a stale tile: remove it on the dashboard)")
    if not r.ok:
        print(f"error: the streamer answered {r.status_code}: {body.get('error', r.text[:200])}", file=sys.stderr)
        return 1
    print(f"stack: reload-interval={seconds} s set on {len(took)} tester(s) and remembered")
    return 0
