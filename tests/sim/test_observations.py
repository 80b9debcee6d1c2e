"""Named observation pieces: sizes read off the tensors, and the layout every saved checkpoint was trained on.

`OLD_*` below are frozen copies of the observation code as it was before the pieces had names (an
unnamed `torch.cat`, its size summed by hand): the same world state must give the same tensor, bit for
bit, so a checkpoint trained before plays exactly as it did.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from services.sim import make_env
from services.sim.tasks.observations import Layout
from tests.sim.helpers import task_cfg


def old_reach_observe(t, step):
    s = t.state
    return torch.cat(
        [
            t.joint_pos(),
            torch.clamp(s.qvel[:, t.v_adr[:6]] * 0.2, -5, 5),
            torch.clamp((t.target - t.centroid()) / 0.1, -5, 5),
            (t.target - t.nominal) / 0.1,
        ],
        dim=1,
    )


def old_grasp_observe(t, step):
    s = t.state
    targets = 2.0 * (t.targets - t.ctrl_lo) / (t.ctrl_hi - t.ctrl_lo) - 1.0
    return torch.cat(
        [
            t.joint_pos(),
            torch.clamp(s.qvel[:, t.v_adr] * 0.1, -5, 5),
            t.touch(),
            t.prev_actions,
            targets,
            (step / t.episode_length).to(t.dtype)[:, None],
            F.one_hot(t.stage, 3).to(t.dtype),
        ],
        dim=1,
    )


def old_grasp_states(t, step):
    s, box = t.state, t.box_pos()
    q, v = t.box_q, t.box_v
    palm = s.site_xpos[:, t.palm_site]
    tips = t.fingertips() - box[:, None, :]
    return torch.cat(
        [
            old_grasp_observe(t, step),
            (box - palm) / 0.1,
            (t.box_lift()[:, None] / t.lift_height).clamp(-1, 2),
            torch.clamp(s.qvel[:, v : v + 6] * 0.2, -5, 5),
            s.qpos[:, q + 3 : q + 7],
            (box[:, :2] - t.box_start[:, :2]) / 0.1,
            tips.reshape(len(box), -1) / 0.1,
            t.box_contacts().to(t.dtype),
            (t.stage_steps.to(t.dtype) / t.timeouts[t.stage])[:, None],
        ],
        dim=1,
    )


OLD = {  # task -> (observe, states, num_obs, num_states) as they were
    "Reach": (old_reach_observe, None, lambda nu: nu + 6 + 3 + 3, None),
    "BlindGrasping": (old_grasp_observe, old_grasp_states, lambda nu: 4 * nu + 10 + 1 + 3, lambda n: n + 37),
}


@pytest.mark.parametrize("hand", ["procedural", "adroit"])
@pytest.mark.parametrize("task", ["Reach", "BlindGrasping"])
def test_the_same_world_state_gives_the_same_observations_as_before_they_had_names(task, hand):
    old_observe, old_states, old_num_obs, old_num_states = OLD[task]
    env = make_env(task_cfg(task, hand=hand), 3, seed=7)
    t = env.task
    assert env.num_obs == old_num_obs(env.num_actions)
    assert env.num_states == (old_num_states(env.num_obs) if old_states else 0)
    obs = env.reset()
    rng = np.random.default_rng(0)
    for k in range(12):
        assert torch.equal(obs, old_observe(t, env.step_count).float())
        if old_states:
            assert torch.equal(env.states(), old_states(t, env.step_count).float())
        if task == "BlindGrasping" and k == 6:  # every stage's one-hot and timeout in view from here
            t.stage[:] = torch.tensor([0, 1, 2])
            t.stage_steps[:] = torch.tensor([3, 40, 7])
        actions = torch.as_tensor(rng.uniform(-1, 1, (3, env.num_actions)), dtype=torch.float32)
        obs, *_ = env.step(actions)


def test_each_piece_is_named_and_sized_by_its_tensor():
    env = make_env(task_cfg("BlindGrasping", hand="adroit"), 2, seed=1)
    obs = env.reset()
    layout, nu = env.obs_layout, env.num_actions
    assert list(layout.sizes) == ["jointPos", "jointVel", "touch", "prevActions", "targets", "episodeTime", "stage"]
    assert [layout.sizes[n] for n in ("jointPos", "touch", "episodeTime", "stage")] == [nu, 10, 1, 3]  # ADROIT: 30
    assert layout.size == env.num_obs == obs.shape[1]
    assert torch.equal(obs[:, layout.slice("touch")], env.task.touch().float())
    # the critic's pieces: the policy's first, in the same places, then what only the critic sees
    states = env.states()
    assert list(env.state_layout.sizes)[: len(layout.sizes)] == list(layout.sizes)
    assert env.state_layout.slice("touch") == layout.slice("touch") and states.shape[1] == env.state_layout.size
    assert env.state_layout.sizes["tipsFromBox"] == 15 and env.state_layout.sizes["boxQuat"] == 4
    assert str(layout).startswith(f"{env.num_obs}: jointPos {nu}, jointVel {nu}, touch 10")


def test_a_piece_that_is_no_column_block_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^MyTask.observations\['image'\]: expects a \(N,\) or \(N, k\) tensor"):
        Layout({"joints": torch.zeros(4, 3), "image": torch.zeros(4, 8, 8)}, "MyTask.observations")
    with pytest.raises(KeyError, match="touch"):
        Layout({"joints": torch.zeros(4, 3)}).slice("touch")
