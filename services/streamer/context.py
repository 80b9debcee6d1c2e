"""What the streamer's views reach through the app (`current_app.extensions["policycast"]`)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, current_app

from .hub import Channel, Hub


@dataclass
class Streamer:
    hub: Hub
    token: str  # every state-changing call proves it; control calls carry it to trusted testers only
    anonymous_testers: bool = True  # a tester without the token may register (a loopback streamer)
    relay: object = None  # view3d_relay.Relay: testers' 3D views are reached through it (the stack)
    registry: object = None  # the Prometheus registry reading the hub


def streamer() -> Streamer:
    return current_app.extensions["policycast"]


def channel_or_404(tester_id: str) -> Channel:
    ch = streamer().hub.channel(tester_id)
    if ch is None:
        abort(404, description=f"unknown tester {tester_id!r}")
    return ch
