"""`make ps`'s disk lines, from a real progress.json (as the trainer's keeper writes it) and a real sync
process's /healthz."""

from services.core.experiments import create_experiment, write_progress
from services.core.retention import Policy
from services.stack import disk
from services.trainer.keeper import Keeper
from tests.sync.helpers import sync_process  # noqa: F401 (fixture)
from tests.waiting import wait_for


def test_ps_shows_the_trainers_runs_and_the_mirror_with_free_space(tmp_path, sync_process):  # noqa: F811
    runs, mirror = tmp_path / "runs", tmp_path / "runs-shared"
    exp = create_experiment(runs, "Reach", "train")
    (exp / "nn" / "last_Reach_ep_10_rew_1.00.pth").write_bytes(b"w" * 300_000)
    keeper = Keeper(exp, runs, Policy())
    keeper.apply()
    keeper.measure()
    write_progress(exp, {"state": "training", "epoch": 10, **keeper.report()})
    sync = sync_process("--source", runs, "--dest", mirror, "--interval", "0.5")
    wait_for(lambda: sync.health()[1]["disk"] and sync.health()[1]["disk"]["dest_bytes"] > 300_000, 30, what="a pass")

    trainer_line, mirror_line = disk.local(runs, sync.port)

    assert trainer_line.startswith("disk  trainer runs 29") and "1 checkpoints, 293.0 KB, 0 removed" in trainer_line
    assert "free (" in trainer_line and "LOW DISK" not in trainer_line
    assert mirror_line.startswith("disk  sync mirror 29") and "0 removed, 0 archived as the source did" in mirror_line
    low = {"runs_bytes": 1, "free_bytes": 1, "total_bytes": 100, "free_percent": 1.0, "low": True, "low_percent": 10}
    assert "LOW DISK: under 10 %" in disk.lines({"disk": low}, None)[0]
    assert disk.lines(None, None) == []
