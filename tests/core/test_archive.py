"""The experiment archive: runs/ keeps the newest experiments of each kind, older ones move whole to
runs_all/ — never one a latest_* link points at, one written to in the last hour, or one marked kept —
and `checkpoint=` still finds what moved."""

import json
import os
import time
from pathlib import Path

import pytest

from services.core.archive import ARCHIVED_FILE, archive_dir, tidy
from services.core.checkpoints import ResolveError, resolve
from services.core.cli import command
from services.core.experiments import update_latest_link
from tests.processes import run

HOURS = 3600


def experiment(runs: Path, name: str, age_s: float) -> Path:
    """An experiment with a checkpoint and a log, every file and folder last written `age_s` ago."""
    exp = runs / name
    (exp / "nn").mkdir(parents=True)
    (exp / "nn" / "last_Reach_ep_10_rew_1.00.pth").write_bytes(b"weights")
    (exp / "train.log").write_text("epoch 10\n")
    (exp / "config.yaml").write_text(f"task: {{name: Reach}}\nrun: {name}\n")
    when = time.time() - age_s
    for p in [*exp.rglob("*"), exp]:
        os.utime(p, (when, when))
    return exp


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink()} if folder.is_dir() else set()


@pytest.fixture
def crowded(runs_dir):
    """15 training runs, a day apart, all idle for 2+ hours, and 3 test experiments."""
    exps = [experiment(runs_dir, f"Reach_train_202611{d:02d}_120000", 2 * HOURS + d) for d in range(1, 16)]
    for d in range(1, 4):
        experiment(runs_dir, f"Reach_test_202611{d:02d}_130000", 2 * HOURS)
    update_latest_link(runs_dir, exps[-1], "train")
    return exps


def test_older_runs_move_whole_to_runs_all_newest_kept(runs_dir, crowded):
    moved = tidy(runs_dir, "train", keep=10)

    archive = archive_dir(runs_dir)
    assert archive == runs_dir.parent / "runs_all"
    assert sorted(moved) == [e.name for e in crowded[:5]]  # the 5 oldest
    assert names(archive) == set(moved)
    assert (archive / moved[0] / "nn" / "last_Reach_ep_10_rew_1.00.pth").read_bytes() == b"weights"
    assert {e.name for e in crowded[5:]} <= names(runs_dir)
    assert sum(1 for n in names(runs_dir) if "_test_" in n) == 3  # a trainer never moves testers' experiments
    records = [json.loads(line) for line in (runs_dir / ARCHIVED_FILE).read_text().splitlines()]
    assert [r["experiment"] for r in records] == moved  # what sync follows in the mirrors
    assert tidy(runs_dir, "train", keep=10) == []  # nothing left to do


def test_never_moved_linked_recent_or_kept(runs_dir, crowded):
    linked, recent, kept = crowded[0], crowded[1], crowded[2]
    update_latest_link(runs_dir, linked, "test")  # e.g. a tester's latest_test left on an old run
    (recent / "eval").mkdir()  # a tester on another node wrote its eval there minutes ago
    (recent / "eval" / "episodes.jsonl").write_text("{}\n")
    done = run(
        command("core.archive", "keep", runs_dir, kept.name), timeout=120
    )  # what `make keep EXPERIMENT=...` runs
    assert done.returncode == 0, done.stderr
    assert "kept" in done.stdout and (kept / "KEPT").is_file()

    moved = tidy(runs_dir, "train", keep=10)

    assert sorted(moved) == [e.name for e in crowded[3:5]]
    assert {linked.name, recent.name, kept.name} <= names(runs_dir)


def test_tidy_with_keep_null_moves_nothing(runs_dir, crowded):
    assert tidy(runs_dir, "train", keep=None) == [] and len(names(runs_dir)) == 18


def test_checkpoint_spec_finds_an_archived_experiment(runs_dir, crowded):
    tidy(runs_dir, "train", keep=10)
    old = archive_dir(runs_dir) / crowded[0].name

    by_part = resolve("train_20261101", runs_dir)  # a unique part of its name
    by_name = resolve(crowded[0].name, runs_dir)
    by_path = resolve(f"{crowded[0].name}/nn/last_Reach_ep_10_rew_1.00.pth", runs_dir)

    assert by_part.experiment == by_name.experiment == old.resolve()
    assert by_part.checkpoint == old.resolve() / "nn" / "last_Reach_ep_10_rew_1.00.pth"
    assert by_path.checkpoint == by_part.checkpoint
    # a part that matches in runs/ means the experiment a user sees there
    assert resolve("train_20261115", runs_dir).experiment == crowded[-1].resolve()
    with pytest.raises(ResolveError, match="5 more in runs_all/"):
        resolve("nothing_like_this", runs_dir)
