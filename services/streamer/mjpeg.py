"""MJPEG viewer generators: multipart/x-mixed-replace parts built around the tester's own bytes."""

from __future__ import annotations

import time

from .hub import KEEPALIVE_S, Channel, Hub

BOUNDARY = "frame"
MIMETYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"
# A tester with no reader renders nothing (render on demand); a new viewer makes it start. Its newest
# frame is then old, so the viewer waits this long at most for a fresh one before being shown the old one.
WAKE_S = 3.0


def part(jpeg: bytes, seq: int) -> bytes:
    # X-Sequence lets a client (tests, bench) see which frames it got and which it skipped.
    head = (
        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\nX-Sequence: {seq}\r\n\r\n"
    ).encode()
    return head + jpeg + b"\r\n"


def read_parts(chunks):
    """The viewer's side of `part()`: (seq, jpeg) pairs out of a stream's byte chunks (tests, bench, scripts)."""
    buf, marker = b"", f"--{BOUNDARY}\r\n".encode()
    for data in chunks:
        buf += data
        while True:
            start = buf.find(marker)
            head_end = buf.find(b"\r\n\r\n", start)
            if start < 0 or head_end < 0:
                break
            headers = dict(line.split(": ", 1) for line in buf[start + len(marker) : head_end].decode().split("\r\n"))
            size, body = int(headers["Content-Length"]), head_end + 4
            if len(buf) < body + size:
                break
            yield int(headers["X-Sequence"]), buf[body : body + size]
            buf = buf[body + size :]


def stream_channel(hub: Hub, channel: Channel):
    """Frames of one tester until the viewer goes away (the server then closes us: GeneratorExit).

    The viewer is counted from its first frame to the close, inside the generator, so the count covers
    exactly the time the stream is open (the seed decremented before streaming started).
    """
    with channel.cond:
        channel.viewers += 1
    try:
        seq, fresh = _waking(channel)
        while not hub.stopping.is_set():
            seq, chunk = _next_part(hub, channel, seq, fresh)
            if chunk is not None:
                yield chunk
    finally:
        with channel.cond:
            channel.viewers -= 1


def stream_first(hub: Hub):
    """`/stream`, the seed's URL: the first tester that is online, kept while it stays online.

    Before any tester registers it shows a placeholder; when its tester goes offline and another one is
    online (a restarted tester registers under a new id) the same connection switches over.
    """
    channel, seq = None, 0
    hub.count_idle_viewer(+1)
    try:
        while not hub.stopping.is_set():
            if channel is None or not channel.online():
                pick = hub.first_online() or channel or hub.first()
                if pick is not channel:
                    _move_viewer(hub, channel, pick)
                    channel = pick
                    seq, fresh = _waking(channel) if channel else (0, None)
            if channel is None:
                yield part(hub.waiting_jpeg(), 0)
                hub.stopping.wait(KEEPALIVE_S)
                continue
            seq, chunk = _next_part(hub, channel, seq, fresh)
            if chunk is not None:
                yield chunk
    finally:
        _move_viewer(hub, channel, None)
        hub.count_idle_viewer(-1)


def _next_part(hub: Hub, channel: Channel, seq: int, fresh) -> tuple[int, bytes | None]:
    """Wait for the channel's next frame: (its sequence, its multipart part), or (seq, None) when there is
    nothing to send (stopping, or a frame a new viewer must not see)."""
    new, jpeg = channel.next_frame(seq, hub.stopping)
    if hub.stopping.is_set() or not fresh(new):
        return seq, None
    return new, part(jpeg if jpeg is not None else hub.waiting_jpeg(), new)


def _waking(channel: Channel):
    """(the sequence a new viewer starts after, fresh(seq) -> whether to send what next_frame gave).

    An idle tester's newest frame shows the past: the viewer starts after it and is sent nothing until a
    fresh one comes (the tester learns of the new reader and renders), or WAKE_S pass, or it goes offline.
    """
    with channel.cond:
        start = channel.seq if channel.idle() and channel.jpeg is not None else 0
    until = time.monotonic() + WAKE_S

    def fresh(seq: int) -> bool:
        return not start or seq != start or not channel.online() or time.monotonic() >= until

    return start, fresh


def _move_viewer(hub: Hub, old: Channel | None, new: Channel | None) -> None:
    """Keep per-tester viewer counts right when a `/stream` viewer changes tester."""
    for ch, delta in ((old, -1), (new, +1)):
        if ch is None:
            hub.count_idle_viewer(delta)
        else:
            with ch.cond:
                ch.viewers += delta
