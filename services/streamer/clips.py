"""Clips on the dashboard: `GET /api/testers/<id>/clips` (the list, each with its `url`) and
`GET /api/testers/<id>/clips/<name>` (the video, with HTTP range requests so a browser can seek).

An in-process tester (config=test_stream) hands over the file's path and Werkzeug serves it. A tester
reached over HTTP (the stack: its clips live in its own volume) is streamed through: the browser's Range
and validators go to the tester's `GET /clips/<name>`, and its status (206 or 200), Content-Range and
body come back as they arrive, without a timeout on the whole transfer.
"""

from __future__ import annotations

from urllib.parse import quote

import requests
from flask import Blueprint, Response, abort, jsonify, request, send_file

from .context import channel_or_404
from .control import ControlError, RemoteControl, invoke

PASSED_UP = ("Range", "If-Range", "If-None-Match", "If-Modified-Since")
PASSED_DOWN = (
    "Content-Type",
    "Content-Length",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Last-Modified",
    "Cache-Control",
)
MIMETYPES = {".mp4": "video/mp4", ".webm": "video/webm"}
CHUNK = 64 * 1024

bp = Blueprint("clips", __name__)


def _control_of(tester_id: str):
    ch = channel_or_404(tester_id)
    if ch.control is None:
        raise ControlError(503, "this tester registered no control URL")
    return ch.control


@bp.get("/api/testers/<tester_id>/clips")
def clips(tester_id):
    listed = invoke(_control_of(tester_id), "clips")
    base = f"/api/testers/{quote(tester_id)}/clips/"
    return jsonify(
        [{**c, "url": base + quote(str(c["name"]))} for c in listed if isinstance(c, dict) and c.get("name")]
    )


@bp.get("/api/testers/<tester_id>/clips/<name>")
def clip(tester_id, name):
    control = _control_of(tester_id)
    if isinstance(control, RemoteControl):
        return _through(control, name)
    path = invoke(control, "clip_file", name)
    try:
        if path is not None:
            return send_file(path, mimetype=MIMETYPES.get(path.suffix), conditional=True, max_age=0)
    except FileNotFoundError:  # thinned away since it was listed
        pass
    abort(404, description=f"no clip {name!r} on tester {tester_id!r}")


def _through(control: RemoteControl, name: str) -> Response:
    """The tester's answer to this request, streamed back (range requests included)."""
    headers = {k: request.headers[k] for k in PASSED_UP if k in request.headers}
    try:
        # (connect, between two reads): a 5 s limit on the whole answer would cut long videos
        r = requests.get(f"{control.url}/clips/{quote(name)}", headers=headers, stream=True, timeout=(2.0, 10.0))
    except requests.RequestException as e:
        raise ControlError(502, f"tester unreachable at {control.url}: {type(e).__name__}") from None
    if r.status_code >= 400 and r.status_code != 416:
        r.close()
        if r.status_code == 404:
            abort(404, description=f"no clip {name!r} on this tester")
        raise ControlError(502, f"tester at {control.url} answered {r.status_code} for clip {name!r}")

    def body():
        try:
            yield from r.iter_content(CHUNK)
        finally:
            r.close()

    down = {k: r.headers[k] for k in PASSED_DOWN if k in r.headers}
    return Response(body(), status=r.status_code, headers=down, direct_passthrough=True)
