"""The control API over real HTTP on 127.0.0.1, against a tester running its loop on real MuJoCo."""

import os
import shutil
import threading
import time

import pytest
import requests

from services.core.checkpoints import load_checkpoint
from services.core.control_contract import STATUS_FIELDS
from services.core.experiments import write_progress
from services.core.jsonapi import TOKEN_ERROR
from services.tester import build
from services.tester.control import ControlServer
from tests.api import control_session
from tests.tester.helpers import config_for, land, play_then_close_env, wait_for


@pytest.fixture
def running(runs_dir, reach_checkpoints, new_run, request):
    """A tester (2 worlds, small frames) playing forever on a fresh copy of the Reach run."""
    exp = new_run(*reach_checkpoints[:2])
    extra = getattr(request, "param", ())
    cfg = config_for(
        runs_dir,
        "checkpoint=latest",
        "numEnvs=2",
        "reloadInterval=0.3",
        "test.render.width=160",
        "test.render.height=120",
        *extra,
    )
    service = build(cfg)
    stop = threading.Event()
    loop = threading.Thread(target=play_then_close_env, args=(service.tester, stop), daemon=True)
    loop.start()
    url = service.control.url
    TOKENS[url] = service.control.token
    wait_for(lambda: requests.get(f"{url}/status", timeout=5).json()["state"] == "running", 30)
    yield url, exp, service
    stop.set()
    loop.join(timeout=10)
    service.close()
    assert not loop.is_alive()


TOKENS: dict[str, str] = {}  # control URL -> its tester's token


def api(url):
    """Control calls as the streamer makes them: the tester's token, JSON."""
    return control_session(TOKENS[url])


def status(url):
    return requests.get(f"{url}/status", timeout=5).json()


def test_status_has_every_documented_field(running, reach_checkpoints):
    url, exp, _ = running
    s = status(url)
    for field in STATUS_FIELDS:
        assert field in s, field
    assert s["task"] == "Reach" and s["experiment"] == exp.name and s["state"] == "running"
    assert s["checkpoint"] == f"{exp.name}/nn/{reach_checkpoints[1].name}"
    assert s["epoch"] == load_checkpoint(reach_checkpoints[1])["epoch"]
    assert 0 <= s["next_reload_in"] <= s["reload_interval"] == 0.3
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"ok": True}
    listed = requests.get(f"{url}/checkpoints", timeout=5).json()
    assert [c["name"] for c in listed] == [c.name for c in reach_checkpoints[:2]]
    wait_for(lambda: status(url)["episodes"] > 0, 60)  # the loop really plays
    history = requests.get(f"{url}/eval", timeout=5).json()
    assert history and history[0]["epoch"] == s["epoch"] and history[0]["episodes"] >= 1


def test_pin_unpin_and_paths_leaving_the_runs_root(running, reach_checkpoints, runs_dir, tmp_path):
    url, exp, service = running
    older = f"{exp.name}/nn/{reach_checkpoints[0].name}"
    s = api(url).post(f"{url}/pin", json={"checkpoint": older}, timeout=5).json()
    assert s["pinned"] == older
    s = wait_for(lambda: (st := status(url))["checkpoint"] == older and st, 20)
    assert s["epoch"] == load_checkpoint(reach_checkpoints[0])["epoch"] and s["reloads"] >= 1

    # pinned: a newer save does not move it, not even a reload asked for after it landed
    land(reach_checkpoints[-1], exp / "nn" / reach_checkpoints[-1].name)
    looks = service.reloader.looks
    api(url).post(f"{url}/reload", timeout=5)
    wait_for(lambda: service.reloader.looks > looks, 10, what="the requested reload looked")
    wait_for(lambda: service.reloader.mailbox is None, 10, what="anything it parked swapped in")
    assert status(url)["checkpoint"] == older

    outside = tmp_path / "elsewhere.pth"
    land(reach_checkpoints[0], outside)
    (runs_dir / "escape.pth").symlink_to(outside)
    for bad in (
        "../elsewhere.pth",
        str(outside),
        "escape.pth",
        f"{exp.name}/../../elsewhere.pth",
        f"{exp.name}/nn/missing.pth",
        f"{exp.name}/config.yaml",
    ):
        r = api(url).post(f"{url}/pin", json={"checkpoint": bad}, timeout=5)
        assert r.status_code == 400 and r.json()["field"] == "checkpoint", bad
    for body in ({}, {"checkpoint": 3}, None):
        r = api(url).post(f"{url}/pin", json=body, timeout=5)
        assert r.status_code == 400 and r.json()["field"] == "checkpoint"
    assert status(url)["checkpoint"] == older

    s = api(url).delete(f"{url}/pin", timeout=5).json()
    assert s["pinned"] is None
    newest = f"{exp.name}/nn/{reach_checkpoints[-1].name}"
    wait_for(lambda: status(url)["checkpoint"] == newest, 20)


