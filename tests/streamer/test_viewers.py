"""Viewer bookkeeping and tester lifecycle: disconnects, `/stream` before any tester, offline and back."""

import threading

import cv2
import numpy as np
import requests

from tests.streamer.standin import Pusher, StandInTester, iter_parts, wait_for


def test_clients_connected_follows_disconnects(streamer):
    server, hub, url = streamer
    pusher = Pusher(url, StandInTester("count"), fps=20).start()
    try:
        viewers = [requests.get(f"{url}/stream/count", stream=True, timeout=10) for _ in range(5)]
        streams = [iter_parts(v) for v in viewers]
        for s in streams:
            next(s)  # each one is streaming
        assert hub.stats()["clients_connected"] == 5
        for v in viewers[:3]:
            v.close()
        wait_for(lambda: hub.stats()["clients_connected"] == 2, what="3 disconnects noticed")
        assert next(streams[3])[0] > 0  # the others still stream
        for v in viewers[3:]:
            v.close()
        wait_for(lambda: hub.stats()["clients_connected"] == 0, what="all disconnects noticed")
        assert requests.get(f"{url}/api/testers/count").json()["viewers"] == 0
    finally:
        pusher.stop()


def test_stream_serves_a_placeholder_until_the_first_tester_arrives(streamer):
    server, hub, url = streamer
    with requests.get(f"{url}/stream", stream=True, timeout=10) as resp:
        parts = iter_parts(resp)
        seq, jpeg = next(parts)
        assert (seq, jpeg) == (0, hub.waiting_jpeg())
        assert hub.stats()["clients_connected"] == 1
        pusher = Pusher(url, StandInTester("first"), fps=20).start()
        try:
            seq, jpeg = next((s, j) for s, j in parts if s > 0)  # the same connection switches to it
            assert jpeg == pusher.sent[seq - 1]
        finally:
            pusher.stop()
    wait_for(lambda: hub.stats()["clients_connected"] == 0, what="viewer gone")


def _mean_brightness(jpeg: bytes) -> float:
    return float(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).mean())


def test_tester_going_away_shows_offline_placeholder_and_resumes(streamer):
    server, hub, url = streamer
    tester = StandInTester("flaky")
    pusher = Pusher(url, tester, fps=20).start()
    got, stop = [], threading.Event()

    def watch():
        with requests.get(f"{url}/stream/flaky", stream=True, timeout=30) as resp:
            for part in iter_parts(resp):
                got.append(part)
                if stop.is_set():
                    return

    viewer = threading.Thread(target=watch, daemon=True)
    viewer.start()
    wait_for(lambda: len(got) > 3, what="live frames")
    pusher.stop()  # the tester dies: no status, no frames
    placeholder = wait_for(
        lambda: next((j for s, j in got if j not in pusher.sent), None), timeout=15, what="placeholder frame"
    )
    tile = requests.get(f"{url}/api/testers").json()[0]
    assert (tile["status"], tile["online"]) == ("offline", False)
    assert placeholder == hub.channel("flaky").placeholder()
    assert cv2.imdecode(np.frombuffer(placeholder, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
    assert abs(_mean_brightness(placeholder) - _mean_brightness(pusher.sent[-1])) > 10  # visibly different
    snap = requests.get(f"{url}/snapshot/flaky")
    assert snap.content == placeholder

    n_before = len(pusher.sent)
    pusher.start()  # it comes back: the same open stream resumes with its new frames
    try:
        wait_for(lambda: any(s > n_before for s, _ in got), what="frames after the return")
    finally:
        stop.set()
        viewer.join(10)
        pusher.stop()
    resumed = [(s, j) for s, j in got if s > n_before]
    assert all(j == pusher.sent[s - 1] for s, j in resumed)
    tile = requests.get(f"{url}/api/testers").json()[0]
    assert (tile["status"], tile["online"]) == ("running", True)
    assert len(requests.get(f"{url}/api/testers").json()) == 1  # the same tile, not a second one


def test_viewers_beyond_the_thread_budget_get_503_and_the_api_stays_up():
    from services.streamer import start_in_process

    server, hub = start_in_process(0, bind_all=False, token=None, threads=10, announce=False)  # 2 viewers
    try:
        url = server.url
        pusher = Pusher(url, StandInTester("busy"), fps=20).start()
        viewers = [requests.get(f"{url}/stream/busy", stream=True, timeout=10) for _ in range(2)]
        streams = [iter_parts(v) for v in viewers]  # kept: a dropped generator closes its connection
        for s in streams:
            next(s)
        third = requests.get(f"{url}/stream/busy", stream=True, timeout=10)
        assert third.status_code == 503 and "threads" in third.json()["error"]
        assert requests.get(f"{url}/api/testers", timeout=10).status_code == 200
        viewers[0].close()
        wait_for(lambda: hub.stats()["clients_connected"] == 1, what="a slot freed")
        with requests.get(f"{url}/stream/busy", stream=True, timeout=10) as again:
            assert again.status_code == 200
        assert next(streams[1])[0] > 0  # the remaining viewer streams on
        viewers[1].close()
        pusher.stop()
    finally:
        server.stop()


def test_stream_moves_to_an_online_tester_when_its_tester_goes_offline(streamer):
    server, hub, url = streamer
    old = Pusher(url, StandInTester("old-1"), fps=20).start()
    new = None
    try:
        with requests.get(f"{url}/stream", stream=True, timeout=30) as resp:
            parts = iter_parts(resp)
            seq, jpeg = next((s, j) for s, j in parts if s > 0)
            assert jpeg == old.sent[seq - 1]
            assert requests.get(f"{url}/api/testers/old-1").json()["viewers"] == 1
            new = Pusher(url, StandInTester("new-2"), fps=20, size=(160, 120)).start()  # a restarted tester
            old.stop()
            moved = next(j for s, j in parts if j in new.sent)  # same connection, the new tester's frames
            assert moved
            assert requests.get(f"{url}/api/testers/new-2").json()["viewers"] == 1
            assert requests.get(f"{url}/api/testers/old-1").json()["viewers"] == 0
        wait_for(lambda: hub.stats()["clients_connected"] == 0, what="viewer gone")
    finally:
        old.stop()
        if new:
            new.stop()
