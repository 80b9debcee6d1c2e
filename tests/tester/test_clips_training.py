"""A short Reach training with a tester in the loop: a playable clip for every checkpoint the tester loaded,
at most `keep` kept (the first and the newest among them), each with its sidecar JSON."""

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from services.core.cli import command
from tests.tester.helpers import wait_for
from tests.tester.test_clips import EPISODE, complete_clips

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


LAST = 24  # the training's last epoch


def test_training_with_a_tester_in_the_loop_leaves_a_clip_per_loaded_checkpoint(tmp_path):
    runs = tmp_path / "runs"
    # Seeded evaluation of one episode: each checkpoint swapped in resets the worlds and is kept until world
    # 0's episode is done, so every checkpoint the tester loads is recorded (and some that land meanwhile
    # are skipped: the newest wins).
    tester = subprocess.Popen(
        command(
            "tester",
            "test.eval.episodes=1",
            "test.realtime=false",
            "test.id=loop",
            "test.clips.keep=2",
            "test.render.width=160",
            "test.render.height=120",
            checkpoint="latest",
            runsDir=runs,
            reloadInterval=0.1,
            numEnvs=1,
        ),
        cwd=ROOT,
        stdout=open(tmp_path / "tester.log", "w"),
        stderr=subprocess.STDOUT,
    )
    train = None
    try:
        # the tester first: it waits for the run, and is ready when the first checkpoint lands
        wait_for(
            lambda: "control API on" in (tmp_path / "tester.log").read_text(), 120, step=0.2, what="the tester started"
        )
        train = subprocess.Popen(
            command(
                "train",
                "config=train_headless",
                "train.saveFrequency=2",
                task="Reach",
                maxIterations=LAST,
                numEnvs=32,  # epochs long enough that the tester loads several checkpoints on a fast machine
                runsDir=runs,
            ),
            cwd=ROOT,
            stdout=open(tmp_path / "train.log", "w"),
            stderr=subprocess.STDOUT,
        )
        assert train.wait(timeout=600) == 0, (tmp_path / "train.log").read_text()[-3000:]
        exp = (runs / "latest_train").resolve()

        def evaluated():
            assert tester.poll() is None, (tmp_path / "tester.log").read_text()[-3000:]
            rows = exp / "eval" / "loop" / "evaluations.jsonl"
            epochs = [json.loads(line)["epoch"] for line in rows.read_text().splitlines()] if rows.exists() else []
            return LAST in epochs and epochs

        epochs = wait_for(evaluated, 180, step=0.2, what=f"the tester evaluating the last checkpoint (epoch {LAST})")
        wait_for(
            lambda: f"clip epoch_{LAST}.mp4" in (tmp_path / "tester.log").read_text(),
            60,
            what="the last checkpoint's clip",
        )
    finally:
        for proc in (train, tester):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
    log = (tmp_path / "tester.log").read_text()
    loaded = [int(e) for e in re.findall(r"reload .* \(epoch (\d+), load", log)]
    recorded = [int(e) for e in re.findall(r"clip epoch_(\d+)\.mp4", log)]
    assert len(loaded) >= 3 and loaded == epochs == recorded, (loaded, epochs, recorded)

    folder = exp / "eval" / "loop" / "clips"
    clips = complete_clips(folder)  # each decodes whole, frame count as its sidecar says
    kept = sorted(c["epoch"] for c in clips)
    assert kept == [loaded[0], LAST], (kept, loaded)  # keep=2 of >= 3: the first and the newest
    lines = (exp / "eval" / "loop" / "evaluations.jsonl").read_text().splitlines()
    rows = {row["epoch"]: row for row in map(json.loads, lines)}
    for c in clips:  # the recorded episode is the evaluated one: its figures are the row's
        assert c["length"] == EPISODE and c["frames"] == EPISODE // 2 and c["tester"] == "loop"
        assert c["return"] == pytest.approx(rows[c["epoch"]]["mean_return"], abs=1e-4)
        assert c["success"] == (rows[c["epoch"]]["success_rate"] == 1.0)
        assert c["checkpoint"].endswith(".pth") and c["experiment"] == exp.name
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
