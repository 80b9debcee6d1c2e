"""What the tester's control API and the streamer share as JSON APIs on Flask: one error shape, one guard.

Every error is `{"error": "...", "field": "..."?}` with its HTTP status — Werkzeug's own (404, 405, 413,
416, ...) and a view's crash (500) included. Before any view, the guard checks every request:
- its `Host` names this server (hosts.py: DNS rebinding);
- a call that changes state (not GET/HEAD/OPTIONS) comes from no other site (`Origin`, `Sec-Fetch-Site`:
  403), has the content type its view takes (`application/json` unless `@accepts` says otherwise; a
  cross-site page cannot send it without a CORS preflight, which these servers never answer: 415), a body
  within the view's limit (413) that is JSON nested at most MAX_DEPTH deep with numbers of a sane size
  (400), and `Authorization: Bearer <token>` (401) — unless the view checks its caller itself
  (`@accepts(auth="view")`: the streamer's ingest, where a tester may prove a secret of its own).
Flask is one of the project's dependencies, installed in the one base image every service's image is
built on (docker/Dockerfile), so core may use it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from . import http
from .auth import authorized
from .hosts import HostRule

OPEN_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_ERROR = "missing or wrong bearer token (send 'Authorization: Bearer <token>')"
CONTROL_BODY_MAX = 4096  # a control call's JSON body: {"seconds": N}, {"checkpoint": "<path>"}
MAX_DEPTH = 16  # JSON nesting; a status is 3 deep
MAX_INT_DIGITS = 18  # larger integers are no reload interval, epoch or count (and overflow floats)
SAME_SITE = (None, "same-origin", "none")  # Sec-Fetch-Site values of the dashboard itself, or of curl
log = logging.getLogger("jsonapi")


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


@dataclass(frozen=True)
class Body:
    """What a state-changing view takes: its body's type and size, and who checks the caller."""

    mimetype: str = "application/json"
    max_bytes: int = CONTROL_BODY_MAX
    auth: str = "token"  # "token": the guard wants the bearer token; "view": the view checks the caller


def accepts(mimetype: str = "application/json", max_bytes: int = CONTROL_BODY_MAX, auth: str = "token"):
    """Declare a view's body (apply under the route decorator); undeclared views take DEFAULT_BODY."""

    def mark(view):
        view.policycast_body = Body(mimetype, max_bytes, auth)
        return view

    return mark


DEFAULT_BODY = Body()


class _Refused(ValueError):
    pass


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"a number of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"{text[:20]}: a number too large")
    return value


def _constant(text: str):
    raise _Refused(f"{text} is not a number JSON allows")


def parse_json(raw: bytes):
    """The body as JSON: nested at most MAX_DEPTH, integers of at most MAX_INT_DIGITS, finite numbers;
    ApiError(400) naming what is wrong otherwise."""
    try:
        value = json.loads(raw, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise ApiError(400, f"JSON body nested deeper than {MAX_DEPTH} levels", "body") from None
    except _Refused as e:
        raise ApiError(400, f"JSON body: {e}", "body") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"body is not JSON: {e}", "body") from None
    level, depth = [value], 0
    while level:  # breadth first: no recursion of our own
        depth += 1
        if depth > MAX_DEPTH:
            raise ApiError(400, f"JSON body nested deeper than {MAX_DEPTH} levels", "body")
        level = [c for v in level for c in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else ())]
    return value


def json_body():
    """The request's JSON body as the guard parsed it (None when there was none)."""
    return g.get("json_body")


def bearer_of(req) -> str | None:
    """The credential in `Authorization: Bearer <x>`, or None."""
    scheme, _, value = (req.headers.get("Authorization") or "").partition(" ")
    return value.strip() or None if scheme == "Bearer" else None


