"""The streamer's HTTP surface (Flask): pages, MJPEG streams, JSON API, ingest, control proxy, metrics.

Paths are a contract (docs/design.md). Every error is JSON `{"error", "field"?}`; every call
that is not a GET needs `Authorization: Bearer <token>` when the streamer binds all interfaces —
ingest included, so a stranger can neither steer testers nor inject frames.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, abort, jsonify, render_template, request

from services.core.auth import authorized
from services.core.config import reload_interval as check_interval

from . import clips, metrics
from .control import ControlError, RemoteControl, invoke
from .hub import Hub
from .mjpeg import MIMETYPE, stream_channel, stream_first

MAX_FRAME_BYTES = 16 * 1024 * 1024
OPEN_METHODS = ("GET", "HEAD", "OPTIONS")


def create_app(hub: Hub, token: str | None = None, require_token: bool = False, relay=None) -> Flask:
    """`token` is forwarded to testers' control URLs; `require_token` makes every non-GET ask for it.

    `relay` (view3d_relay.Relay): testers' 3D views are reached through it (the compose stack).
    """
    if require_token and not token:
        raise ValueError("require_token needs a token")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_FRAME_BYTES
    registry = metrics.make_registry(hub)
    app.register_blueprint(clips.blueprint(hub))

    def fail(status: int, error: str, field: str | None = None):
        return jsonify({"error": error, **({"field": field} if field else {})}), status

    @app.before_request
    def check_token():
        if not require_token or request.method in OPEN_METHODS:
            return None
        if not authorized(request.headers.get("Authorization"), token):
            resp, status = fail(401, "missing or wrong bearer token (send 'Authorization: Bearer <token>')",
                                "Authorization")
            resp.headers["WWW-Authenticate"] = "Bearer"
            return resp, status
        return None

    @app.errorhandler(404)
    def not_found(e):
        return fail(404, e.description if isinstance(e.description, str) else "not found")

    @app.errorhandler(405)
    def not_allowed(e):
        return fail(405, f"{request.method} is not allowed on {request.path}")

    @app.errorhandler(413)
    def too_large(e):
        return fail(413, f"body larger than {MAX_FRAME_BYTES} bytes", "body")

    @app.errorhandler(ControlError)
    def control_failed(e: ControlError):
        return jsonify(e.body()), e.http_status

    def channel_or_404(tester_id: str):
        ch = hub.channel(tester_id)
        if ch is None:
            abort(404, description=f"unknown tester {tester_id!r}")
        return ch

    def json_object() -> dict:
        body = request.get_json(silent=True, force=True)
        return body if isinstance(body, dict) else {}

    def seconds_from_body() -> float:
        value = json_object().get("seconds")
        try:
            check_interval(value)
        except ValueError:
            raise ControlError(400, 'body must be JSON {"seconds": N} with N a number >= 0 '
                                    '(0 keeps the current checkpoint)', "seconds") from None
        return value

    def remember(ch, result):
        # Control calls answer the tester's new status: show it at once (e.g. the reload count).
        if isinstance(result, dict) and "reloads" in result:
            with ch.cond:
                ch.status = {**ch.status, **result}
        return jsonify(result)

    # --- pages ---------------------------------------------------------------------------------
    @app.get("/")
    def dashboard():
        return render_template("dashboard.html")

    @app.get("/tester/<tester_id>")
    def tester_page(tester_id):
        channel_or_404(tester_id)
        return render_template("tester.html", tester_id=tester_id)

    # --- streams -------------------------------------------------------------------------------
    def mjpeg(gen):
        if hub.full():
            gen.close()
            raise ControlError(503, f"too many viewers ({hub.max_viewers}); start the streamer with more --threads")
        return Response(gen, mimetype=MIMETYPE, direct_passthrough=True,
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/stream")
    def stream():
        return mjpeg(stream_first(hub))

    @app.get("/stream/<tester_id>")
    def stream_one(tester_id):
        return mjpeg(stream_channel(hub, channel_or_404(tester_id)))

    @app.get("/snapshot/<tester_id>")
    def snapshot(tester_id):
        ch = channel_or_404(tester_id)
        # a reader of this tester's frames for a few seconds: each dashboard page polls with its own id
        ch.snapshot_readers.seen(request.args.get("reader") or request.remote_addr or "-")
        jpeg = ch.jpeg if ch.online() and ch.jpeg is not None else ch.placeholder()
        return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})

    # --- read-only JSON ------------------------------------------------------------------------
    @app.get("/stats")
    def stats():
        return jsonify(hub.stats())

    @app.get("/healthz")
    def healthz():
        chans = hub.channels()
        return jsonify({"ok": True, "testers": len(chans), "online": sum(c.online() for c in chans)})

    @app.get("/metrics")
    def prometheus():
        return Response(metrics.render(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")

    def shown(ch) -> dict:
        """A tester's summary, its 3D link on the relay at the host this browser reached us by."""
        out = ch.summary()
        port = relay.port_of(ch.id) if relay else None
        if port is not None:
            out["view3d_url"] = relay.url(port, urlsplit("//" + request.host).hostname)
        return out

    @app.get("/api/testers")
    def testers():
        return jsonify([shown(c) for c in hub.channels()])

    @app.get("/api/testers/<tester_id>")
    def tester(tester_id):
        return jsonify(shown(channel_or_404(tester_id)))

    @app.delete("/api/testers/<tester_id>")
    def forget(tester_id):
        """Remove an offline tester's tile (a restarted tester registers under a new id)."""
        ch = channel_or_404(tester_id)
        if ch.online():
            raise ControlError(409, f"tester {tester_id!r} is online; only offline testers can be removed")
        hub.forget(tester_id)
        if relay:
            relay.forget(tester_id)
        return jsonify({"ok": True, "id": tester_id})

    @app.get("/api/testers/<tester_id>/checkpoints")
    def checkpoints(tester_id):
        return jsonify(invoke(channel_or_404(tester_id).control, "checkpoints"))

    @app.get("/api/testers/<tester_id>/eval")
    def eval_history(tester_id):
        return jsonify(invoke(channel_or_404(tester_id).control, "eval_history"))

    # --- control (proxied to the tester) ---------------------------------------------------------
    @app.post("/api/testers/<tester_id>/reload")
    def reload_now(tester_id):
        ch = channel_or_404(tester_id)
        return remember(ch, invoke(ch.control, "reload_now"))

    @app.put("/api/testers/<tester_id>/reload-interval")
    def reload_interval(tester_id):
        ch = channel_or_404(tester_id)
        return remember(ch, invoke(ch.control, "set_reload_interval", seconds_from_body(), field="seconds"))

    @app.put("/api/reload-interval")
    def reload_interval_all():
        """Every online tester; offline tiles (a tester gone, e.g. after scaling down) are named, not
        called: only an online tester refusing or failing makes this a 502."""
        seconds = seconds_from_body()
        results, failed, offline = [], False, []
        for ch in hub.channels():
            if not ch.online():
                offline.append(ch.id)
                continue
            try:
                results.append({"id": ch.id, "status": invoke(ch.control, "set_reload_interval", seconds,
                                                              field="seconds")})
                remember(ch, results[-1]["status"])
            except ControlError as e:
                failed = True
                results.append({"id": ch.id, **e.body()})
        return jsonify({"seconds": seconds, "testers": results, "offline": offline}), (502 if failed else 200)

    @app.post("/api/testers/<tester_id>/pin")
    def pin(tester_id):
        ch = channel_or_404(tester_id)
        checkpoint = json_object().get("checkpoint")
        if not isinstance(checkpoint, str) or not checkpoint.strip():
            raise ControlError(400, 'body must be JSON {"checkpoint": "<path>"} with a non-empty path',
                               "checkpoint")
        return remember(ch, invoke(ch.control, "pin", checkpoint, field="checkpoint"))

    @app.delete("/api/testers/<tester_id>/pin")
    def unpin(tester_id):
        ch = channel_or_404(tester_id)
        return remember(ch, invoke(ch.control, "unpin"))

    @app.post("/api/testers/<tester_id>/pause")
    def pause(tester_id):
        ch = channel_or_404(tester_id)
        return remember(ch, invoke(ch.control, "pause"))

    @app.post("/api/testers/<tester_id>/resume")
    def resume(tester_id):
        ch = channel_or_404(tester_id)
        return remember(ch, invoke(ch.control, "resume"))

    # --- ingest (testers push here) ----------------------------------------------------------------
    def ingest_channel(tester_id: str):
        try:
            return hub.channel(tester_id, create=True)  # registers a new tester; the hub checks the id
        except ValueError as e:
            raise ControlError(400, str(e), "id") from None

    @app.post("/ingest/<tester_id>/status")
    def ingest_status(tester_id):
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            raise ControlError(400, "body must be a JSON object (the tester's status)", "body")
        url = body.get("control_url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise ControlError(400, "control_url must be an http(s) URL", "control_url")
        ch = ingest_channel(tester_id)
        control = None
        in_process = ch.control is not None and not isinstance(ch.control, RemoteControl)
        if url and not in_process and getattr(ch.control, "url", None) != url.rstrip("/"):
            control = RemoteControl(url, token)  # registered, or the tester came back on a new port
        ch.put_status(body, control)
        # the answer tells the tester who reads its frames (it renders only then) and, relayed, its 3D link
        reply = {"ok": True, "id": tester_id, "readers": ch.readers()}
        view3d = relayed_view3d(tester_id, body)
        if view3d:
            reply["view3d_url"] = view3d
        return jsonify(reply)

    def relayed_view3d(tester_id: str, status: dict) -> str | None:
        """The relay's URL for the tester's viewer: at its control URL's host, on the port it reports."""
        port, url = status.get("view3d_port"), status.get("control_url")
        if relay is None or not isinstance(port, int) or not 0 < port < 65536 or not isinstance(url, str):
            return None
        host = urlsplit(url).hostname
        relay_port = relay.route(tester_id, host, port) if host else None
        return relay.url(relay_port) if relay_port else None

    @app.post("/ingest/<tester_id>/frame")
    def ingest_frame(tester_id):
        if request.mimetype != "image/jpeg":
            raise ControlError(400, f"Content-Type must be image/jpeg (got {request.mimetype or 'none'})",
                               "Content-Type")
        jpeg = request.get_data(cache=False)
        if not jpeg.startswith(b"\xff\xd8"):
            raise ControlError(400, "body is not a JPEG image", "body")
        ch = ingest_channel(tester_id)
        ch.put_frame(jpeg)
        return jsonify({"ok": True, "readers": ch.readers()})

    return app
