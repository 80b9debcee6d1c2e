"""The streamer's HTTP surface (Flask): a blueprint per job, reaching the hub through the app.

    pages    the dashboard's HTML            streams  MJPEG streams and snapshots
    api      testers, stats, health, metrics control  control calls proxied to testers
    ingest   what testers push               clips    clip lists and videos

Paths are a contract (docs/design.md). Every error is JSON `{"error", "field"?}`; every call
that is not a GET needs `Authorization: Bearer <token>` when the streamer binds all interfaces —
ingest included, so a stranger can neither steer testers nor inject frames.
"""

from __future__ import annotations

from flask import Flask

from services.core.jsonapi import json_api

from . import api, clips, ingest, metrics, pages, proxy, streams
from .context import Streamer
from .hub import Hub

MAX_FRAME_BYTES = 16 * 1024 * 1024


def create_app(hub: Hub, token: str | None = None, require_token: bool = False, relay=None) -> Flask:
    """`token` is forwarded to testers' control URLs; `require_token` makes every non-GET ask for it.

    `relay` (view3d_relay.Relay): testers' 3D views are reached through it (the compose stack).
    """
    if require_token and not token:
        raise ValueError("require_token needs a token")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FRAME_BYTES
    app.extensions["policycast"] = Streamer(hub, token, relay, metrics.make_registry(hub))
    json_api(app, token if require_token else None)
    for bp in (pages.bp, streams.bp, api.bp, proxy.bp, ingest.bp, clips.bp):
        app.register_blueprint(bp)
    return app
