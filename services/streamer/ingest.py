"""What testers push: their status (which also registers them and their control URL) and their frames.

Who may push as a tester id is identity.py's rule; a first registration without the token is answered
with the tester's secret. Both answer who reads the tester's frames (it renders only then); a status
answer also carries its 3D link when the streamer relays its viewer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, jsonify, request

from services.core.jsonapi import ApiError, accepts, bearer_of, json_body

from . import identity
from .context import streamer
from .control import RemoteControl

bp = Blueprint("ingest", __name__)
MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_STATUS_BYTES = 64 * 1024  # a status is ~2 KB; reward terms and training progress make it grow a little


def _admit(tester_id: str, register: bool):
    s = streamer()
    return identity.admit(s.hub, tester_id, bearer_of(request), s.token, s.anonymous_testers, register)


@bp.post("/ingest/<tester_id>/status")
@accepts("application/json", MAX_STATUS_BYTES, auth="view")
def ingest_status(tester_id):
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object (the tester's status)", "body")
    identity.check_link(body, "view3d_url")
    ch, secret = _admit(tester_id, register=True)
    try:
        url = identity.check_control_url(body.get("control_url"), ch.trusted)
    except ApiError:
        if secret:  # registered by this very call: leave no empty tile behind
            streamer().hub.forget(tester_id)
        raise
    control = None
    in_process = ch.control is not None and not isinstance(ch.control, RemoteControl)
    wanted = identity.credential(ch, streamer().token)
    known = (getattr(ch.control, "url", None), getattr(ch.control, "token", None))
    if url and not in_process and known != (url, wanted):
        control = RemoteControl(url, wanted)  # registered, came back on a new port, or proved the token
    ch.put_status(body, control)
    reply = {"ok": True, "id": tester_id, "readers": ch.frames_wanted()}
    if secret:
        reply["secret"] = secret  # what this tester's later pushes carry, and what its control API accepts
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
@accepts("image/jpeg", MAX_FRAME_BYTES, auth="view")
def ingest_frame(tester_id):
    ch, _ = _admit(tester_id, register=False)
    jpeg = request.get_data()
    if not jpeg.startswith(b"\xff\xd8"):
        raise ApiError(400, "body is not a JPEG image", "body")
    ch.put_frame(jpeg)
    return jsonify({"ok": True, "readers": ch.frames_wanted()})
