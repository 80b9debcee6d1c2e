"""Disk use of a real training process: checkpoint retention after every save (removals recorded for the
mirrors), the archive of older experiments at start, and the disk figures in progress.json."""

import json

import pytest

from services.core.archive import ARCHIVED_FILE, archive_dir
from services.core.checkpoints import epoch_of, list_checkpoints, load_checkpoint
from services.core.retention import REMOVED_FILE
from tests.core.test_archive import experiment as old_experiment
from tests.trainer.test_training import leftovers, trainer


@pytest.mark.slow
def test_a_fast_saving_run_keeps_best_newest_and_a_thinned_history(runs_dir):
    olds = [old_experiment(runs_dir, f"Reach_train_202611{d:02d}_120000", 7200) for d in (1, 2, 3)]
    proc = trainer(
        "task=Reach",
        "numEnvs=16",
        "maxIterations=40",
        "train.saveFrequency=1",  # a checkpoint every epoch
        "train.keep.recentMinutes=0",  # no recent window: the history must thin while the test watches
        "train.keep.newest=2",
        "train.keep.history=4",
        "runs.keep=2",
        f"runsDir={runs_dir}",
    )
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    exp = (runs_dir / "latest_train").resolve()

    names = [p.name for p in list_checkpoints(exp)]
    epochs = sorted(epoch_of(n) for n in names if n.startswith("last_"))
    assert "Reach.pth" in names and leftovers(exp / "nn") == []  # the best, and no temp file
    assert epochs[-2:] == [39, 40] and len(epochs) <= 2 + 4  # the newest and a 4-point history
    first_saved = min(epochs)
    assert first_saved <= 5  # the run's first checkpoint is part of the history
    for path in list_checkpoints(exp):
        load_checkpoint(path)  # what stays is whole

    # every removal recorded, after the fact, with the version a mirror must match before it follows
    records = [json.loads(line) for line in (exp / REMOVED_FILE).read_text().splitlines()]
    removed = {r["file"] for r in records}
    assert len(records) == len(removed) >= 30 - len(epochs)
    assert not any((exp / f).exists() for f in removed)
    assert all(r["file"].startswith("nn/last_Reach_ep_") and r["size"] > 0 and r["mtime_ns"] > 0 for r in records)
    assert len(removed) + len(epochs) == len({epoch_of(f) for f in removed} | set(epochs))

    progress = json.loads((exp / "progress.json").read_text())
    kept = progress["checkpoints"]
    assert kept["kept"] == len(names) and kept["removed"] == len(records) and kept["retention"]
    assert kept["bytes"] == sum(p.stat().st_size for p in list_checkpoints(exp))
    disk = progress["disk"]
    assert disk["runs_bytes"] > kept["bytes"] and 0 < disk["free_bytes"] <= disk["total_bytes"]
    assert disk["low"] is False and disk["low_percent"] == 10 and 0 < disk["free_percent"] <= 100

    # at start the two oldest of the runs before it moved to runs_all/ (runs.keep=2: this one and the newest)
    archived = archive_dir(runs_dir)
    assert sorted(p.name for p in archived.iterdir()) == [olds[0].name, olds[1].name]
    assert olds[2].is_dir() and (runs_dir / ARCHIVED_FILE).is_file()
    assert "archive: moved 2 older experiment(s) to runs_all/" in (exp / "train.log").read_text()


@pytest.mark.slow
def test_retention_off_keeps_every_checkpoint(runs_dir):
    proc = trainer(
        "task=Reach",
        "numEnvs=16",
        "maxIterations=12",
        "train.saveFrequency=1",
        "train.keep.enabled=false",
        "train.keep.recentMinutes=0",
        "train.keep.history=1",
        f"runsDir={runs_dir}",
    )
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    exp = (runs_dir / "latest_train").resolve()
    epochs = sorted(epoch_of(p) for p in list_checkpoints(exp) if p.name.startswith("last_"))
    assert len(epochs) >= 9 and epochs[-1] == 12 and not (exp / REMOVED_FILE).exists()
    progress = json.loads((exp / "progress.json").read_text())
    assert progress["checkpoints"]["retention"] is False
    assert progress["checkpoints"]["kept"] == len(list_checkpoints(exp))
