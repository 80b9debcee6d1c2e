"""A real browser (headless Debian Chromium via Selenium) on the dashboard and a tester page."""
import shutil
import time

import pytest

from tests.streamer.standin import Pusher, StandInTester

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Debian chromium + chromium-driver (scripts/install-system-deps.sh)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        opts.add_argument(arg)
    opts.page_load_strategy = "eager"  # an MJPEG <img> never finishes loading
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _until(driver, predicate, timeout=30, what="condition"):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: predicate(d), message=what)


def _live_pixels(driver, selector, what):
    """Screenshots of the element until two differ (the stream is live), bounded by _until's timeout."""
    from selenium.webdriver.common.by import By

    first = driver.find_element(By.CSS_SELECTOR, selector).screenshot_as_png

    def changed(d):
        time.sleep(0.3)
        return d.find_element(By.CSS_SELECTOR, selector).screenshot_as_png != first
    _until(driver, changed, what=what)


def test_dashboard_tile_is_live_and_reload_now_counts(browser, streamer, standin):
    from selenium.webdriver.common.by import By

    server, hub, url = streamer
    tester, ctl = standin
    pusher = Pusher(url, tester, control_url=ctl.url, fps=10).start()
    try:
        browser.get(url + "/")
        tile = _until(browser, lambda d: d.find_elements(By.ID, f"tile-{tester.id}"), what="tile appears")[0]
        _until(browser, lambda d: d.execute_script(
            "const i = document.querySelector(arguments[0]); return i.complete && i.naturalWidth > 0;",
            f"#tile-{tester.id} img"), what="tile image decoded")
        _live_pixels(browser, f"#tile-{tester.id} img", "tile pixels change")
        assert tester.experiment in tile.text and "running" in tile.text

        tile.click()
        _until(browser, lambda d: d.current_url.endswith(f"/tester/{tester.id}"), what="tester page")
        reloads = _until(browser, lambda d: d.find_element(By.ID, "reloads").text not in ("", None) and
                         d.find_element(By.ID, "reloads"), what="status shown")
        assert reloads.text == "0"
        _live_pixels(browser, "#stream", "tester stream pixels change")
        browser.find_element(By.ID, "reload-now").click()
        _until(browser, lambda d: d.find_element(By.ID, "reloads").text == "1", what="reload count 1")
        assert tester.reloads == 1
        # the checkpoint list and the eval chart come from the tester through the streamer
        _until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#checkpoint-select option")) == 3,
               what="checkpoint list")
        _until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#eval-chart circle")) == 3,
               what="eval chart points")
        browser.find_element(By.ID, "pin").click()  # the newest checkpoint is selected first
        _until(browser, lambda d: d.find_element(By.ID, "pinned").text.startswith("last_Reach_ep_9"),
               what="pinned shown")
        assert tester.pinned == tester.ckpts[-1]["path"]
    finally:
        pusher.stop()
