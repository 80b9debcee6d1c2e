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


def blueprint(tester_of) -> Blueprint:
    """`tester_of()`: the tester whose clips are served (control.served)."""
    bp = Blueprint("clips", __name__)
    op = OPERATIONS["clip_file"]

    @bp.route(op.path, methods=[op.method])
    def clip(name):
        try:
            path = tester_of().clip_file(name)
            if path is not None:
                return send_file(path, mimetype=MIMETYPES[path.suffix], conditional=True, max_age=0)
        except OSError:  # thinned away since it was listed; a name too long for the filesystem
            pass
        shown = name if len(name) <= 80 else name[:77] + "..."
        return fail(404, f"no clip {shown!r} (GET /clips lists them)", "name")

    return bp
