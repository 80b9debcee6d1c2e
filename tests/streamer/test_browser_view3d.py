"""The 3D view end to end in a real browser: `train.py config=test_stream` (real tester, real checkpoint)
-> dashboard tile -> "3D view" -> MuJoCo's web viewer in a tab of its own draws the tester's world 0,
and it moves."""

import cv2
import numpy as np
import pytest

from tests.streamer.browsing import click, until
from tests.streaming import StreamingTester

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

    browser = webgl_browser
    with StreamingTester("e2e3d", reach_runs, tmp_path / "tester.log") as tester:
        view3d_url = tester.wait(
            lambda s: s["state"] == "running" and s["view3d_url"], what="the tester running, with a 3D view"
        )["view3d_url"]

        browser.get(tester.url + "/")
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
