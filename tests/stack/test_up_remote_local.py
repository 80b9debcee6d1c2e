"""`make up-remote`: no local trainer; sync mirrors runs from elsewhere, testers follow them (local runtime).

The "server" here is a directory (an SSH source `user@server:/path/runs` goes through the same sync)."""

import json
import os
import shutil
import subprocess

import pytest

from .e2e import ROOT, Stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_up_remote_tests_and_streams_what_the_server_trains(tmp_path, reach_run):
    server = tmp_path / "server" / "runs"
    shutil.copytree(reach_run, server / reach_run.name)
    os.symlink(reach_run.name, server / "latest_train")
    home = tmp_path / "home"
    home.mkdir()
    stack = Stack(home, RUNTIME="local")
    stack.out = open(stack.log, "w")
    up = subprocess.Popen(
        ["make", "-s", "-C", str(ROOT), "up-remote", f"SYNC_SOURCE={server}/", "reload-interval=1"],
        env=stack.env,
        stdout=stack.out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        first = stack.wait(
            "a tester on the server's experiment",
            lambda: [t for t in stack.online() if t.get("experiment") == reach_run.name and t.get("checkpoint")],
        )
        names = {p["name"] for p in json.loads((home / ".policycast/local-stack.json").read_text())["procs"]}
        assert names == {"sync", "streamer", "tester-1"}  # no trainer here
        # the server's progress.json is mirrored too: the dashboard says where that training stands
        training = stack.wait(
            "the server's training progress",
            lambda: first[0]["training"] or next((t["training"] for t in stack.online() if t.get("training")), None),
        )
        assert (training["state"], training["epoch"], training["max_epochs"]) == ("finished", 12, 12)
        # the server writes a newer checkpoint (atomically, as the trainer does): the tester moves to it
        nn = server / reach_run.name / "nn"
        newest = max(nn.glob("*.pth"), key=lambda p: p.stat().st_mtime)
        tmp = nn / ".last_Reach_ep_999_rew_0.00.pth.x.tmp"
        shutil.copyfile(newest, tmp)
        os.replace(tmp, nn / "last_Reach_ep_999_rew_0.00.pth")
        stack.wait(
            "the tester on the new checkpoint",
            lambda: any(t["checkpoint"].endswith("last_Reach_ep_999_rew_0.00.pth") for t in stack.online()),
            timeout=120,
        )
        assert first[0]["id"] == "tester-1"
        assert stack.make("down", timeout=120).returncode == 0
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:
            os.killpg(up.pid, 15)
            up.wait(60)
