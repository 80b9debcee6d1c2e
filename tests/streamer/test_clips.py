"""Clips on the dashboard, end to end: a real tester process records them, a streamer process lists them and
serves them through the tester with HTTP range requests, and headless Chromium plays, seeks and compares
them on the tester page (the stack's path); an in-process tester (config=test_stream) serves its files."""

import os
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.cli import command
from services.streamer import start_in_process
from services.tester import build
from tests.api import control_session
from tests.processes import stop
from tests.streamer.browsing import click, until
from tests.tester.helpers import config_for, copy_run, play_then_close_env
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "clips-test-token"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_clips(reach_run, tmp_path_factory):
    """A streamer process and a tester process pushing to it, with clips of two epochs recorded:
    yields (streamer url, tester id, {epoch: clip file on disk})."""
    tmp = tmp_path_factory.mktemp("clips")
    exp = copy_run(reach_run, tmp / "runs")
    ckpts = sorted((p for p in list_checkpoints(exp) if epoch_of(p) is not None), key=epoch_of)
    oldest, newest = ckpts[0], ckpts[-1]
    os.utime(newest)  # `latest` plays the newest epoch first
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            command("streamer", "--port", port, "--token", TOKEN),
            cwd=ROOT,
            stdout=open(tmp / "streamer.log", "w"),
            stderr=subprocess.STDOUT,
        )
    ]
    procs.append(
        subprocess.Popen(
            command(
                "tester",
                "test.realtime=false",
                "test.id=clips",
                f"test.streamerUrl={url}",
                "test.render.width=320",
                "test.render.height=240",
                checkpoint="latest",
                runsDir=tmp / "runs",
                numEnvs=1,
                reloadInterval=0,
            ),
            cwd=ROOT,
            stdout=open(tmp / "tester.log", "w"),
            stderr=subprocess.STDOUT,
        )
    )

    def clips():
        for p, name in zip(procs, ("streamer.log", "tester.log")):
            assert p.poll() is None, (tmp / name).read_text()[-3000:]
        try:
            r = requests.get(f"{url}/api/testers/clips/clips", timeout=5)
        except requests.ConnectionError:
            return None
        return r.ok and r.json()

    try:
        wait_for(lambda: clips() and len(clips()) == 1, 120, step=0.3, what="the first clip listed")
        r = control_session(TOKEN).post(
            f"{url}/api/testers/clips/pin", json={"checkpoint": str(oldest.relative_to(tmp / "runs"))}, timeout=10
        )
        assert r.ok, r.text
        wait_for(lambda: len(clips()) == 2, 120, step=0.3, what="the pinned checkpoint's clip")
        folder = exp / "eval" / "clips" / "clips"  # eval/<tester id "clips">/clips/
        yield url, "clips", {epoch_of(c): folder / f"epoch_{epoch_of(c)}.mp4" for c in (oldest, newest)}
    finally:
        stop(*reversed(procs))


def test_clips_are_listed_and_served_with_range_requests_through_the_tester(two_clips):
    url, tid, files = two_clips
    listed = requests.get(f"{url}/api/testers/{tid}/clips", timeout=5).json()
    assert [c["epoch"] for c in listed] == sorted(files)  # ordered by epoch
    for c in listed:
        assert c["url"] == f"/api/testers/{tid}/clips/epoch_{c['epoch']}.mp4"
        assert c["length"] == 100 and isinstance(c["return"], float) and isinstance(c["success"], bool)
    data = files[listed[0]["epoch"]].read_bytes()
    whole = requests.get(url + listed[0]["url"], timeout=10)
    assert whole.status_code == 200 and whole.content == data and whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = requests.get(url + listed[0]["url"], headers={"Range": "bytes=100-1099"}, timeout=10)
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    tail = requests.get(url + listed[0]["url"], headers={"Range": "bytes=-64"}, timeout=10)
    assert tail.status_code == 206 and tail.content == data[-64:]
    beyond = requests.get(url + listed[0]["url"], headers={"Range": f"bytes={len(data)}-"}, timeout=10)
    assert beyond.status_code == 416 and beyond.json()["error"]  # JSON, as every error
    assert beyond.headers["Content-Range"] == f"bytes */{len(data)}"
    for name in ("epoch_999.mp4", "..%2Fconfig.yaml", "epoch_4.json"):
        r = requests.get(f"{url}/api/testers/{tid}/clips/{name}", timeout=10)
        assert r.status_code == 404 and "error" in r.json()


