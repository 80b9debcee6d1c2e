"""Render on demand, on real processes: a tester renders and encodes frames only while something reads
them (an MJPEG viewer, a dashboard's snapshot tile), and keeps playing when nothing does."""

import subprocess
import time
from pathlib import Path

import requests

from services.core.cli import command
from services.streamer.mjpeg import read_parts
from services.tester.frames import frame_comment
from tests.processes import stop
from tests.tester.helpers import wait_for
from tests.waiting import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_a_tester_renders_only_while_its_frames_are_read(runs_dir, new_run, reach_checkpoints, tmp_path):
    new_run(reach_checkpoints[-1])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = [open(tmp_path / name, "w") for name in ("streamer.log", "tester.log")]
    streamer = subprocess.Popen(
        command("streamer", "--port", port),
        cwd=ROOT,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    tester = subprocess.Popen(
        command(
            "tester",
            "test.id=lazy",
            f"test.streamerUrl={url}",
            "test.render.width=320",
            "test.render.height=240",
            runsDir=runs_dir,
            numEnvs=2,
        ),
        cwd=ROOT,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )

    def status():
        try:
            r = requests.get(f"{url}/api/testers/lazy", timeout=5)
        except requests.ConnectionError:
            return {}
        return r.json() if r.status_code == 200 else {}

    def played(more: int):
        """Wait until `more` episodes finished beyond now: the tester steps on (its status says so)."""
        start = status()["episodes"]
        wait_for(lambda: status()["episodes"] >= start + more, timeout=60, what=f"{more} more episodes")

    try:
        # nobody watches: once the streamer said so (its first answers), no frame is made
        wait_for(
            lambda: status().get("epoch") is not None and status().get("rendering") is False,
            timeout=120,
            what="the tester running, not rendering",
        )
        played(1)  # a frame that was under way has landed by now
        before = status()
        played(2)
        after = status()
        assert after["frames_received"] == before["frames_received"], (before, after)
        assert after["readers"] == 0 and after["fps"] == 0.0

        # an MJPEG viewer: fresh frames of the running policy come, within a bounded wait
        with requests.get(f"{url}/stream/lazy", stream=True, timeout=30) as viewer:
            parts = read_parts(viewer.iter_content(8192))
            seqs = [next(parts) for _ in range(5)]
            assert all(frame_comment(jpeg)["state"] == "running" for _, jpeg in seqs)
            assert len({seq for seq, _ in seqs}) == 5
            wait_for(
                lambda: status().get("rendering") is True and status().get("readers") == 1,
                timeout=10,
                what="the tester saying it renders for 1 reader",
            )
        wait_for(lambda: status().get("rendering") is False, timeout=15, what="rendering stopped again")

        # a dashboard's snapshot tile is a reader too: polled twice a second, it gets new frames
        quiet = status()["frames_received"]
        deadline = time.monotonic() + 30
        while status()["frames_received"] < quiet + 3 and time.monotonic() < deadline:
            requests.get(f"{url}/snapshot/lazy?reader=tile-page&t={time.monotonic()}", timeout=5)
            time.sleep(0.5)
        assert status()["frames_received"] >= quiet + 3, "a polled snapshot tile did not wake the tester"
    finally:
        stop(tester, streamer)
        for f in logs:
            f.close()
    assert tester.returncode == 0, (tmp_path / "tester.log").read_text()[-3000:]
