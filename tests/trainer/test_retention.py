"""Disk use of a real training process: checkpoint retention after every save (removals recorded for the
mirrors), the archive of older experiments at start, and the disk figures in progress.json."""

import json

import pytest

from services.core.archive import ARCHIVED_FILE, archive_dir
from services.core.checkpoints import epoch_of, list_checkpoints, load_checkpoint
from services.core.retention import REMOVED_FILE
from services.trainer.keeper import Keeper
from tests.core.test_archive import experiment as old_experiment
from tests.trainer.test_training import leftovers, trained


@pytest.mark.slow
def test_a_fast_saving_run_keeps_best_newest_and_a_thinned_history(runs_dir):
    olds = [old_experiment(runs_dir, f"Reach_train_202611{d:02d}_120000", 7200) for d in (1, 2, 3)]
    exp, _ = trained(
        runs_dir,
        "task=Reach",
        "numEnvs=16",
        "maxIterations=40",
        "train.saveFrequency=1",  # a checkpoint every epoch
        "train.keep.recentMinutes=0",  # no recent window: the history must thin while the test watches
        "train.keep.newest=2",
        "train.keep.history=4",
        "runs.keep=2",
    )

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
def test_low_disk_thins_harder_and_says_so(runs_dir):
    # lowDiskPercent=100: any real disk is "low", so the harder rule applies from the first save
    exp, err = trained(
        runs_dir,
        "task=Reach",
        "numEnvs=16",
        "maxIterations=16",
        "train.saveFrequency=1",
        "train.keep.lowDiskPercent=100",
        "train.keep.history=8",
    )
    epochs = sorted(epoch_of(p) for p in list_checkpoints(exp) if p.name.startswith("last_"))
    # the 2 newest and a quarter of the history (2), no recent window, though the run is seconds old
    assert epochs[-2:] == [15, 16] and len(epochs) <= 4
    assert "disk low:" in err and "under train.keep.lowDiskPercent=100" in err
    progress = json.loads((exp / "progress.json").read_text())
    assert progress["disk"]["low"] is True and progress["disk"]["low_percent"] == 100
    records = [json.loads(line) for line in (exp / REMOVED_FILE).read_text().splitlines()]
    assert records and all(r["why"] == "low disk" for r in records)


def test_retention_off_removes_nothing(tmp_path):
    exp = tmp_path / "runs" / "Reach_train_20261201_120000"
    (exp / "nn").mkdir(parents=True)
    for e in range(1, 40):
        (exp / "nn" / f"last_Reach_ep_{e}_rew_1.00.pth").write_bytes(b"w")
    keeper = Keeper(exp, tmp_path / "runs", policy=None)  # train.keep.enabled=false
    keeper.saved(exp / "nn" / "last_Reach_ep_39_rew_1.00.pth")
    keeper.measure()
    assert len(list((exp / "nn").iterdir())) == 39 and not (exp / REMOVED_FILE).exists()
    assert keeper.report()["checkpoints"] == {
        "kept": 39,
        "bytes": 39,
        "removed": 0,
        "budget_bytes": None,
        "retention": False,
    }
