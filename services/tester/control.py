"""The tester's control API: JSON over HTTP (Flask app, cheroot's threaded WSGI server).

Routes mirror the in-process methods of the tester object (docs/design.md). Every call answers the
new status (or the list); bad bodies are 400 `{"error", "field"}`; with a token, every call that is
not a GET needs `Authorization: Bearer <token>`.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request

from services.core.auth import authorized
from services.core.http import WsgiServer

from . import clip_routes

log = logging.getLogger("tester.control")


def create_app(tester, token: str | None = None) -> Flask:
    app = Flask("policycast-tester")
    app.register_blueprint(clip_routes.blueprint(tester))

    @app.before_request
    def need_token():
        if token and request.method not in ("GET", "HEAD", "OPTIONS"):
            if not authorized(request.headers.get("Authorization"), token):
                return jsonify(error="missing or wrong bearer token", field="Authorization"), 401

    def bad(message, field):
        return jsonify(error=message, field=field), 400

    def body():
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else None

    @app.get("/healthz")
    def healthz():
        return jsonify(ok=True)

    @app.get("/status")
    def status():
        return jsonify(tester.status())

    @app.post("/reload")
    def reload_now():
        return jsonify(tester.reload_now())

    @app.put("/reload-interval")
    def reload_interval():
        data = body()
        try:
            return jsonify(tester.set_reload_interval(data.get("seconds") if data else None))
        except ValueError as e:
            return bad(str(e), "seconds")

    @app.post("/pin")
    def pin():
        data = body()
        checkpoint = data.get("checkpoint") if data else None
        if not isinstance(checkpoint, str) or not checkpoint:
            return bad("checkpoint: expects a path to a .pth file inside the runs root", "checkpoint")
        try:
            return jsonify(tester.pin(checkpoint))
        except ValueError as e:
            return bad(str(e), "checkpoint")

    @app.delete("/pin")
    def unpin():
        return jsonify(tester.unpin())

    @app.post("/pause")
    def pause():
        return jsonify(tester.pause())

    @app.post("/resume")
    def resume():
        return jsonify(tester.resume())

    @app.get("/checkpoints")
    def checkpoints():
        return jsonify(tester.checkpoints())

    @app.get("/eval")
    def eval_history():
        return jsonify(tester.eval_history())

    return app


class ControlServer(WsgiServer):
    """The control app on cheroot, serving from a thread; `url` and `port` once started, `stop()` to end."""

    def __init__(self, tester, bind: str = "127.0.0.1", port: int = 0, token: str | None = None):
        super().__init__(create_app(tester, token), bind, port, threads=4, name="control")
        log.info("control API on http://%s:%d", bind, self.port)
