"""The 3D view end to end in a real browser: `train.py config=test_stream` (real tester, real checkpoint)
-> dashboard tile -> "3D view" -> MuJoCo's web viewer in a tab of its own draws the tester's world 0,
and it moves."""

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from services.core.cli import command
from tests.streamer.browsing import click, until
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def scene(png: bytes) -> np.ndarray:
    """The canvas screenshot's scene band: below the tester's overlay (top left), above the viewer's bar."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    h = img.shape[0]
    return img[h * 20 // 100 : h * 85 // 100].astype(int)


def drawn(img: np.ndarray) -> bool:
    """Not a blank canvas: a rendered scene has many colours and contrast (a blank one has one colour)."""
    colours = len(np.unique((img // 16).reshape(-1, 3), axis=0))
    return img.std() > 12 and colours > 40


def test_the_dashboard_opens_a_testers_live_3d_view(webgl_browser, reach_runs, tmp_path):
    from selenium.webdriver.common.by import By

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "tester.log", "w")
    proc = subprocess.Popen(
        command(
            "train",
            "config=test_stream",
            "test.id=e2e3d",
            "test.numEnvs=1",
            "test.render.width=320",
            "test.render.height=240",
            "test.render.fps=10",
            checkpoint="latest",
            runsDir=reach_runs,
            streamPort=port,
        ),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MUJOCO_GL": "egl"},
    )
    browser = webgl_browser
    try:

        def running():
            assert proc.poll() is None, (tmp_path / "tester.log").read_text()[-3000:]
            try:
                t = requests.get(f"{url}/api/testers/e2e3d", timeout=2)
            except requests.ConnectionError:
                return None
            return t.ok and t.json()["state"] == "running" and t.json()["view3d_url"]

        view3d_url = wait_for(running, timeout=120, what="the tester running, with a 3D view")

        browser.get(url + "/")
        until(
            browser,
            lambda d: d.find_element(By.CSS_SELECTOR, "#tile-e2e3d .view3d").is_displayed(),
            what="the tile's 3D button",
        )
        dashboard = browser.current_window_handle
        click(browser, "#tile-e2e3d .view3d", "open the 3D view")
        until(browser, lambda d: len(d.window_handles) == 2, what="the 3D view's own tab")
        browser.switch_to.window(next(h for h in browser.window_handles if h != dashboard))
        until(browser, lambda d: d.current_url == view3d_url, what="the tab on the tester's view3d_url")

        canvas = lambda d: d.find_element(By.ID, "canvas").screenshot_as_png  # noqa: E731
        first = until(
            browser, lambda d: drawn(img := scene(canvas(d))) and [img], timeout=180, what="the viewer drawing a scene"
        )[0]
        until(
            browser,
            lambda d: np.abs(scene(canvas(d)) - first).max(axis=2).__gt__(40).mean() > 0.002,
            timeout=60,
            what="the scene moving (the policy acting)",
        )
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
