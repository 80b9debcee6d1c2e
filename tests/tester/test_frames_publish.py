"""Frames (overlay, reload flash, waiting frame, rate limit) and getting them to a real streamer."""

import threading

import cv2
import numpy as np
import pytest
import requests

from services.sim import make_env
from services.tester import build
from services.tester.frames import FrameMaker, RateLimiter, frame_comment
from services.tester.publish import HttpPublisher
from tests.api import control_session
from tests.tester.helpers import config_for, land, play_then_close_env, wait_for


def decode(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def test_overlay_flash_and_waiting_frame_on_a_real_render():
    cfg = config_for("runs")
    env = make_env(cfg.task, num_envs=1)
    try:
        env.reset()
        rgb = env.render(width=320, height=240)
    finally:
        env.close()
    frames = FrameMaker("Reach", 320, 240, jpeg_quality=90)
    plain = decode(frames.encode(rgb.copy())).astype(int)
    shown = decode(frames.frame(rgb.copy(), "Reach_train_x", 42, 12.5)).astype(int)
    assert shown.shape == (240, 320, 3)
    text_area, lower = np.abs(shown - plain)[:60], np.abs(shown - plain)[160:]
    assert text_area.mean() > 5 * max(lower.mean(), 0.2)  # the overlay is at the top, the scene is kept

    frames.flash()  # a reload: a bright border for a moment
    flashed = decode(frames.frame(rgb.copy(), "Reach_train_x", 43, 0.0)).astype(int)
    border = np.concatenate([flashed[:, 2], flashed[:, -3], flashed[-3, :]])
    assert (np.abs(border - [255, 210, 0]).max(axis=1) < 60).mean() > 0.9
    assert (np.abs(shown[:, 2] - [255, 210, 0]).max(axis=1) < 60).mean() < 0.5

    waiting = decode(frames.waiting("Reach_train_x"))
    assert waiting.shape == (240, 320, 3) and waiting.std() > 1  # text on a plain background


@pytest.mark.parametrize("width, height", [(320, 240), (640, 480)])
def test_overlay_outline_hugs_its_text_along_a_long_line(width, height):
    """The dark outline must sit evenly around the white text: drifting right of it along a long
    experiment name makes the text look doubled on the dashboard."""
    frames = FrameMaker("BlindGrasping", width, height, jpeg_quality=100)
    grey = np.full((height, width, 3), 128, np.uint8)
    shown = decode(frames.frame(grey, "BlindGrasping_train_20261125_205530", 1234, -123.45))
    for top, bottom in ((0, height // 12), (height // 12, height // 7)):  # the first two lines
        band = shown[top:bottom].astype(int).mean(axis=2)
        dark, light = np.argwhere(band < 50), np.argwhere(band > 205)
        assert len(dark) and len(light), (top, bottom)
        for axis in (0, 1):  # rows, then columns: the outline overhangs by a pixel or two, on every side
            d0, d1, l0, l1 = dark[:, axis].min(), dark[:, axis].max(), light[:, axis].min(), light[:, axis].max()
            assert 0 <= l0 - d0 <= 2 and 0 <= d1 - l1 <= 2, (axis, (d0, d1), (l0, l1))


def test_frames_say_what_they_show_in_a_jpeg_comment():
    frames = FrameMaker("Reach", 160, 120)
    shown = frames.frame(np.zeros((120, 160, 3), np.uint8), "Reach_train_x", 42, 1.0)
    assert frame_comment(shown) == {"state": "running", "epoch": "42", "experiment": "Reach_train_x"}
    assert frame_comment(frames.waiting("Reach_train_x")) == {"state": "waiting", "experiment": "Reach_train_x"}
    assert decode(shown).shape == (120, 160, 3)  # still a plain JPEG to every decoder
    assert frame_comment(FrameMaker("Reach", 160, 120).encode(np.zeros((120, 160, 3), np.uint8))) is None


def test_rate_limiter_caps_frames_per_second():
    limit = RateLimiter(fps=25)  # one frame per 40 ms
    clock = np.arange(0, 1.0, 0.001)  # a loop spinning every millisecond for one second
    assert sum(limit.due(t) for t in clock) == 25
    late = RateLimiter(fps=25)
    assert late.due(0.0) and late.due(5.0) and not late.due(5.001)  # after a stall: no burst to catch up


@pytest.fixture
def streamer():
    from services.streamer import start_in_process

    server, hub = start_in_process(port=0, bind_all=False, token=None, announce=False)
    yield f"http://127.0.0.1:{server.port}", hub, server.token
    server.stop()


def run_tester(cfg, hub=None):
    service = build(cfg, hub)
    stop = threading.Event()
    loop = threading.Thread(target=play_then_close_env, args=(service.tester, stop), daemon=True)
    loop.start()

    def close():
        stop.set()
        loop.join(timeout=10)
        service.close()

    return service, close


@pytest.mark.parametrize("how", ["http", "in-process"])
def test_frames_and_control_reach_a_real_streamer(streamer, runs_dir, reach_checkpoints, new_run, how):
    url, hub, token = streamer
    exp = new_run()  # no checkpoint yet: the stream shows the waiting frame first
    extra = [f"test.streamerUrl={url}"] if how == "http" else []
    cfg = config_for(
        runs_dir,
        "checkpoint=latest",
        "numEnvs=1",
        "test.id=t1",
        "test.render.width=160",
        "test.render.height=120",
        "test.render.fps=10",
        "reloadInterval=0.3",
        *extra,
    )
    service, close = run_tester(cfg, hub if how == "in-process" else None)
    try:
        listed = wait_for(lambda: requests.get(f"{url}/api/testers", timeout=5).json(), 30)
        assert listed[0]["id"] == "t1" and listed[0]["epoch"] is None
        land(reach_checkpoints[0], exp / "nn" / reach_checkpoints[0].name)
        land(reach_checkpoints[-1], exp / "nn" / reach_checkpoints[-1].name)
        wait_for(lambda: requests.get(f"{url}/api/testers", timeout=5).json()[0]["epoch"] is not None, 30)
        snap = requests.get(f"{url}/snapshot/t1", timeout=5)
        assert snap.status_code == 200 and decode(snap.content).shape == (120, 160, 3)
        # a control call through the streamer reaches this tester
        r = requests.post(f"{url}/api/testers/t1/pause", json={}, timeout=10)
        assert r.status_code == 401  # on loopback too, a control call needs the token
        r = control_session(token).post(f"{url}/api/testers/t1/pause", timeout=10)
        assert r.status_code == 200
        wait_for(lambda: service.tester.paused, 5)
    finally:
        close()


def test_http_publisher_survives_an_absent_streamer(caplog):
    publisher = HttpPublisher("http://127.0.0.1:9", "t1", timeout=0.5)  # port 9: nothing listens
    try:
        for i in range(20):
            publisher.publish_frame(b"\xff\xd8 not really a jpeg %d" % i)  # returns at once, never raises
            publisher.publish_status({"id": "t1"})
        wait_for(lambda: publisher.failing, 10)
    finally:
        publisher.close()
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1 and publisher.sent_frames == 0
