"""What the tester's control API and the streamer share as JSON APIs on Flask: one error shape, one guard.

Every error is `{"error": "...", "field": "..."?}` with its HTTP status; with a token, every call that is
not a GET needs `Authorization: Bearer <token>`. Flask is one of the project's dependencies, installed in
the one base image every service's image is built on (docker/Dockerfile), so core may use it.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

from .auth import authorized

OPEN_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_ERROR = "missing or wrong bearer token (send 'Authorization: Bearer <token>')"


class ApiError(Exception):
    """Raised anywhere in a view: answered as `{"error", "field"?}` with `http_status`."""

    def __init__(self, http_status: int, error: str, field: str | None = None):
        super().__init__(error)
        self.http_status, self.error, self.field = http_status, error, field

    def body(self) -> dict:
        return {"error": self.error, **({"field": self.field} if self.field else {})}


def fail(status: int, error: str, field: str | None = None):
    """A JSON error answer: (response, status), as a Flask view returns it."""
    return jsonify(ApiError(status, error, field).body()), status


def json_api(app: Flask, token: str | None = None) -> Flask:
    """Answer every error of `app` as JSON and, given a `token`, refuse other calls than GETs without it."""
    if token:

        @app.before_request
        def need_token():
            if request.method in OPEN_METHODS or authorized(request.headers.get("Authorization"), token):
                return None
            resp, status = fail(401, TOKEN_ERROR, "Authorization")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp, status

    @app.errorhandler(ApiError)
    def api_error(e: ApiError):
        return jsonify(e.body()), e.http_status

    @app.errorhandler(404)
    def not_found(e):
        # abort(404, description=...) says what is missing; Werkzeug's own text otherwise
        return fail(404, e.description if isinstance(e.description, str) else "not found")

    @app.errorhandler(405)
    def not_allowed(e):
        return fail(405, f"{request.method} is not allowed on {request.path}")

    @app.errorhandler(413)
    def too_large(e):
        return fail(413, f"body larger than {app.config['MAX_CONTENT_LENGTH']} bytes", "body")

    return app
