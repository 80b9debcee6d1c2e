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
    """`/stream`, the seed's URL: the first tester, waiting (with a placeholder) until one registers."""
    channel = hub.first()
    if channel is None:
        hub.count_idle_viewer(+1)
        try:
            while channel is None and not hub.stopping.is_set():
                yield part(hub.waiting_jpeg(), 0)
                hub.stopping.wait(KEEPALIVE_S)
                channel = hub.first()
        finally:
            hub.count_idle_viewer(-1)
    if channel is not None:
        yield from stream_channel(hub, channel)
