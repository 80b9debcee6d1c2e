"""rl_games' checkpoint writes go through policycast's atomic save and load with weights_only=True."""

import numpy as np
import pytest
import torch
from rl_games.algos_torch import torch_ext

from services.core.checkpoints import epoch_of, load_checkpoint
from services.trainer.rlgames_io import checkpoint_path, patched_checkpoint_io


def rl_games_like_state():
    """What A2CAgent.get_full_state_weights() returns: numpy scalars included."""
    return {
        "model": {
            "_orig_mod.a2c_network.mu.weight": torch.randn(3, 4),
            "running_mean_std.running_mean": torch.zeros(4),
        },
        "epoch": 7,
        "frame": 3584,
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]},
        "last_mean_rewards": np.float32(12.345678),
        "env_state": None,
    }


@pytest.mark.parametrize(
    "rl_games_name, expected",
    [
        ("nn/last_Reach_ep_9_rew_12.345678", "nn/last_Reach_ep_9_rew_12.35.pth"),  # periodic: str(np.float32)
        ("nn/last_Reach_ep_12_rew__-3.5_", "nn/last_Reach_ep_12_rew_-3.50.pth"),  # final: str(array), [] -> _
        ("nn/last_Reach_ep_1_rew_-inf", "nn/last_Reach_ep_1_rew_-inf.pth"),  # no episode had finished
        ("nn/Reach", "nn/Reach.pth"),  # best
    ],
)
def test_rl_games_names_become_one_spelling(rl_games_name, expected):
    assert str(checkpoint_path(rl_games_name)) == expected


def test_patched_save_is_atomic_and_loads_with_plain_weights_only(tmp_path):
    target = tmp_path / "nn" / "last_Reach_ep_7_rew_12.345678"
    with patched_checkpoint_io():
        torch_ext.save_checkpoint(str(target), rl_games_like_state())  # what A2CAgent.save calls
    files = sorted(p.name for p in (tmp_path / "nn").iterdir())
    assert files == ["last_Reach_ep_7_rew_12.35.pth"]  # no temp file left beside it
    path = tmp_path / "nn" / files[0]
    # Plain torch, no allow-list: the numpy scalar was written as a Python float.
    state = torch.load(path, weights_only=True)
    assert state["last_mean_rewards"] == pytest.approx(12.345678, rel=1e-6)
    assert type(state["last_mean_rewards"]) is float
    assert list(state["model"]) == ["a2c_network.mu.weight", "running_mean_std.running_mean"]
    assert load_checkpoint(path)["epoch"] == 7 and epoch_of(path) == 7
    # And rl_games' own loader (used by restore) now reads through the safe loader too.
    with patched_checkpoint_io():
        assert torch_ext.load_checkpoint(str(path))["frame"] == 3584
    assert torch_ext.save_checkpoint.__module__ == "rl_games.algos_torch.torch_ext"  # unpatched after


def test_unpatched_rl_games_file_is_refused_by_plain_weights_only(tmp_path):
    """Why the patch exists: rl_games' own save leaves a numpy scalar that weights_only refuses."""
    path = tmp_path / "raw.pth"
    torch.save(rl_games_like_state(), path)
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        torch.load(path, weights_only=True)
