"""What testers push: their status (which also registers them and their control URL) and their frames.

Both answer who reads the tester's frames (it renders only then); a status answer also carries its 3D
link when the streamer relays its viewer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request

from .context import streamer
from .control import ControlError, RemoteControl

bp = Blueprint("ingest", __name__)


def _channel(tester_id: str):
    try:
        return streamer().hub.channel(tester_id, create=True)  # registers a new tester; the hub checks the id
    except ValueError as e:
        raise ControlError(400, str(e), "id") from None


@bp.post("/ingest/<tester_id>/status")
def ingest_status(tester_id):
    body = request.get_json(silent=True, force=True)
    if not isinstance(body, dict):
        raise ControlError(400, "body must be a JSON object (the tester's status)", "body")
    url = body.get("control_url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
        raise ControlError(400, "control_url must be an http(s) URL", "control_url")
    ch = _channel(tester_id)
    control = None
    in_process = ch.control is not None and not isinstance(ch.control, RemoteControl)
    if url and not in_process and getattr(ch.control, "url", None) != url.rstrip("/"):
        control = RemoteControl(url, streamer().token)  # registered, or the tester came back on a new port
    ch.put_status(body, control)
    reply = {"ok": True, "id": tester_id, "readers": ch.readers()}
    view3d = _relayed_view3d(tester_id, body)
    if view3d:
        reply["view3d_url"] = view3d
    return jsonify(reply)


def _relayed_view3d(tester_id: str, status: dict) -> str | None:
    """The relay's URL for the tester's viewer: at its control URL's host, on the port it reports."""
    relay = streamer().relay
    port, url = status.get("view3d_port"), status.get("control_url")
    if relay is None or not isinstance(port, int) or not 0 < port < 65536 or not isinstance(url, str):
        return None
    host = urlsplit(url).hostname
    relay_port = relay.route(tester_id, host, port) if host else None
    return relay.url(relay_port) if relay_port else None


@bp.post("/ingest/<tester_id>/frame")
def ingest_frame(tester_id):
    if request.mimetype != "image/jpeg":
        raise ControlError(400, f"Content-Type must be image/jpeg (got {request.mimetype or 'none'})", "Content-Type")
    jpeg = request.get_data(cache=False)
    if not jpeg.startswith(b"\xff\xd8"):
        raise ControlError(400, "body is not a JPEG image", "body")
    ch = _channel(tester_id)
    ch.put_frame(jpeg)
    return jsonify({"ok": True, "readers": ch.readers()})
