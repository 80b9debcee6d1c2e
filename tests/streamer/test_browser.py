"""A real browser (headless Debian Chromium via Selenium) on the dashboard and a tester page."""

from tests.streamer.browsing import click, live_pixels, until
from tests.streamer.standin import Pusher


def test_dashboard_tile_is_live_and_reload_now_counts(browser, streamer, standin):
    from selenium.webdriver.common.by import By

    server, hub, url = streamer
    tester, ctl = standin
    pusher = Pusher(url, tester, control_url=ctl.url, fps=10).start()
    try:
        browser.get(f"{url}/?token={server.token}")  # the URL the streamer prints
        tile = until(browser, lambda d: d.find_elements(By.ID, f"tile-{tester.id}"), what="tile appears")[0]
        until(
            browser,
            lambda d: d.execute_script(
                "const i = document.querySelector(arguments[0]); return i.complete && i.naturalWidth > 0;",
                f"#tile-{tester.id} img",
            ),
            what="tile image decoded",
        )
        live_pixels(browser, f"#tile-{tester.id} img", "tile pixels change")
        assert tester.experiment in tile.text and "running" in tile.text
        # where the followed training stands (the tester's status carries its progress.json)
        assert "epoch 45/300 · 1.2M env-steps · 34% success · ETA 12m" in tile.text

        tile.click()
        until(browser, lambda d: d.current_url.endswith(f"/tester/{tester.id}"), what="tester page")
        reloads = until(
            browser,
            lambda d: d.find_element(By.ID, "reloads").text not in ("", None) and d.find_element(By.ID, "reloads"),
            what="status shown",
        )
        assert reloads.text == "0"
        assert browser.find_element(By.ID, "training").text == "epoch 45/300 · 1.2M env-steps · 34% success · ETA 12m"
        # the interval is shown as what it means: the least time each checkpoint is watched
        assert browser.find_element(By.ID, "reload-interval").text.startswith("at least 30 s per checkpoint")
        live_pixels(browser, "#stream", "tester stream pixels change")
        browser.find_element(By.ID, "reload-now").click()
        until(browser, lambda d: d.find_element(By.ID, "reloads").text == "1", what="reload count 1")
        assert tester.reloads == 1
        # the checkpoint list and the eval chart come from the tester through the streamer
        until(
            browser,
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#checkpoint-select option")) == 3,
            what="checkpoint list",
        )
        until(
            browser,
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "#eval-chart circle")) == 3,
            what="eval chart points",
        )
        # the reward terms of the current checkpoint: one signed bar each, redrawn with the status
        rects = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#terms-chart rect"), what="terms chart")
        bars = {b.get_attribute("data-term"): b for b in rects}
        assert set(bars) == {"distance", "closeBonus"}
        assert "neg" in bars["distance"].get_attribute("class") and "pos" in bars["closeBonus"].get_attribute("class")
        until(browser, lambda d: "-1.50" in d.find_element(By.ID, "terms-chart").text, what="terms redrawn")
        browser.find_element(By.ID, "pin").click()  # the newest checkpoint is selected first
        until(
            browser, lambda d: d.find_element(By.ID, "pinned").text.startswith("last_Reach_ep_9"), what="pinned shown"
        )
        assert tester.pinned == tester.ckpts[-1]["path"]
    finally:
        pusher.stop()


def test_offline_tile_shows_placeholder_and_can_be_removed(browser, streamer):
    from selenium.webdriver.common.by import By

    from tests.streamer.standin import StandInTester

    server, hub, url = streamer
    stays, goes = (
        Pusher(url, StandInTester("stays"), fps=10).start(),
        Pusher(url, StandInTester("goes"), fps=10).start(),
    )
    try:
        browser.get(f"{url}/?token={server.token}")  # the URL the streamer prints
        until(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".tile")) == 2, what="two tiles")
        goes.stop()
        until(
            browser,
            lambda d: "offline" in d.find_element(By.ID, "tile-goes").get_attribute("class"),
            what="tile marked offline",
        )
        live_pixels(browser, "#tile-stays img", "the other tile stays live")
        click(browser, "#tile-goes .forget", "forget the offline tile")
        until(browser, lambda d: not d.find_elements(By.ID, "tile-goes"), what="tile removed")
        assert [c.id for c in hub.channels()] == ["stays"]
        assert browser.find_elements(By.ID, "tile-stays")
    finally:
        stays.stop()
        goes.stop()


def test_the_trainers_disk_is_shown_and_a_low_disk_warns(browser, streamer, standin):
    """progress.json's disk figures (the trainer's, as services/trainer/keeper.py writes them) on the tile
    and the tester page; under the trainer's threshold the tile is marked before anything stops."""
    from selenium.webdriver.common.by import By

    server, hub, url = streamer
    tester, ctl = standin
    disk = {"runs_bytes": 1288490188, "free_bytes": 48636928000, "total_bytes": 147639500800, "free_percent": 32.9}
    checkpoints = {"kept": 57, "bytes": 102760448, "removed": 1203, "budget_bytes": 2147483648, "retention": True}
    tester.training_disk = {"disk": {**disk, "low": False, "low_percent": 10}, "checkpoints": checkpoints}
    pusher = Pusher(url, tester, control_url=ctl.url, fps=5).start()
    try:
        browser.get(url + "/")
        field = f"#tile-{tester.id} dd[data-field='disk']"
        shown = until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, field), what="the disk row")[0]
        assert shown.text == "runs 1.2 GB · 45.3 GB free (33 %) · 57 checkpoints, 98.0 MB"
        assert "low-disk" not in browser.find_element(By.ID, f"tile-{tester.id}").get_attribute("class")

        tester.training_disk = {
            "disk": {**disk, "free_bytes": 7 * 1024**3, "free_percent": 5.1, "low": True, "low_percent": 10},
            "checkpoints": checkpoints,
        }
        until(
            browser,
            lambda d: "low-disk" in d.find_element(By.ID, f"tile-{tester.id}").get_attribute("class"),
            what="the tile marked",
        )
        assert browser.find_element(By.CSS_SELECTOR, field).text.startswith(
            "LOW DISK · runs 1.2 GB · 7.0 GB free (5 %)"
        )
        browser.get(f"{url}/tester/{tester.id}")
        cell = until(browser, lambda d: (c := d.find_element(By.ID, "disk")).text and c, what="the page's disk row")
        assert cell.text.startswith("LOW DISK") and "low-disk" in cell.get_attribute("class")
    finally:
        pusher.stop()
