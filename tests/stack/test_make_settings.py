"""`make reload-interval=N` without a running stack, bad values, and the remembered settings file."""

import os
import stat
import subprocess
from pathlib import Path

from tests.waiting import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


def make(home, *args, port=None):
    env = {**os.environ, "POLICYCAST_HOME": str(home), "STREAM_PORT": str(port or free_port())}
    return subprocess.run(["make", "-s", "-C", str(ROOT), *args], env=env, capture_output=True, text=True, timeout=120)


def settings(home):
    return dict(
        line.split("=", 1)
        for line in (home / ".policycast.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


def test_reload_interval_without_a_stack_is_remembered(tmp_path):
    done = make(tmp_path, "reload-interval=60")
    assert done.returncode == 0, done.stderr
    assert "remembered reload-interval=60 s for the next `make up`" in done.stdout
    first = settings(tmp_path)
    assert first["RELOAD_INTERVAL"] == "60"
    assert len(first["POLICYCAST_TOKEN"]) >= 16
    assert stat.S_IMODE((tmp_path / ".policycast.env").stat().st_mode) == 0o600  # it holds the token
    assert make(tmp_path, "reload-interval=2.5").returncode == 0
    second = settings(tmp_path)
    assert second["RELOAD_INTERVAL"] == "2.5"
    assert second["POLICYCAST_TOKEN"] == first["POLICYCAST_TOKEN"]  # the token is kept


def test_bad_reload_interval_is_refused_naming_the_key(tmp_path):
    for bad in ("-5", "soon", "0.1"):  # 0.1: below the floor (it would only spin the testers' reloaders)
        done = make(tmp_path, f"reload-interval={bad}")
        assert done.returncode != 0
        assert f"reload-interval='{bad}': expects 0 (keep the first checkpoint) or a number of seconds >= 0.5" in (
            done.stderr
        )
    assert not (tmp_path / ".policycast.env").exists()


def test_plain_make_prints_help(tmp_path):
    done = make(tmp_path)
    assert done.returncode == 0
    assert "make up TASK=Reach" in done.stdout and "make testers EXPERIMENT=latest N=2" in done.stdout


def test_testers_without_a_stack_says_so(tmp_path):
    # a project name of its own: a stack the user runs elsewhere on this machine must not count
    env = {**os.environ, "POLICYCAST_HOME": str(tmp_path), "COMPOSE_PROJECT_NAME": f"pc-none-{os.getpid()}"}
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "testers", "EXPERIMENT=latest", "N=2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "no stack runs here: start one with `make up` first" in done.stderr


def test_reload_interval_sets_every_online_tester_and_names_a_stale_tile(tmp_path, monkeypatch):
    """After scaling down, the tile of a tester that is gone stays until removed: `make reload-interval`
    must still set every online tester and exit 0, naming the stale one instead of failing on it."""
    from services.streamer import hub as hub_module
    from services.streamer import start_in_process
    from tests.streamer.standin import ControlServer, Pusher, StandInTester

    monkeypatch.setattr(hub_module, "OFFLINE_AFTER_S", 1.0)
    (tmp_path / ".policycast.env").write_text("POLICYCAST_TOKEN=the-stacks-token\n")  # what `make up` wrote
    server, hub = start_in_process(0, bind_all=False, token="the-stacks-token", announce=False)
    online, gone = StandInTester("tester-1"), StandInTester("tester-2")
    online_ctl, gone_ctl = ControlServer(online), ControlServer(gone)
    pusher = Pusher(server.url, online, control_url=online_ctl.url, fps=5).start()
    try:
        Pusher(server.url, gone, control_url=gone_ctl.url).push_status()
        gone_ctl.close()  # the tester is gone; its tile stays, offline
        wait_for(lambda: not hub.channel("tester-2").online(), 10, what="the stale tile offline")
        done = make(tmp_path, "reload-interval=60", port=server.port)
    finally:
        pusher.stop()
        online_ctl.close()
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert online.interval == 60 and gone.interval == 30
    assert "tester-1: keeps each checkpoint >= 60.0 s" in done.stdout
    assert "tester-2: offline, skipped" in done.stdout
    assert "reload-interval=60 s set on 1 tester(s) and remembered" in done.stdout
