"""BlindGrasping with the ADROIT hand: trains, checkpoints, hot-reloads; a tester of its run takes the hand from it."""

import pytest

from services.core.cli import command
from tests.processes import run
from tests.watching import train_while_a_tester_watches


@pytest.mark.slow
def test_adroit_blind_grasping_trains_and_hot_reloads(runs_dir):
    status, log = train_while_a_tester_watches(
        runs_dir, "BlindGrasping", ["task.hand=adroit"], tester_args=["task.hand=adroit"]
    )
    assert status["reloads"] >= 1 and status["last_reload_error"] is None
    assert "hold" in status["reward_terms"]
    experiment = (runs_dir / "latest_train").resolve()
    assert "hand: adroit" in (experiment / "config.yaml").read_text()

    # a tester started on that run without naming the hand plays it with ADROIT (30 actions, not 20)
    done = run(
        command(
            "train",
            "config=test",
            "test.numEnvs=1",
            "test.realtime=false",
            checkpoint=experiment.name,
            testGamesNum=1,
            runsDir=runs_dir,
        ),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "playing task=BlindGrasping (task.hand=adroit)" in done.stderr
    assert "test summary: episodes 1" in done.stdout + done.stderr
