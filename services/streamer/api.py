"""The dashboard's JSON: the testers (as the hub sees them), the streamer's counters, health, metrics."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from . import metrics
from .context import channel_or_404, streamer
from .control import ControlError

bp = Blueprint("api", __name__)


@bp.get("/stats")
def stats():
    return jsonify(streamer().hub.stats())


@bp.get("/healthz")
def healthz():
    chans = streamer().hub.channels()
    return jsonify({"ok": True, "testers": len(chans), "online": sum(c.online() for c in chans)})


@bp.get("/metrics")
def prometheus():
    return Response(metrics.render(streamer().registry), mimetype="text/plain; version=0.0.4; charset=utf-8")


def _shown(ch) -> dict:
    """A tester's summary, its 3D link on the relay at the host this browser reached us by."""
    out = ch.summary()
    relay = streamer().relay
    port = relay.port_of(ch.id) if relay else None
    if port is not None:
        out["view3d_url"] = relay.url(port, urlsplit("//" + request.host).hostname)
    return out


@bp.get("/api/testers")
def testers():
    return jsonify([_shown(c) for c in streamer().hub.channels()])


@bp.get("/api/testers/<tester_id>")
def tester(tester_id):
    return jsonify(_shown(channel_or_404(tester_id)))


@bp.delete("/api/testers/<tester_id>")
def forget(tester_id):
    """Remove an offline tester's tile (a restarted tester registers under a new id)."""
    ch = channel_or_404(tester_id)
    if ch.online():
        raise ControlError(409, f"tester {tester_id!r} is online; only offline testers can be removed")
    s = streamer()
    s.hub.forget(tester_id)
    if s.relay:
        s.relay.forget(tester_id)
    return jsonify({"ok": True, "id": tester_id})
