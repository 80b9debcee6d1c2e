"""Mirrors follow the trainer's own removals and archive moves (real rsync, the real service) — and an
empty or wrong source removes nothing, unlike `--delete`."""

import os
import time

from services.core.archive import tidy
from services.core.retention import REMOVED_FILE, record_removal
from tests.core.test_archive import experiment as old_experiment
from tests.sync.helpers import make_experiment, run_once, wait_for, write_atomic
from tests.sync.test_local import tree


def retire(exp, name):
    """What the trainer's retention does: remove the checkpoint, then record it."""
    path = exp / "nn" / name
    st = path.stat()
    path.unlink()
    record_removal(exp, path, st, "retention")


def mirrored(tmp_path):
    """A source runs/ (a run being trained, an old idle run) and its mirror after one pass."""
    src, dst = tmp_path / "runs", tmp_path / "mirror"
    old = old_experiment(src, "Reach_train_20261101_120000", 7200)
    exp = make_experiment(
        src,
        "Reach_train_20261201_120000",
        {f"last_Reach_ep_{e}_rew_1.00.pth": os.urandom(500 + e) for e in (10, 20, 30)} | {"Reach.pth": b"best"},
    )
    done = run_once("--source", src, "--dest", dst)
    assert done.returncode == 0, done.stderr
    assert tree(dst) == tree(src)
    return src, dst, exp, old


def test_removals_and_archive_moves_reach_the_mirror(tmp_path):
    src, dst, exp, old = mirrored(tmp_path)
    retire(exp, "last_Reach_ep_10_rew_1.00.pth")
    retire(exp, "last_Reach_ep_20_rew_1.00.pth")
    assert tidy(src, "train", keep=1) == [old.name]  # runs/ -> runs_all/, recorded in runs/archived.jsonl

    done = run_once("--source", src, "--dest", dst)

    assert done.returncode == 0, done.stderr
    left = sorted(p.name for p in (dst / exp.name / "nn").iterdir())
    assert left == ["Reach.pth", "last_Reach_ep_30_rew_1.00.pth"]
    assert not (dst / old.name).exists()
    assert tree(tmp_path / "mirror_all" / old.name) == tree(tmp_path / "runs_all" / old.name)  # moved whole
    assert tree(dst) == tree(src)  # the mirror holds what its source holds, no less
    assert "2 removed as the source's retention did, archived Reach_train_20261101_120000" in done.stderr


def test_an_empty_or_wrong_source_removes_nothing(tmp_path):
    src, dst, exp, old = mirrored(tmp_path)
    before = tree(dst)
    empty = tmp_path / "empty"  # an unmounted volume, a fresh trainer volume, a typo'd path
    empty.mkdir()
    assert run_once("--source", empty, "--dest", dst).returncode == 0
    assert tree(dst) == before

    # another machine's runs/: an experiment of the same name whose trainer removed its own files and
    # archived its own old run. Those records name other versions (sizes, mtimes): this mirror's stay.
    other = tmp_path / "other"
    twin = make_experiment(
        other, exp.name, {"last_Reach_ep_10_rew_1.00.pth": b"other bytes", "last_Reach_ep_40_rew_1.00.pth": b"x"}
    )
    retire(twin, "last_Reach_ep_10_rew_1.00.pth")
    other_old = old_experiment(other, old.name, 9000)  # its own run of that name, archived there
    assert tidy(other, "train", keep=1) == [other_old.name]
    (dst / exp.name / "nn" / "mine.pth").write_bytes(b"a user's own file in the mirror")
    done = run_once("--source", other, "--dest", dst)
    assert done.returncode == 0, done.stderr
    assert (dst / exp.name / "nn" / "last_Reach_ep_10_rew_1.00.pth").exists()
    assert (dst / exp.name / "nn" / "mine.pth").exists()
    assert tree(dst / old.name) == tree(src / old.name)  # another experiment's move: this one stays in place
    assert not (tmp_path / "mirror_all").exists()


def test_a_record_for_a_file_the_mirror_never_copied_from_that_source_is_ignored(tmp_path):
    src, dst, exp, _ = mirrored(tmp_path)
    # the mirror's copy was replaced by something else of the same name (a user, another sync)
    write_atomic(dst / exp.name / "nn" / "last_Reach_ep_30_rew_1.00.pth", b"not what the source wrote")
    retire(exp, "last_Reach_ep_30_rew_1.00.pth")
    assert run_once("--source", src, "--dest", dst).returncode == 0
    assert (dst / exp.name / "nn" / "last_Reach_ep_30_rew_1.00.pth").read_bytes() == b"not what the source wrote"
    assert (dst / exp.name / REMOVED_FILE).is_file()


def test_healthz_reports_the_mirrors_size_free_space_and_what_it_followed(tmp_path, sync_process):
    src, dst, exp, _ = mirrored(tmp_path)
    sync = sync_process("--source", src, "--dest", dst, "--interval", "0.5")
    retire(exp, "last_Reach_ep_10_rew_1.00.pth")
    code, body = wait_for(lambda: (h := sync.health())[1]["files_removed"] == 1 and h, 30, what="the removal")
    assert code == 200
    disk = body["disk"]
    assert disk["dest_bytes"] > 1500 and 0 < disk["free_bytes"] <= disk["total_bytes"]
    assert 0 < disk["free_percent"] <= 100
    assert not (dst / exp.name / "nn" / "last_Reach_ep_10_rew_1.00.pth").exists()
    assert "policycast_sync_files_deleted_total 1.0" in sync.metrics()
    assert sync.stop()[0] == 0


def test_a_mirror_copy_a_tester_writes_into_is_archived_only_once_idle(tmp_path, sync_process):
    src, dst, exp, old = mirrored(tmp_path)
    # a tester on this side follows the old run and writes its evaluation into the mirror's copy
    (dst / old.name / "eval").mkdir()
    (dst / old.name / "eval" / "episodes.jsonl").write_text('{"return": 1.0}\n')
    sync = sync_process("--source", src, "--dest", dst, "--interval", "0.5")
    assert tidy(src, "train", keep=1) == [old.name]
    wait_for(lambda: sync.health()[1]["passes"]["ok"] >= 3, 30, what="passes after the archive record")
    assert (dst / old.name / "eval" / "episodes.jsonl").is_file()  # written to within the hour: it stays

    idle = time.time() - 7200  # the tester stopped two hours ago
    for p in (dst / old.name / "eval" / "episodes.jsonl", dst / old.name / "eval", dst / old.name):
        os.utime(p, (idle, idle))
    wait_for(lambda: (tmp_path / "mirror_all" / old.name / "eval" / "episodes.jsonl").is_file(), 30, what="the move")
    assert not (dst / old.name).exists()
    wait_for(lambda: sync.health()[1]["experiments_archived"] == 1, 10, what="the pass recorded")
    assert sync.stop()[0] == 0