def test_the_tester_page_timeline_plays_seeks_and_compares_two_clips(two_clips, browser):
    from selenium.webdriver.common.by import By

    url, tid, files = two_clips
    old, new = sorted(files)
    browser.get(f"{url}/tester/{tid}?token={TOKEN}")
    cards = until(
        browser,
        lambda d: (
            len(d.find_elements(By.CSS_SELECTOR, "#timeline .clip")) == 2
            and d.find_elements(By.CSS_SELECTOR, "#timeline .clip")
        ),
        what="two clips on the timeline",
    )
    assert [c.get_attribute("data-epoch") for c in cards] == [str(old), str(new)]
    assert all("·" in c.find_element(By.CSS_SELECTOR, ".facts").text for c in cards)  # return · success

    def video(slot):
        return browser.execute_script(
            "const v = document.getElementById(arguments[0]);"
            "return {t: v.currentTime, ready: v.readyState, error: v.error && v.error.code, w: v.videoWidth,"
            "        d: v.duration, paused: v.paused, src: v.currentSrc};",
            slot,
        )

    click(browser, f'#timeline .clip[data-epoch="{old}"]', "play the old epoch's clip")
    until(browser, lambda d: video("clip-a")["t"] > 0.3, what="clip A playing (currentTime advances)")
    a = video("clip-a")
    assert a["error"] is None and a["w"] == 320 and a["d"] == pytest.approx(2.0, abs=0.1)
    assert a["src"].endswith(f"/api/testers/{tid}/clips/epoch_{old}.mp4")
    # seek: pause, jump to 1.5 s, and the player lands there (the browser asks for a byte range)
    browser.execute_script("const v = document.getElementById('clip-a'); v.pause(); v.currentTime = 1.5;")
    until(
        browser,
        lambda d: d.execute_script(
            "const v = document.getElementById('clip-a');return !v.seeking && Math.abs(v.currentTime - 1.5) < 0.05;"
        ),
        what="clip A seeked to 1.5 s",
    )
    browser.execute_script("document.getElementById('clip-a').play()")
    until(browser, lambda d: video("clip-a")["t"] > 1.6 or video("clip-a")["t"] < 1.4, what="A playing on")

    # the newer one beside it: both play, and the eval chart highlights both epochs
    click(browser, f'#timeline .clip[data-epoch="{new}"] .vs', "compare with the new epoch's clip")
    until(browser, lambda d: video("clip-b")["t"] > 0.3, what="clip B playing")
    assert video("clip-b")["src"].endswith(f"epoch_{new}.mp4")
    assert video("clip-a")["src"].endswith(f"epoch_{old}.mp4")

    def epochs(selector):
        return sorted(int(e.get_attribute("data-epoch")) for e in browser.find_elements(By.CSS_SELECTOR, selector))

    assert epochs("#timeline .clip.selected") == [old, new]
    until(
        browser,
        lambda d: epochs("#eval-chart .dot.highlight") == [old, new],
        what="the eval chart highlighting the two epochs",
    )
    assert "epoch " + str(new) in browser.find_element(By.ID, "clip-b-label").text

    # a click on a chart dot plays that epoch's clip in the left player
    browser.execute_script(
        f"document.querySelector('#eval-chart .dot[data-epoch=\"{new}\"]').dispatchEvent(new MouseEvent('click'))"
    )
    until(browser, lambda d: video("clip-a")["src"].endswith(f"epoch_{new}.mp4"), what="the dot's clip in A")


def test_an_in_process_tester_serves_its_clip_files_with_ranges(runs_dir, reach_run):
    """config=test_stream: the streamer in the tester's process serves the clip file itself."""
    copy_run(reach_run, runs_dir)
    cfg = config_for(
        runs_dir, "checkpoint=latest", "numEnvs=1", "test.id=local", "test.render.width=160", "test.render.height=120"
    )
    server, hub = start_in_process(0, announce=False)
    service = build(cfg, hub)
    stop = threading.Event()
    loop = threading.Thread(target=play_then_close_env, args=(service.tester, stop), daemon=True)
    loop.start()
    try:
        listed = wait_for(
            lambda: requests.get(f"{server.url}/api/testers/local/clips", timeout=5).json(),
            60,
            step=0.2,
            what="the clip listed",
        )
        path = service.tester.clip_file(listed[0]["name"])
        part = requests.get(server.url + listed[0]["url"], headers={"Range": "bytes=10-19"}, timeout=10)
        assert part.status_code == 206 and part.content == path.read_bytes()[10:20]
        assert part.headers["Content-Range"] == f"bytes 10-19/{path.stat().st_size}"
        size = path.stat().st_size
        beyond = requests.get(server.url + listed[0]["url"], headers={"Range": f"bytes={size}-"}, timeout=10)
        assert beyond.status_code == 416 and beyond.json()["error"]  # JSON, as every error
        assert beyond.headers["Content-Range"] == f"bytes */{size}"
    finally:
        stop.set()
        loop.join(timeout=20)
        service.close()
        server.stop()
