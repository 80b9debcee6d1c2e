"""Optional features fail soft: a tester whose 3D view and clip encoder cannot even be imported still tests,
hot-reloads and streams, says why in its status, and the dashboard shows the reason where the 3D link was."""

import os
from importlib import metadata

import pytest
import requests

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.experiments import update_latest_link
from services.tester.frames import frame_comment
from tests.streamer.browsing import until
from tests.streaming import StreamingTester
from tests.tester.helpers import land
from tests.waiting import wait_for

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
    env = {**os.environ, "PYTHONPATH": str(shim)}
    with StreamingTester(
        "soft", runs, tmp_path / "tester.log", "test.clips.enabled=true", reloadInterval=1, env=env
    ) as t:
        first = t.wait(lambda s: s["state"] == "running", what="running")
        mujoco = f"mujoco {metadata.version('mujoco')}"
        assert first["view3d_url"] is None
        view3d_error = first["view3d_error"]
        assert view3d_error.startswith("ImportError: mujoco.studio is broken") and mujoco in view3d_error
        assert first["clips_error"].startswith("ImportError: av is broken") and "av " in first["clips_error"]

        land(ckpts[-1], exp / "nn" / ckpts[-1].name)  # hot reload goes on
        t.wait(lambda s: s["epoch"] == epoch_of(ckpts[-1]), timeout=60, what="the reload")

        def frame_of_new_weights():  # and frames flow (a snapshot reader makes the tester render)
            snap = requests.get(f"{t.url}/snapshot/soft?reader=test", timeout=10)
            said = frame_comment(snap.content) if snap.headers["Content-Type"] == "image/jpeg" else None
            return said and said.get("epoch") == str(epoch_of(ckpts[-1]))

        wait_for(frame_of_new_weights, timeout=30, what="a frame of the reloaded weights")

        browser.get(t.dashboard_url())
        reason = until(
            browser,
            lambda d: (e := d.find_elements(By.CSS_SELECTOR, "#tile-soft .view3d-error")) and e[0].is_displayed() and e,
            what="the tile's 3D-view reason",
        )[0]
        assert reason.get_attribute("textContent").startswith("3D view unavailable: ImportError: mujoco.studio")
        assert not browser.find_element(By.CSS_SELECTOR, "#tile-soft .view3d").is_displayed()
        warnings = [line for line in t.text().splitlines() if "unavailable:" in line]
        assert len(warnings) == 2 and "Traceback" not in t.text(), t.text()[-3000:]  # one line each, no traceback
