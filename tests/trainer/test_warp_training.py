"""PPO on the warp backend (Warp's CPU device here) writes checkpoints the CPU tester plays and hot-reloads."""

import pytest

from tests.watching import train_while_a_tester_watches

pytest.importorskip("mujoco_warp")


@pytest.mark.slow
def test_a_warp_trained_policy_plays_on_the_cpu_tester(runs_dir):
    status, log = train_while_a_tester_watches(runs_dir, "Reach", ["backend=warp", "device=cpu"])
    assert "physics WarpPhysics on cpu" in log
    assert status["reloads"] >= 1 and status["task"] == "Reach" and status["last_reload_error"] is None
    assert set(status["reward_terms"]) == {"distance", "closeBonus", "actionRate"}
