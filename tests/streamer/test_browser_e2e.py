"""End to end in a real browser: `train.py config=test_stream` (real tester, real MuJoCo, real checkpoints
from a short Reach run) -> dashboard tile -> tester page -> "Reload now" loads the newer checkpoint."""

import os
import shutil
from pathlib import Path

import pytest

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.experiments import update_latest_link
from tests.streamer.browsing import live_pixels, until
from tests.streaming import StreamingTester

pytestmark = pytest.mark.slow


def _land(src: Path, nn: Path) -> None:
    """A checkpoint arrives the way the trainer writes it: temp name, then an atomic rename."""
    tmp = nn / f".{src.name}.copy.tmp"
    shutil.copyfile(src, tmp)
    os.replace(tmp, nn / src.name)


def test_real_tester_reload_now_from_the_browser(browser, reach_run, tmp_path):
    from selenium.webdriver.common.by import By

    ckpts = [p for p in list_checkpoints(reach_run) if epoch_of(p) is not None]
    assert len(ckpts) >= 2, f"the reach_run fixture left {ckpts}"
    oldest, newest = ckpts[0], max(ckpts, key=epoch_of)
    runs = tmp_path / "runs"
    exp = runs / reach_run.name
    (exp / "nn").mkdir(parents=True)
    shutil.copy(reach_run / "config.yaml", exp / "config.yaml")
    _land(oldest, exp / "nn")
    update_latest_link(runs, exp, "train")

    # reloadInterval=0 and no file events: only "Reload now" may pick up the newer checkpoint
    env = {k: v for k, v in os.environ.items() if k != "POLICYCAST_TOKEN"}  # the process generates its token
    with StreamingTester(
        "e2e", runs, tmp_path / "tester.log", "test.watchEvents=false", testGamesNum=0, reloadInterval=0, env=env
    ) as tester:
        tester.wait(lambda s: s["state"] == "running" and s["epoch"] == epoch_of(oldest), what="the oldest running")

        # opened as a user does: the dashboard's URL with its token, as the process printed it
        browser.get(tester.dashboard_url())
        tile = until(browser, lambda d: d.find_elements(By.ID, "tile-e2e"), what="tile appears")[0]
        live_pixels(browser, "#tile-e2e img", "the simulation moves in the tile")
        tile.click()
        until(browser, lambda d: d.find_element(By.ID, "epoch").text == str(epoch_of(oldest)), what="status")
        assert browser.find_element(By.ID, "reloads").text == "0"

        _land(newest, exp / "nn")
        browser.find_element(By.ID, "reload-now").click()
        until(browser, lambda d: d.find_element(By.ID, "reloads").text == "1", timeout=60, what="reload count 1")
        until(browser, lambda d: d.find_element(By.ID, "epoch").text == str(epoch_of(newest)), what="new epoch")
        assert newest.name in browser.find_element(By.ID, "checkpoint").text
