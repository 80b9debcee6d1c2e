"""The tester's clip routes, beside its control API: `GET /clips` (the list) and `GET /clips/<name>`.

Videos are served by Werkzeug's `send_file(conditional=True)`: HTTP range requests (a browser seeking a
`<video>`), ETag and Last-Modified, so the streamer can pass a browser's requests through unchanged.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, send_file

MIMETYPES = {".mp4": "video/mp4", ".webm": "video/webm"}


def blueprint(tester) -> Blueprint:
    bp = Blueprint("clips", __name__)

    @bp.get("/clips")
    def clips():
        return jsonify(tester.clips())

    @bp.get("/clips/<name>")
    def clip(name):
        path = tester.clip_file(name)
        try:
            if path is not None:
                return send_file(path, mimetype=MIMETYPES[path.suffix], conditional=True, max_age=0)
        except FileNotFoundError:  # thinned away since it was listed
            pass
        return jsonify(error=f"no clip {name!r} (GET /clips lists them)", field="name"), 404

    return bp
