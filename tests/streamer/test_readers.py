"""The streamer counts who reads a tester's frames and says so in its ingest answers (render on demand)."""

import threading

import requests

from tests.streamer.standin import Pusher, StandInTester, iter_parts, jpeg_of, wait_for


def readers_said(pusher) -> int:
    """What the streamer answers a status push: the tester's readers."""
    body = {**pusher.tester.status(), "rendering": True}
    return pusher.session.post(pusher.base + "/status", json=body, timeout=5).json()["readers"]


def test_viewers_and_snapshot_pages_are_counted_and_told_to_the_tester(streamer, monkeypatch):
    from services.streamer import readers

    monkeypatch.setattr(readers, "SNAPSHOT_READER_S", 1.0)
    server, hub, url = streamer
    pusher = Pusher(url, StandInTester("read"), fps=10).start()
    try:
        # nobody reads, once the tile has the tester's first frame (until then the tile asks for one)
        wait_for(lambda: readers_said(pusher) == 0, timeout=10, what="the first frame taken")
        r = pusher.session.post(pusher.base + "/frame", data=jpeg_of(1), headers={"Content-Type": "image/jpeg"})
        assert r.json() == {"ok": True, "readers": 0}
        with requests.get(f"{url}/stream/read", stream=True, timeout=10) as viewer:
            next(iter_parts(viewer))
            assert readers_said(pusher) == 1
            # two dashboard pages polling the snapshot tile, one of them twice: three readers in all
            for page in ("page-a", "page-b", "page-a"):
                assert requests.get(f"{url}/snapshot/read?reader={page}&t=1", timeout=5).status_code == 200
            assert readers_said(pusher) == 3
            assert requests.get(f"{url}/api/testers/read", timeout=5).json()["readers"] == 3
        # the stream closed and the pages stopped polling: nobody reads any more
        wait_for(lambda: readers_said(pusher) == 0, timeout=10, what="readers back to 0")
    finally:
        pusher.stop()


def test_a_new_viewer_of_an_idle_tester_waits_for_a_fresh_frame(streamer):
    """A tester that rendered nothing for a while (no reader) still has its old frame at the streamer:
    a new viewer is not shown that past, but the frame the tester makes once it knows it is watched."""
    server, hub, url = streamer
    tester = StandInTester("idle")
    pusher = Pusher(url, tester, frames=0)
    old, fresh = jpeg_of(1), jpeg_of(99)
    pusher.push_status()  # registers it (a frame for an unknown id is refused)
    pusher.push_frame(old)
    pusher.session.post(pusher.base + "/status", json={**tester.status(), "rendering": False}).raise_for_status()
    got = []

    def watch():
        with requests.get(f"{url}/stream/idle", stream=True, timeout=30) as resp:
            got.append(next(iter_parts(resp)))

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    wait_for(lambda: hub.channel("idle").viewers == 1, what="the viewer connected")
    assert readers_said(pusher) == 1  # what makes the real tester render again
    pusher.push_frame(fresh)
    viewer.join(10)
    assert got and got[0][1] == fresh


def test_a_new_or_restarted_tester_is_asked_for_one_frame_though_nobody_reads(streamer):
    """Its tile would otherwise keep showing nothing, or the previous process's last frame, until a viewer
    came: the streamer counts the tile as a reader until a frame from this process arrives."""
    server, hub, url = streamer
    tester = StandInTester("poster")
    pusher = Pusher(url, tester, control_url="http://127.0.0.1:1111", frames=0)
    assert pusher.push_status()["readers"] == 1  # registered: its tile has no frame yet
    pusher.push_frame(jpeg_of(1))
    assert readers_said(pusher) == 0  # it has one: nobody else reads
    pusher.control_url = "http://127.0.0.1:2222"  # the tester came back (another process, another port)
    assert pusher.push_status()["readers"] == 1
    pusher.push_frame(jpeg_of(2))
    assert readers_said(pusher) == 0
