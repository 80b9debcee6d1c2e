"""The control token when the streamer listens on all interfaces: in the browser, and from every source
a user can give it (--token, $POLICYCAST_TOKEN, streamToken=)."""

import os
import subprocess

import pytest
import requests

from services.core.cli import command
from services.streamer import start_in_process
from tests.processes import start
from tests.streamer.browsing import until
from tests.streamer.standin import ControlServer, Pusher, StandInTester
from tests.waiting import free_port, wait_for

TOKEN = "t0ken-for-the-browser-test"


def test_the_page_keeps_a_token_from_the_url_and_says_when_one_is_needed(browser):
    from selenium.webdriver.common.by import By

    server, hub = start_in_process(0, bind_all=True, token=TOKEN, announce=False)
    tester = StandInTester("guarded")
    ctl = ControlServer(tester, token=TOKEN)
    pusher = Pusher(server.url, tester, control_url=ctl.url, token=TOKEN, fps=5).start()
    page = f"{server.url}/tester/{tester.id}"
    try:
        # no token in this browser: the control is refused and the page says what to do
        browser.get(page)
        until(browser, lambda d: d.find_element(By.ID, "reloads").text == "0", what="status shown")
        browser.find_element(By.ID, "reload-now").click()
        message = until(browser, lambda d: d.find_element(By.ID, "message").text, what="a message")
        assert "needs the token" in message and "?token=" in message, message
        assert tester.reloads == 0

        # opened once with ?token=: the address bar loses it, the browser keeps it, the controls work
        browser.get(f"{server.url}/?token={TOKEN}")
        until(browser, lambda d: "token" not in d.current_url, what="the token taken out of the URL")
        assert browser.execute_script("return localStorage.getItem('policycast-token')") == TOKEN
        browser.get(page)
        until(browser, lambda d: d.find_element(By.ID, "reloads").text == "0", what="status shown")
        browser.find_element(By.ID, "reload-now").click()
        until(browser, lambda d: d.find_element(By.ID, "reloads").text == "1", what="reload count 1")
        browser.find_element(By.ID, "pause").click()
        until(browser, lambda d: tester.paused, what="paused through the streamer")
        assert browser.find_element(By.ID, "message").text == ""
        assert ctl.auth_seen[-1] == f"Bearer {TOKEN}"  # and forwarded to the tester

        # a wrong saved token says so, instead of failing silently
        browser.execute_script("localStorage.setItem('policycast-token', 'stale')")
        browser.get(page)
        until(browser, lambda d: d.find_element(By.ID, "reloads").text == "1", what="status shown")
        browser.find_element(By.ID, "resume").click()
        message = until(browser, lambda d: d.find_element(By.ID, "message").text, what="a message")
        assert "refused the saved control token" in message and tester.paused
    finally:
        pusher.stop()
        ctl.close()
        server.stop()


def _streamer_command(how, port, runs):
    if how == "streamToken=":
        # the one-process mode: tester + embedded streamer; waiting for a checkpoint is enough here
        return command(
            "train",
            "config=test_stream",
            "test.numEnvs=1",
            checkpoint="latest",
            runsDir=runs,
            streamPort=port,
            streamBindAll="true",
            streamToken=TOKEN,
        ), {}
    args = command("streamer", "--port", port, "--bind-all")
    if how == "--token":
        return args + ["--token", TOKEN], {}
    return args, {"POLICYCAST_TOKEN": TOKEN}


@pytest.mark.parametrize("how", ["--token", "$POLICYCAST_TOKEN", "streamToken="])
def test_every_token_source_guards_the_controls(how, tmp_path):
    port = free_port()
    cmd, extra_env = _streamer_command(how, port, tmp_path / "runs")
    env = {**{k: v for k, v in os.environ.items() if k != "POLICYCAST_TOKEN"}, **extra_env}
    proc = start(cmd, env=env, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:

        def up():
            assert proc.poll() is None, proc.stdout.read()
            try:
                return requests.get(f"{url}/healthz", timeout=2).ok
            except requests.ConnectionError:
                return False

        wait_for(up, 90, step=0.2, what=f"the streamer started with {how}")
        status = {"id": "x", "state": "waiting"}
        assert requests.post(f"{url}/ingest/x/status", json=status, timeout=5).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert requests.post(f"{url}/ingest/x/status", json=status, headers=wrong, timeout=5).status_code == 401
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.post(f"{url}/ingest/x/status", json=status, headers=right, timeout=5).status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert TOKEN not in out  # a given token is never printed (only a generated one is, once)
    assert "?token=" not in out
