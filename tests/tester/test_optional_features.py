"""Optional features fail soft: a tester whose 3D view and clip encoder cannot even be imported still tests,
hot-reloads and streams, says why in its status, and the dashboard shows the reason where the 3D link was."""

import json
import os
import signal
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import requests

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.cli import command
from services.core.experiments import update_latest_link
from services.tester.frames import frame_comment
from tests.streamer.browsing import until
from tests.tester.helpers import land
from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# A broken install, made for real in the child process: importing these raises, as an incompatible or
# half-installed package would.
BROKEN = ("mujoco.studio", "av")
SITECUSTOMIZE = f"""
import sys

class _Broken:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in {BROKEN!r}):
            raise ImportError(f"{{name}} is broken in this install (the test's doing)")
        return None

sys.meta_path.insert(0, _Broken())
"""


def test_a_tester_without_its_3d_view_and_clips_still_tests_reloads_and_streams(browser, reach_run, tmp_path):
    from selenium.webdriver.common.by import By

    ckpts = sorted((p for p in list_checkpoints(reach_run) if epoch_of(p) is not None), key=epoch_of)
    runs = tmp_path / "runs"
    exp = runs / reach_run.name
    (exp / "nn").mkdir(parents=True)
    (exp / "config.yaml").write_bytes((reach_run / "config.yaml").read_bytes())
    land(ckpts[0], exp / "nn" / ckpts[0].name)
    update_latest_link(runs, exp, "train")
    shim = tmp_path / "broken"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SITECUSTOMIZE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "tester.log", "w")
    proc = subprocess.Popen(
        command(
            "train",
            "config=test_stream",
            "test.id=soft",
            "test.numEnvs=1",
            "test.render.width=320",
            "test.render.height=240",
            "test.render.fps=10",
            "test.clips.enabled=true",
            checkpoint="latest",
            runsDir=runs,
            streamPort=port,
            reloadInterval=1,
        ),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MUJOCO_GL": "egl", "PYTHONPATH": str(shim)},
    )

    def status():
        assert proc.poll() is None, (tmp_path / "tester.log").read_text()[-3000:]
        try:
            r = requests.get(f"{url}/api/testers/soft", timeout=2)
        except requests.ConnectionError:
            return None
        return r.json() if r.ok else None

    try:
        first = wait_for(lambda: (s := status()) and s["state"] == "running" and s, timeout=120, what="running")
        mujoco = f"mujoco {metadata.version('mujoco')}"
        assert first["view3d_url"] is None
        view3d_error = first["view3d_error"]
        assert view3d_error.startswith("ImportError: mujoco.studio is broken") and mujoco in view3d_error
        assert first["clips_error"].startswith("ImportError: av is broken") and "av " in first["clips_error"]

        land(ckpts[-1], exp / "nn" / ckpts[-1].name)  # hot reload goes on
        wait_for(lambda: (s := status()) and s["epoch"] == epoch_of(ckpts[-1]), timeout=60, what="the reload")

        def frame_of_new_weights():  # and frames flow (a snapshot reader makes the tester render)
            snap = requests.get(f"{url}/snapshot/soft?reader=test", timeout=10)
            said = frame_comment(snap.content) if snap.headers["Content-Type"] == "image/jpeg" else None
            return said and said.get("epoch") == str(epoch_of(ckpts[-1]))

        wait_for(frame_of_new_weights, timeout=30, what="a frame of the reloaded weights")

        browser.get(url + "/")
        reason = until(
            browser,
            lambda d: (e := d.find_elements(By.CSS_SELECTOR, "#tile-soft .view3d-error")) and e[0].is_displayed() and e,
            what="the tile's 3D-view reason",
        )[0]
        assert reason.get_attribute("textContent").startswith("3D view unavailable: ImportError: mujoco.studio")
        assert not browser.find_element(By.CSS_SELECTOR, "#tile-soft .view3d").is_displayed()
        text = (tmp_path / "tester.log").read_text()
        warnings = [line for line in text.splitlines() if "unavailable:" in line]
        assert len(warnings) == 2 and "Traceback" not in text, text[-3000:]  # one line each, no traceback
        assert json.dumps(first)  # the status is plain JSON
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        log.close()
    assert rc == 0, (tmp_path / "tester.log").read_text()[-3000:]
