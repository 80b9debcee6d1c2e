"""Fan-out: many viewers get the tester's own bytes; a slow viewer skips frames and slows nobody."""

import threading

import requests

from services.streamer.mjpeg import read_parts
from tests.streamer.standin import Pusher, StandInTester, iter_parts, jpeg_of, slow_chunks, wait_for

FRAMES = 120


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _viewer(parts, last_seq, out, errors):
    """Collect (seq, jpeg) until `last_seq` arrives."""
    try:
        for seq, jpeg in parts:
            out.append((seq, jpeg))
            if seq >= last_seq:
                return
    except Exception as e:  # reported by the test, not lost in a thread
        errors.append(e)


def _fast_parts(url):
    with requests.get(url, stream=True, timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        yield from iter_parts(resp)


def test_twenty_viewers_and_a_slow_one(streamer):
    server, hub, url = streamer
    tester = StandInTester("fan")
    pusher = Pusher(url, tester, fps=30, frames=FRAMES, noise=True)  # ~60 KB: more than socket buffers hold
    pusher.push_status()  # registers the tester, so /stream/fan exists before the first frame
    errors, fast, slow = [], [[] for _ in range(20)], []
    published = threading.Event()
    threads = [
        threading.Thread(target=_viewer, args=(_fast_parts(f"{url}/stream/fan"), FRAMES, out, errors)) for out in fast
    ]
    slow_parts = read_parts(slow_chunks(url, "/stream/fan", published))
    threads.append(threading.Thread(target=_viewer, args=(slow_parts, FRAMES, slow, errors)))
    for t in threads:
        t.start()
    wait_for(lambda: hub.stats()["clients_connected"] == 21, what="21 viewers connected")

    pusher.start().join()
    published.set()  # the slow viewer now drains its socket and must land on the newest frame
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    sent = pusher.sent
    assert len(sent) == FRAMES
    for got in fast + [slow]:
        seqs = [s for s, _ in got]
        assert seqs == sorted(set(seqs)), "frames out of order or repeated"
        assert seqs[-1] == FRAMES, "a viewer never got the newest frame"
        # the very bytes the tester encoded, not a re-encode
        assert all(jpeg == sent[s - 1] for s, jpeg in got)
    slow_seqs = [s for s, _ in slow]
    fewest_fast = min(len(got) for got in fast)
    assert len(slow) < FRAMES and max(b - a for a, b in zip(slow_seqs, slow_seqs[1:])) > 1, (
        "the slow viewer should have skipped frames"
    )
    # kernel socket buffers hold a few MB for the slow one; past that it skips while the others go on
    assert fewest_fast > len(slow), (
        f"fast viewers got {fewest_fast} frames vs the slow one's {len(slow)}: the slow one held them back"
    )
    stats = hub.stats()
    assert stats["frames_received"] == FRAMES
    assert stats["frames_dropped"] >= FRAMES - len(slow)  # at least the slow viewer's skips
    assert stats["frames_served"] >= sum(len(got) for got in fast)


def test_a_stalled_viewer_does_not_grow_memory(streamer):
    """~100 MB of incompressible frames pass while one viewer reads nothing: the streamer keeps one frame."""
    server, hub, url = streamer
    tester = StandInTester("big")
    pusher = Pusher(url, tester, fps=1000, frames=1, size=(640, 480))
    pusher.push_status()
    frames = [jpeg_of(i, 640, 480, quality=95, noise=True) for i in range(6)]
    stalled = requests.get(f"{url}/stream/big", stream=True, timeout=30)
    pusher.push_frame(frames[0])
    stalled_parts = iter_parts(stalled, chunk_size=1024)
    next(stalled_parts)  # it has started, then reads nothing more
    rss0 = _rss_bytes()
    total = 0
    n = 0
    while total < 100e6:
        jpeg = frames[n % len(frames)]
        pusher.push_frame(jpeg)
        total += len(jpeg)
        n += 1
    growth = _rss_bytes() - rss0
    # the one live viewer that connects now still gets the newest frame at once
    with requests.get(f"{url}/stream/big", stream=True, timeout=30) as live:
        seq, jpeg = next(iter_parts(live))
    stalled.close()
    print(f"RSS growth {growth / 1e6:.1f} MB for {total / 1e6:.0f} MB of frames")
    assert (seq, jpeg) == (n + 1, frames[(n - 1) % len(frames)])
    assert hub.channel("big").frames_in == n + 1
    assert growth < 0.3 * total, f"memory grew {growth / 1e6:.1f} MB while {total / 1e6:.0f} MB of frames passed"
