"""End to end in a real browser: `train.py config=test_stream` (real tester, real MuJoCo, real checkpoints
from a short Reach run) -> dashboard tile -> tester page -> "Reload now" loads the newer checkpoint."""

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import requests

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.cli import command
from services.core.experiments import update_latest_link
from tests.streamer.browsing import live_pixels, until
from tests.streamer.standin import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # reloadInterval=0 and no file events: only "Reload now" may pick up the newer checkpoint
    cmd = command(
        "train",
        "config=test_stream",
        "test.id=e2e",
        "test.watchEvents=false",
        "test.numEnvs=1",
        "test.render.width=320",
        "test.render.height=240",
        "test.render.fps=10",
        checkpoint="latest",
        testGamesNum=0,
        runsDir=runs,
        streamPort=port,
        reloadInterval=0,
    )
    log = open(tmp_path / "tester.log", "w")
    env = {**{k: v for k, v in os.environ.items() if k != "POLICYCAST_TOKEN"}, "MUJOCO_GL": "egl"}  # generated
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:

        def running():
            assert proc.poll() is None, (tmp_path / "tester.log").read_text()[-3000:]
            try:
                t = requests.get(f"{url}/api/testers/e2e", timeout=2)
            except requests.ConnectionError:
                return None
            return t.ok and t.json()["state"] == "running" and t.json()["epoch"] == epoch_of(oldest)

        wait_for(running, timeout=120, what="the tester running the oldest checkpoint")

        # opened as a user does: the dashboard's URL with its token, as the process printed it
        printed = (tmp_path / "tester.log").read_text()
        browser.get(re.search(r"control token\): (http://\S+)", printed).group(1))
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
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        log.close()
    assert rc == 0, (tmp_path / "tester.log").read_text()[-3000:]