@dataclass
class Guard:
    """The checks above. `hosts`: who we answer to; `token`: what every state-changing call proves (None:
    no token check — only for apps whose views all check their callers); `also`: another credential
    accepted beside the token, read at each call (a tester: the secret its streamer gave it)."""

    hosts: HostRule
    token: str | None
    also: Callable[[], str | None] | None = None

    def credential_ok(self, req) -> bool:
        value = req.headers.get("Authorization")
        if self.token and authorized(value, self.token):
            return True
        other = self.also() if self.also else None
        return bool(other) and authorized(value, other)

    def check(self, app: Flask):
        host = request.headers.get("Host")  # none: an HTTP/1.0 client, no browser (browsers always send it)
        if host is not None and not self.hosts.allows(host):
            raise ApiError(403, self.hosts.refusal(host), "Host")
        if request.method in OPEN_METHODS or request.routing_exception is not None:
            http.request_read()  # no body to wait for (or a 404/405 to answer): the read deadline ends here
            return
        site, origin = request.headers.get("Sec-Fetch-Site"), request.headers.get("Origin")
        # the origin's scheme is not compared: a TLS proxy in front makes it https while we see http
        if site not in SAME_SITE or (origin is not None and urlsplit(origin).netloc.lower() != request.host.lower()):
            raise ApiError(403, f"cross-site request refused (Origin {origin!r}, Sec-Fetch-Site {site!r})", "Origin")
        view = app.view_functions.get(request.endpoint)
        body = getattr(view, "policycast_body", DEFAULT_BODY)
        if request.content_length and request.content_length > body.max_bytes:
            raise ApiError(413, f"body larger than {body.max_bytes} bytes", "body")
        if body.auth == "token" and not self.credential_ok(request):
            raise ApiError(401, TOKEN_ERROR, "Authorization")
        if request.mimetype != body.mimetype:
            got = request.mimetype or "none"
            raise ApiError(415, f"Content-Type must be {body.mimetype} (got {got})", "Content-Type")
        request.max_content_length = body.max_bytes  # a chunked body is cut at the limit too
        raw = request.get_data()  # read now, within the server's read deadline
        if request.content_length is None and len(raw) >= body.max_bytes:  # chunked: cut at the limit
            raise ApiError(413, f"body larger than {body.max_bytes} bytes", "body")
        http.request_read()
        g.json_body = parse_json(raw) if raw and body.mimetype == "application/json" else None


def json_api(app: Flask, guard: Guard) -> Flask:
    """Answer every error of `app` as JSON and put `guard` before every view."""

    @app.before_request
    def check():
        guard.check(app)

    @app.errorhandler(ApiError)
    def api_error(e: ApiError):
        resp = jsonify(e.body())
        if e.http_status == 401:
            resp.headers["WWW-Authenticate"] = "Bearer"
        return resp, e.http_status

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        if e.response is not None:
            return e.response
        if e.code == 404:
            # abort(404, description=...) says what is missing; Werkzeug's own text otherwise
            text = e.description if isinstance(e.description, str) and e.description else "not found"
            text = text if "requested URL was not found" not in text else f"no {request.path} here"
        elif e.code == 405:
            text = f"{request.method} is not allowed on {request.path}"
        elif e.code == 413:
            text = f"body larger than {request.max_content_length} bytes"
        elif e.code == 416:
            text = f"range {request.headers.get('Range')!r} is not satisfiable"
        else:
            text = e.description if isinstance(e.description, str) else e.name
        resp = jsonify(ApiError(e.code or 500, text, "body" if e.code == 413 else None).body())
        for key, value in e.get_headers():  # Allow, Content-Range, ...: all but the HTML content type
            if key.lower() != "content-type":
                resp.headers[key] = value
        return resp, e.code or 500

    @app.errorhandler(Exception)
    def crashed(e: Exception):
        log.exception("%s %s failed", request.method, request.path[:200])
        return fail(500, f"{request.method} {request.path[:200]} failed: {type(e).__name__} (the server logged it)")

    return app
