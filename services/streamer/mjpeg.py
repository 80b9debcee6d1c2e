"""MJPEG viewer generators: multipart/x-mixed-replace parts built around the tester's own bytes."""
from __future__ import annotations

from .hub import KEEPALIVE_S, Channel, Hub

BOUNDARY = "frame"
MIMETYPE = f"multipart/x-mixed-replace; boundary={BOUNDARY}"


def part(jpeg: bytes, seq: int) -> bytes:
    # X-Sequence lets a client (tests, bench) see which frames it got and which it skipped.
    head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n"
            f"X-Sequence: {seq}\r\n\r\n").encode()
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
            headers = dict(line.split(": ", 1) for line in buf[start + len(marker):head_end].decode().split("\r\n"))
            size, body = int(headers["Content-Length"]), head_end + 4
            if len(buf) < body + size:
                break
            yield int(headers["X-Sequence"]), buf[body:body + size]
            buf = buf[body + size:]


def stream_channel(hub: Hub, channel: Channel):
    """Frames of one tester until the viewer goes away (the server then closes us: GeneratorExit).

    The viewer is counted from its first frame to the close, inside the generator, so the count covers
    exactly the time the stream is open (the seed decremented before streaming started).
    """
    with channel.cond:
        channel.viewers += 1
    try:
        seq = 0
        while not hub.stopping.is_set():
            seq, jpeg = channel.next_frame(seq, hub.stopping)
            if hub.stopping.is_set():
                return
            yield part(jpeg if jpeg is not None else hub.waiting_jpeg(), seq)
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
                    channel, seq = pick, 0
            if channel is None:
                yield part(hub.waiting_jpeg(), 0)
                hub.stopping.wait(KEEPALIVE_S)
                continue
            seq, jpeg = channel.next_frame(seq, hub.stopping)
            if hub.stopping.is_set():
                return
            yield part(jpeg if jpeg is not None else hub.waiting_jpeg(), seq)
    finally:
        _move_viewer(hub, channel, None)
        hub.count_idle_viewer(-1)


def _move_viewer(hub: Hub, old: Channel | None, new: Channel | None) -> None:
    """Keep per-tester viewer counts right when a `/stream` viewer changes tester."""
    for ch, delta in ((old, -1), (new, +1)):
        if ch is None:
            hub.count_idle_viewer(delta)
        else:
            with ch.cond:
                ch.viewers += delta