def test_a_pin_of_a_file_that_cannot_load_is_refused_with_the_reason(running, runs_dir):
    url, exp, _ = running
    before = status(url)["checkpoint"]
    bad = exp / "nn" / "last_Reach_ep_1_rew_0.0.pth"
    bad.write_bytes(b"not a checkpoint at all")
    os.utime(bad, (1e9, 1e9))  # the oldest file: no automatic reload tries it
    for _ in range(2):  # and again, once it is known to be bad
        r = api(url).post(f"{url}/pin", json={"checkpoint": f"{exp.name}/nn/{bad.name}"}, timeout=5)
        assert r.status_code == 400 and r.json()["field"] == "checkpoint", r.text
        assert bad.name in r.json()["error"] and "corrupt" in r.json()["error"]
        assert str(runs_dir.resolve()) not in r.json()["error"]  # paths are relative to the runs root
        s = status(url)
        assert s["pinned"] is None and s["checkpoint"] == before


def test_bad_symlinks_in_nn_never_stop_good_checkpoints(running, reach_checkpoints, runs_dir, tmp_path):
    url, exp, _ = running
    nn = exp / "nn"
    land(reach_checkpoints[0], tmp_path / "outside.pth")
    os.symlink("loop.pth", nn / "loop.pth")  # loops: stat() raises ELOOP
    os.symlink("nowhere.pth", nn / "dangling.pth")
    os.symlink(tmp_path / "outside.pth", nn / "escape.pth")  # leaves the runs root
    newest = land(reach_checkpoints[-1], nn / reach_checkpoints[-1].name)
    s = wait_for(
        lambda: (st := status(url))["checkpoint"].endswith(newest.name) and st,
        20,
        what="the good newer checkpoint loaded beside the bad links",
    )
    assert s["last_reload_error"] is None
    listed = requests.get(f"{url}/checkpoints", timeout=5)
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()] == [c.name for c in reach_checkpoints[:2]] + [newest.name]
    for link in ("loop.pth", "dangling.pth", "escape.pth"):
        r = api(url).post(f"{url}/pin", json={"checkpoint": f"{exp.name}/nn/{link}"}, timeout=5)
        assert r.status_code == 400 and r.json()["field"] == "checkpoint", (link, r.text)
        assert link in r.json()["error"] and "\n" not in r.json()["error"]
    assert status(url)["pinned"] is None and status(url)["checkpoint"].endswith(newest.name)


