"""A tester following `latest` follows a run of another task: when `latest_train` moves from a Reach run to a
BlindGrasping run, it rebuilds its worlds, network, frames and 3D model for BlindGrasping, without a restart,
and plays the new run's checkpoints. A tester on a fixed Reach experiment still refuses them."""

import shutil
import threading
import zlib

import pytest
import requests

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.experiments import saved_config, update_latest_link
from services.sim import make_env
from services.tester import build
from tests.streaming import StreamingTester
from tests.tester.helpers import config_for, play_then_close_env
from tests.view3d_client import WireViewer
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def served_model_crc(view3d_url: str) -> int:
    """The identity of the model the 3D page downloads (the viewer stamps the same crc32 on its state)."""
    return zlib.crc32(requests.get(view3d_url.rstrip("/") + "/model", timeout=10).content)


def test_a_tester_following_latest_moves_to_a_run_of_another_task(reach_runs, grasp_run, tmp_path):
    from mujoco.studio.web import state_payload

    runs = reach_runs
    reach_exp = (runs / "latest_train").resolve()
    follower = StreamingTester("follow", runs, tmp_path / "tester.log", reloadInterval=5)
    # a second tester, on the fixed Reach experiment, in this process
    fixed = build(config_for(runs, f"checkpoint={reach_exp}", "numEnvs=1"))
    stop = threading.Event()
    loop = threading.Thread(target=play_then_close_env, args=(fixed.tester, stop), daemon=True)
    loop.start()

    try:
        before = follower.wait(lambda s: s["state"] == "running", what="running")
        assert before["task"] == "Reach" and before["experiment"] == reach_exp.name
        reach_model = served_model_crc(before["view3d_url"])

        # the user starts a BlindGrasping run: it reaches runs/, then latest_train moves to it
        grasp = runs / grasp_run.name
        shutil.copytree(grasp_run, grasp, ignore=shutil.ignore_patterns("eval", "summaries"))
        update_latest_link(runs, grasp, "train")
        grasp_epochs = {epoch_of(p) for p in list_checkpoints(grasp)}

        after = follower.wait(
            lambda s: s["task"] == "BlindGrasping" and s["state"] == "running", 60, "the tester playing BlindGrasping"
        )
        assert after["experiment"] == grasp.name and after["epoch"] in grasp_epochs
        assert after["last_reload_error"] is None and after["reloads"] == before["reloads"] + 1
        assert (after["training"] or {}).get("max_epochs") == saved_config(grasp).train.maxIterations

        # its 3D page now downloads the BlindGrasping world (and keeps receiving its state)
        world = make_env(saved_config(grasp).task, num_envs=1)
        try:
            grasp_model = zlib.crc32(state_payload.serialize_model_bundle(world.world(0)[0]))
        finally:
            world.close()
        assert grasp_model != reach_model
        wait_for(lambda: served_model_crc(after["view3d_url"]) == grasp_model, timeout=30, what="the new 3D model")
        with WireViewer(after["view3d_url"]) as page:
            wait_for(lambda: page.payloads >= 10, timeout=60, what="state of the new world on the page")
        text = follower.text()
        assert "now playing task=BlindGrasping" in text and "Traceback" not in text, text[-3000:]

        # the tester on the fixed Reach experiment stays there, and a BlindGrasping checkpoint does not load
        t = fixed.tester
        assert t.task == "Reach" and t.current.experiment == reach_exp
        weights = t.current
        bg_file = list_checkpoints(grasp)[-1]
        try:
            t.pin(bg_file)
        except ValueError as e:  # refused at once
            refusal = str(e)
        else:
            wait_for(lambda: t.reloader.last_error, timeout=30, what="the pinned file refused")
            refusal = t.reloader.last_error
        assert "incompatible" in refusal and bg_file.name in refusal
        assert t.task == "Reach" and t.current is weights
    finally:
        stop.set()
        loop.join(30)
        fixed.close()
        rc = follower.stop()
    assert rc == 0, follower.text()[-3000:]
