"""bench/stream_strip.py against a real dashboard and tester (`train.py config=test_stream`): a fresh frame
per capture — the tester renders only while read, and idles between captures 8 s apart, so its last frame
is old when a capture begins — each showing the checkpoint its caption names (one lands while the tester
idles: its last frame shows the checkpoint before), and a strip with one panel per capture."""

import json
import sys

import cv2
import numpy as np
import pytest

from services.core.checkpoints import epoch_of
from services.core.experiments import create_experiment
from services.tester.frames import frame_comment
from tests.processes import start
from tests.streaming import StreamingTester
from tests.tester.helpers import land
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


def test_the_strip_has_a_fresh_frame_per_capture_showing_what_its_caption_says(reach_run, runs_dir, tmp_path):
    saved = sorted((reach_run / "nn").glob("last_*.pth"), key=epoch_of)
    first, newest = saved[0], saved[-1]
    exp = create_experiment(runs_dir, "Reach", "train")
    land(first, exp / "nn" / first.name)
    out = tmp_path / "strip"
    # no clips: a clip after each swap would make the tester render while nobody reads
    log, off = tmp_path / "tester.log", ("test.view3d.enabled=false", "test.clips.enabled=false")
    with StreamingTester("strip", runs_dir, log, *off, reloadInterval=1) as t:
        t.wait(lambda s: s["state"] == "running", what="the tester playing its first checkpoint")
        watch = ["--url", t.url, "--minutes", "0.4", "--every", "8", "--columns", "4", "--panel-width", "160"]
        proc = start([sys.executable, "bench/stream_strip.py", *watch, "--out", str(out)])
        try:
            # a newer checkpoint lands once the tester idles after the first capture: its newest frame
            # then shows the checkpoint before, and the next capture must wait for a frame of the new one
            wait_for(lambda: (out / "status.jsonl").exists(), 60, step=0.1, what="the first capture")
            t.wait(lambda s: s["rendering"] is False, 8, "the tester idle after the first capture")
            land(newest, exp / "nn" / newest.name)
            stdout, stderr = proc.communicate(timeout=90)
        finally:
            proc.kill()
    assert proc.returncode == 0, stdout + stderr

    records = [json.loads(line) for line in (out / "status.jsonl").read_text().splitlines()]
    assert [r["at_s"] for r in records] == [0, 8, 16, 24]
    assert all(r["fresh"] == {"strip": True} for r in records), [r["fresh"] for r in records]
    jpegs = [(out / r["frames"]["strip"]).read_bytes() for r in records]
    assert [r["frames"]["strip"] for r in records] == [f"strip/00-{s:02d}.jpg" for s in (0, 8, 16, 24)]
    assert len(set(jpegs)) == 4  # four different pictures, none repeated from the capture before
    shown = []
    for record, jpeg in zip(records, jpegs):
        tile = next(x for x in record["testers"] if x["id"] == "strip")
        said = frame_comment(jpeg)
        assert said["state"] == "running" and said["epoch"] == str(tile["epoch"]), (said, tile["epoch"])
        shown.append(tile["epoch"])
    assert shown[0] == epoch_of(first) and shown[-1] == epoch_of(newest), shown

    # the strip: one panel per capture, in time order, each its own frame
    strip = cv2.imread(str(out / "strip.jpg"))
    panels = json.loads((out / "strip.json").read_text())["panels"]
    assert [p["at"] for p in panels] == ["0:00", "0:08", "0:16", "0:24"]
    assert [p["epoch"] for p in panels] == shown
    for p, jpeg in zip(panels, jpegs):
        x, y, w, h = p["box"]
        frame = cv2.resize(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), (w, h), cv2.INTER_AREA)
        diff = np.abs(strip[y : y + h, x : x + w].astype(int) - frame.astype(int)).mean()
        assert diff < 8, (p["at"], diff)
    assert stdout.splitlines()[-2].split()[:3] == ["0:24", "strip", str(epoch_of(newest))]  # the table's last row