def test_interval_pause_resume(running):
    url, _, service = running
    assert api(url).put(f"{url}/reload-interval", json={"seconds": 7}, timeout=5).json()["reload_interval"] == 7
    for body in ({"seconds": -1}, {"seconds": "soon"}, {"seconds": True}, {}):
        r = api(url).put(f"{url}/reload-interval", json=body, timeout=5)
        assert r.status_code == 400 and r.json()["field"] == "seconds"
    r = api(url).put(f"{url}/reload-interval", data='{"seconds": Infinity}', timeout=5)  # as Python writes it
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = api(url).put(f"{url}/reload-interval", json={"seconds": 0.000001}, timeout=5)  # it would spin the reloader
    assert r.status_code == 400 and r.json()["field"] == "seconds" and "0.5" in r.json()["error"]
    assert status(url)["reload_interval"] == 7

    s = api(url).post(f"{url}/pause", timeout=5).json()
    assert s["paused"] and s["state"] == "paused"
    threading.Event().wait(0.2)  # a step already under way when the call came may still finish
    frozen = service.tester.obs.clone()
    threading.Event().wait(0.3)
    assert bool((service.tester.obs == frozen).all())  # paused: the world does not move
    s = api(url).post(f"{url}/resume", timeout=5).json()
    assert not s["paused"] and s["state"] == "running"
    wait_for(lambda: not bool((service.tester.obs == frozen).all()), 10)


def test_a_huge_interval_keeps_hot_reload_alive(running, reach_checkpoints):
    """Any finite interval is accepted (the checkpoint is then kept); reload-now must still act at once."""
    url, exp, _ = running
    assert api(url).put(f"{url}/reload-interval", json={"seconds": 1e300}, timeout=5).status_code == 200
    newest = land(reach_checkpoints[-1], exp / "nn" / reach_checkpoints[-1].name)
    api(url).post(f"{url}/reload", timeout=5)
    wait_for(lambda: status(url)["checkpoint"].endswith(newest.name), 20)
    assert status(url)["last_reload_error"] is None


def test_status_says_where_the_followed_training_stands(running, reach_run):
    url, exp, _ = running
    assert status(url)["training"] is None  # no progress.json (yet): nothing to say
    shutil.copyfile(reach_run / "progress.json", exp / "progress.json")  # what a finished trainer left
    t = wait_for(lambda: status(url)["training"], 10)
    assert (t["state"], t["epoch"], t["max_epochs"]) == ("finished", 12, 12) and t["env_steps"] > 0
    # a trainer still at it, then one that died without a word: its file stops changing
    write_progress(exp, {**t, "state": "training", "updated": time.time(), "epoch_s": 0.5})
    wait_for(lambda: status(url)["training"]["state"] == "training", 10)
    write_progress(exp, {**t, "state": "training", "updated": time.time() - 3600, "epoch_s": 0.5})
    wait_for(lambda: status(url)["training"]["state"] == "stopped", 10)


@pytest.mark.parametrize("running", [("test.control.bind=127.0.0.2", "streamToken=s3cret")], indirect=True)
def test_a_configured_token_guards_control_calls(running):
    url, _, _ = running
    assert requests.get(f"{url}/status", timeout=5).status_code == 200  # reading is open
    r = requests.post(f"{url}/pause", json={}, timeout=5)
    assert r.status_code == 401 and not status(url)["paused"]
    assert r.json() == {"error": TOKEN_ERROR, "field": "Authorization"}  # the streamer's answer too
    r = requests.post(f"{url}/pause", json={}, headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert r.status_code == 401
    r = requests.post(f"{url}/pause", json={}, headers={"Authorization": "Bearer s3cret"}, timeout=5)
    assert r.status_code == 200 and r.json()["paused"]


def test_the_control_api_listens_before_its_tester_is_built_and_answers_503_until_then():
    """build() starts the server first (its URL goes into the tester's status), then serves the tester."""

    class Ready:
        def status(self):
            return {"state": "running"}

    server = ControlServer(None, "127.0.0.1", 0, "s3cret")
    try:
        starting = requests.get(f"{server.url}/status", timeout=5)
        assert starting.status_code == 503 and "starting" in starting.json()["error"]
        clip = requests.get(f"{server.url}/clips/epoch_3.mp4", timeout=5)
        assert clip.status_code == 503 and "starting" in clip.json()["error"]
        server.serve(Ready())
        assert status(server.url) == {"state": "running"}
    finally:
        server.stop()
