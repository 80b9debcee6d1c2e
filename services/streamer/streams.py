"""What viewers watch: MJPEG streams (a worker thread each, as long as they watch) and snapshots."""

from __future__ import annotations

from flask import Blueprint, Response, request

from .context import channel_or_404, streamer
from .control import ControlError
from .mjpeg import MIMETYPE, stream_channel, stream_first

bp = Blueprint("streams", __name__)


def _mjpeg(gen) -> Response:
    hub = streamer().hub
    if hub.full():
        gen.close()
        raise ControlError(503, f"too many viewers ({hub.max_viewers}); start the streamer with more --threads")
    return Response(
        gen,
        mimetype=MIMETYPE,
        direct_passthrough=True,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@bp.get("/stream")
def stream():
    return _mjpeg(stream_first(streamer().hub))


@bp.get("/stream/<tester_id>")
def stream_one(tester_id):
    return _mjpeg(stream_channel(streamer().hub, channel_or_404(tester_id)))


@bp.get("/snapshot/<tester_id>")
def snapshot(tester_id):
    ch = channel_or_404(tester_id)
    # a reader of this tester's frames for a few seconds: each dashboard page polls with its own id
    ch.snapshot_readers.seen(request.args.get("reader") or request.remote_addr or "-")
    jpeg = ch.jpeg if ch.online() and ch.jpeg is not None else ch.placeholder()
    return Response(jpeg, mimetype="image/jpeg", headers={"Cache-Control": "no-store"})
