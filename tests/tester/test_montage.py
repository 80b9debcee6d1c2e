"""The montage CLI on a real training run: one labelled segment per chosen checkpoint, in one video."""

import json
import math
from pathlib import Path

import numpy as np

from services.core.checkpoints import epoch_of, list_checkpoints
from services.core.cli import command
from tests.processes import run
from tests.tester.helpers import copy_run
from tests.tester.test_clips import decoded


def montage(*args):
    return run(command("tester.montage", *args, "--width", 160, "--height", 120), timeout=300)


def test_a_sequence_and_a_grid_of_chosen_checkpoints(tmp_path, reach_run):
    runs = tmp_path / "runs"
    exp = copy_run(reach_run, runs)
    epochs = sorted(epoch_of(p) for p in list_checkpoints(exp) if epoch_of(p) is not None)
    assert len(epochs) >= 3, epochs

    done = montage(exp.name[:12], "--runs-dir", str(runs), "--count", str(len(epochs) - 1))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "100%" in done.stderr  # the progress bar ran to its end
    video = exp / "eval" / "montage" / "montage_sequence.mp4"
    meta = json.loads(video.with_suffix(".json").read_text())
    chosen = [s["epoch"] for s in meta["segments"]]
    assert len(chosen) == len(epochs) - 1 and chosen[0] == epochs[0] and chosen[-1] == epochs[-1]  # first, last
    frames = decoded(video)
    assert len(frames) == sum(round(25 * (s["end_s"] - s["start_s"])) for s in meta["segments"])
    # each segment opens with its title card: a dark frame with its label, different for each checkpoint
    dark = [f.mean() < 40 for f in frames]
    starts = [i for i, d in enumerate(dark) if d and (i == 0 or not dark[i - 1])]
    assert starts == [round(25 * s["start_s"]) for s in meta["segments"]]
    cards = [frames[i].astype(int) for i in starts]
    assert all((c > 180).mean() > 0.002 for c in cards)  # white text on each card
    assert all(np.abs(a - b).mean() > 0.5 for a, b in zip(cards, cards[1:]))  # ...saying different things
    for s in meta["segments"]:
        assert s["length"] == 100 and isinstance(s["success"], bool) and s["checkpoint"].endswith(".pth")
        scene = frames[round(25 * s["start_s"]) + 25]  # inside the episode: the scene, not a card
        assert scene.mean() > 60

    out = tmp_path / "talk" / "grid.webm"
    done = montage(str(exp), "--runs-dir", str(runs), "--every", "2", "--layout", "grid", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads(out.with_suffix(".json").read_text())
    every = epochs[::2] + ([epochs[-1]] if epochs[::2][-1] != epochs[-1] else [])  # and the newest
    assert [s["epoch"] for s in meta["segments"]] == every
    tiles = [tuple(s["tile"]) for s in meta["segments"]]
    assert len(set(tiles)) == len(tiles)  # one tile each, side by side
    cols = math.ceil(math.sqrt(len(every)))
    frames = decoded(out)
    assert len(frames) == 50 and frames[0].shape == (120 // cols * math.ceil(len(every) / cols), 160 // cols * cols, 3)
    assert all(w == 160 // cols and h == 120 // cols for _, _, w, h in tiles)

    refused = montage("NoSuchRun", "--runs-dir", str(runs))
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1


def test_count_spreads_over_the_runs_epochs_after_retention_thinned_its_history():

    from services.tester.montage import choose

    # what retention leaves of a long run: a sparse old history, dense recent checkpoints
    kept = [Path(f"nn/last_Reach_ep_{e}_rew_1.00.pth") for e in (10, 2500, 5000, 8800, 9400, 9700, 9900, 9990, 10000)]
    chosen = [int(p.name.split("_ep_")[1].split("_")[0]) for p in choose(kept, count=4)]
    assert chosen == [10, 2500, 5000, 10000]
    assert choose(kept, count=20) == kept and choose(kept, every=4)[-1] == kept[-1]
