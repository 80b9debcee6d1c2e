"""A slow viewer (one frame a second) and a stalled one (never reads) beside normal viewers of a streamer
process: the normal viewers keep getting new frames, the slow one is served at its own pace, and the
server's memory stays bounded. (The frame rate with and without them is a figure: bench/slow_viewers.py.)"""

import threading
import time

import requests

from tests.faults.helpers import argv_streamer, free_port, rss_mb, wait_for
from tests.streamer.standin import Pusher, StandInTester, stalled_viewer, watch, watch_slowly

SECONDS, FPS = 8.0, 25


def test_slow_and_stalled_viewers_cost_the_others_nothing(services, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    streamer = services("streamer", argv_streamer(port), tmp_path)
    wait_for(lambda: _up(url), 30, what="the streamer")
    # incompressible 640x480 frames (~200 KB): far more than socket buffers hold for the stalled viewer
    pusher = Pusher(url, StandInTester("busy"), fps=FPS, size=(640, 480), noise=True).start()
    stop = threading.Event()
    normal, slow = [[], []], []
    threads = [threading.Thread(target=watch, args=(f"{url}/stream/busy", got, stop), daemon=True) for got in normal]
    threads.append(
        threading.Thread(target=watch_slowly, args=("127.0.0.1", port, "/stream/busy", slow, stop), daemon=True)
    )
    for t in threads:
        t.start()
    stalled = stalled_viewer("127.0.0.1", port, "/stream/busy")
    try:
        wait_for(lambda: all(normal) and slow, 20, what="every viewer streaming")
        time.sleep(1.0)  # warm: every viewer's generator and buffers exist
        start, baseline, peak = time.monotonic(), rss_mb(streamer.pid), 0.0
        sent_before = len(pusher.sent)
        while time.monotonic() - start < SECONDS:
            peak = max(peak, rss_mb(streamer.pid))
            time.sleep(0.25)
        passed_mb = sum(len(j) for j in pusher.sent[sent_before:]) / 1e6
        last_sent = len(pusher.sent)
        wait_for(lambda: all(got[-1][1] >= last_sent - 2 for got in normal), 10, what="normal viewers caught up")
    finally:
        stop.set()
        pusher.stop()
        stalled.close()
        for t in threads:
            t.join(10)
    print(
        f"streamer RSS {baseline:.1f} MB -> peak {peak:.1f} MB while {passed_mb:.0f} MB of frames went to "
        f"{len(normal) + 2} viewers; normal viewers got {[len(g) for g in normal]} frames, the slow one {len(slow)}"
    )

    assert streamer.alive()
    for got in normal:
        seqs = [s for _, s in got]
        assert seqs == sorted(seqs), "frames out of order"  # (a keepalive repeats the current one)
        firsts = {}
        for t, seq in got:
            firsts.setdefault(seq, t)
        during = sorted(t for t in firsts.values() if start <= t <= start + SECONDS)
        gaps = [b - a for a, b in zip([start] + during, during + [start + SECONDS])]
        assert max(gaps) < 2.0, f"a normal viewer went {max(gaps):.1f} s without a new frame"
    # the slow one is served at its own pace (what it skips once socket buffers are full: test_fanout.py)
    assert 3 <= len(slow) <= SECONDS + 4, len(slow)
    # one frame per tester, whatever the viewers do: memory does not follow the bytes that passed
    assert passed_mb > 15, passed_mb
    assert peak - baseline < 0.4 * passed_mb, f"RSS grew {peak - baseline:.1f} MB for {passed_mb:.0f} MB of frames"


def _up(url):
    try:
        return requests.get(f"{url}/healthz", timeout=2).ok
    except requests.ConnectionError:
        return False
