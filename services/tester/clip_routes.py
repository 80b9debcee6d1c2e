"""The tester's clip videos, beside its control API: `GET /clips/<name>` (the list, `GET /clips`, is one
of the control operations in control.py).

Videos are served by Werkzeug's `send_file(conditional=True)`: HTTP range requests (a browser seeking a
`<video>`), ETag and Last-Modified, so the streamer can pass a browser's requests through unchanged.
"""

from __future__ import annotations

from flask import Blueprint, send_file

from services.core.control_contract import OPERATIONS
from services.core.jsonapi import fail

MIMETYPES = {".mp4": "video/mp4", ".webm": "video/webm"}


def blueprint(tester) -> Blueprint:
    bp = Blueprint("clips", __name__)
    op = OPERATIONS["clip_file"]

    @bp.route(op.path, methods=[op.method])
    def clip(name):
        path = tester.clip_file(name)
        try:
            if path is not None:
                return send_file(path, mimetype=MIMETYPES[path.suffix], conditional=True, max_age=0)
        except FileNotFoundError:  # thinned away since it was listed
            pass
        return fail(404, f"no clip {name!r} (GET /clips lists them)", "name")

    return bp
