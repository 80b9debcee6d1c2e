"""The streamer's HTTP surface (Flask): a blueprint per job, reaching the hub through the app.

    pages    the dashboard's HTML            streams  MJPEG streams and snapshots
    api      testers, stats, health, metrics control  control calls proxied to testers
    ingest   what testers push               clips    clip lists and videos

Paths are a contract (docs/design.md). Every error is JSON `{"error", "field"?}`. Every request must
name this server in its Host, and every call that is not a GET must come from the dashboard's own
origin as JSON with `Authorization: Bearer <token>` (services/core/jsonapi.py) — but ingest, where a
tester proves the token or its own secret (identity.py).
"""

from __future__ import annotations

from flask import Flask

from services.core.hosts import HostRule, is_loopback
from services.core.jsonapi import Guard, json_api

from . import api, clips, ingest, metrics, pages, proxy, streams
from .context import Streamer
from .hub import Hub

MAX_FRAME_BYTES = ingest.MAX_FRAME_BYTES


def create_app(hub: Hub, token: str, bind: str = "127.0.0.1", relay=None) -> Flask:
    """`token`: what every state-changing call needs; `bind`: the address served (Host check; a streamer on
    every interface registers no tester without the token).

    `relay` (view3d_relay.Relay): testers' 3D views are reached through it (the compose stack).
    """
    if not token:
        raise ValueError("the streamer needs a token")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FRAME_BYTES
    streamer = Streamer(hub, token, is_loopback(bind), relay, metrics.make_registry(hub))
    app.extensions["policycast"] = streamer
    json_api(app, Guard(HostRule(bind), token))
    for bp in (pages.bp, streams.bp, api.bp, proxy.bp, ingest.bp, clips.bp):
        app.register_blueprint(bp)
    return app
