"""The tester's control API: JSON over HTTP (Flask app, cheroot's threaded WSGI server).

A route per operation of the control contract (services/core/control_contract.py), each calling the
tester's method of the same name. Every call answers the new status (or the list); bad bodies are 400
`{"error", "field"}`. The streamer's guard applies (services/core/jsonapi.py): the Host must name this
server, and every call that is not a GET must be same-site JSON with `Authorization: Bearer <token>` —
the tester's token, or the secret its streamer gave it when it registered without one.

The server listens from construction (its URL goes into the tester's status) and answers for the tester
it is given by `serve(tester)`; a call before that is a 503.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify

from services.core.control_contract import OPERATIONS, Operation
from services.core.hosts import HostRule
from services.core.http import WsgiServer
from services.core.jsonapi import ApiError, Guard, fail, json_api, json_body

from . import clip_routes

log = logging.getLogger("tester.control")
# Said before the tester is asked: a missing or empty path is not worth a trip to the reloader.
PIN_EXPECTS = "checkpoint: expects a path to a .pth file inside the runs root"
EXTENSION = "policycast.tester"  # app.extensions[EXTENSION]: the object whose methods answer


def create_app(tester, token: str, bind: str = "127.0.0.1", also=None) -> Flask:
    """`tester`: the object answering the operations (None until `serve`); `also`: a callable giving another
    credential accepted beside `token` (the streamer's secret)."""
    app = json_api(Flask("policycast-tester"), Guard(HostRule(bind), token, also))
    app.extensions[EXTENSION] = tester
    app.register_blueprint(clip_routes.blueprint(served))  # the "file" answers: videos, not JSON
    app.add_url_rule("/healthz", "healthz", lambda: jsonify(ok=True))
    for op in OPERATIONS.values():
        if op.answers != "file":
            app.add_url_rule(op.path, op.name, _view(op), methods=[op.method])
    return app


def served():
    """The tester this app answers for; a 503 while it starts."""
    tester = current_app.extensions[EXTENSION]
    if tester is None:
        raise ApiError(503, "the tester is starting; try again in a moment")
    return tester


def _view(op: Operation):
    """The route of `op`: the body's one value (if any) to the tester's method; its ValueError is a 400."""
    if op.body is None:
        return lambda: jsonify(getattr(served(), op.name)())

    def view():
        data = json_body()
        value = data.get(op.body) if isinstance(data, dict) else None
        if op.body == "checkpoint" and (not isinstance(value, str) or not value):
            return fail(400, PIN_EXPECTS, op.body)
        try:
            return jsonify(getattr(served(), op.name)(value))
        except ValueError as e:
            return fail(400, str(e), op.body)

    return view


class ControlServer(WsgiServer):
    """The control app on cheroot, serving from a thread; `url` and `port` once started, `stop()` to end."""

    def __init__(self, tester, bind: str, port: int, token: str, also=None):
        self.app = create_app(tester, token, bind, also)
        super().__init__(self.app, bind, port, threads=8, name="control")
        self.token = token
        log.info("control API on http://%s:%d", bind, self.port)

    def serve(self, tester) -> None:
        """Answer for `tester` from now on (it was built with this server's URL)."""
        self.app.extensions[EXTENSION] = tester
