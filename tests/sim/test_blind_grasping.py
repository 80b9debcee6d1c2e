"""BlindGrasping: blind observations, a scripted lift succeeds, the table fails, seeded resets."""

import numpy as np
import pytest
import torch

from services.sim import make_env
from services.sim.hands import procedural
from tests.sim.helpers import CLOSED, hand_actions, task_cfg

PALM0 = procedural.PALM_HEIGHT


def test_observations_are_blind_to_the_box():
    cfg = task_cfg("BlindGrasping")
    a, b = make_env(cfg, 2, seed=5), make_env(cfg, 2, seed=5)
    a.reset(), b.reset()
    # move only the box in b, well clear of the hand (which hovers 25 cm up)
    q = b.task.box_q
    b.state.qpos[:, q : q + 2] += torch.tensor([0.06, -0.05], dtype=torch.float64)
    b.physics.forward(torch.arange(2))
    rng = np.random.default_rng(0)
    for _ in range(15):
        act = torch.as_tensor(rng.uniform(-0.3, 0.3, (2, a.num_actions)), dtype=torch.float32)
        oa, ra, *_ = a.step(act)
        ob, rb, *_ = b.step(act)
        assert torch.equal(oa, ob)
    assert not np.allclose(a.privileged()["box_pos"], b.privileged()["box_pos"])  # the box really moved
    assert not torch.equal(ra, rb)  # ...and the rewards (privileged) saw it
    # the critic's states (asymmetric actor-critic) do carry the box: they start with the observations
    sa, sb = a.states(), b.states()
    assert sa.shape == (2, a.num_states) and a.num_states > a.num_obs
    assert torch.equal(sa[:, : a.num_obs], oa) and not torch.equal(sa[:, a.num_obs :], sb[:, a.num_obs :])
    # the observations do follow the hand: a different action changes them
    oc, *_ = a.step(torch.ones(2, a.num_actions))
    assert not torch.equal(oc, ob)


def test_scripted_lift_succeeds_and_holding_it_up_keeps_paying():
    env = make_env(task_cfg("BlindGrasping"), 2, seed=3)
    env.reset()
    goal = np.zeros((2, 6))
    pre = env.task.pre_offset[2].item() - PALM0
    stages, heights, lift_terms, success_terms, episodes = [], [], [], [], []
    for k in range(env.max_episode_length):  # down, close the fingers, lift, then hold it up to the time limit
        goal[:, 2] = pre if k < 100 else 0.2
        fingers = CLOSED if k >= 60 else {}
        _, reward, done, info = env.step(hand_actions(env, goal, fingers))
        stages.append(info["stage"].numpy().copy())
        heights.append(info["box_height"].numpy().copy())
        lift_terms.append(info["reward_terms"]["lift"].numpy().copy())
        success_terms.append(info["reward_terms"]["success"].numpy().copy())
        episodes += info["episodes"]
        if k < env.max_episode_length - 1:
            assert not done.any(), f"step {k}: {info['episodes']}"  # success does not end the episode
    assert [e["success"] for e in episodes] == [True, True], episodes
    assert [e["length"] for e in episodes] == [env.max_episode_length] * 2
    assert np.max(stages) == 2
    assert max(h.max() for h in heights) >= env.task.lift_height
    lift = np.array(lift_terms)[:, 0]
    assert lift[150:].min() > lift[100] + 0.5  # the lift term grows with the box's height, and stays up
    assert np.array(success_terms).sum(axis=0).tolist() == [20.0, 20.0]  # the bonus, once per episode
    assert all(e["return"] > 100 for e in episodes)  # holding it up for seconds is what pays


def test_hand_driven_into_the_table_fails():
    env = make_env(task_cfg("BlindGrasping"), 1, seed=0)
    env.reset()
    goal = np.zeros((1, 6))
    goal[0, 1] = -0.15  # beside the box first, so only the table is below
    for k in range(120):
        if k > 20:
            goal[0, 2] = -0.23
        _, _, done, info = env.step(hand_actions(env, goal, CLOSED))
        if done.any():
            break
    assert done.all(), "the hand reached the table without ending the episode"
    (episode,) = info["episodes"]
    assert not episode["success"] and episode["length"] < env.max_episode_length
    assert info["failure"][0] and info["table_contact"][0] and not info["time_outs"][0]


def test_reset_is_randomized_but_seeded():
    cfg = task_cfg("BlindGrasping")
    a, b, c = make_env(cfg, 3, seed=11), make_env(cfg, 3, seed=11), make_env(cfg, 3, seed=12)
    oa, ob, oc = a.reset(), b.reset(), c.reset()
    assert torch.equal(oa, ob)
    assert np.array_equal(a.privileged()["box_pos"], b.privileged()["box_pos"])
    assert not torch.equal(oa, oc)
    boxes = a.privileged()["box_pos"]
    assert len({tuple(np.round(p, 6)) for p in boxes}) == 3  # each world its own box position
    assert np.all(np.abs(boxes[:, :2]) <= 0.02 + 1e-9)  # within the configured +-2 cm
    # a second reset draws new states, and the same ones for the same seed
    oa2, ob2 = a.reset(), b.reset()
    assert not torch.equal(oa2, oa) and torch.equal(oa2, ob2)
    assert torch.equal(a.state.qpos, b.state.qpos)


def test_idle_hand_fails_at_the_pre_grasp_stage_timeout():
    env = make_env(task_cfg("BlindGrasping", **{"stages.timeouts": [20, 100, 200]}), 2, seed=4)
    env.reset()
    hold = hand_actions(env, env.task.targets[:, :6].numpy().copy(), {})
    lengths = []
    for _ in range(40):
        _, _, done, info = env.step(hold)
        lengths += [e["length"] for e in info["episodes"] if not e["success"]]
        if done.any():
            assert info["failure"].all() and not info["time_outs"].any()
            break
    assert lengths == [21, 21]  # stage 0 allowed 20 steps


def test_box_pushed_away_fails():
    env = make_env(task_cfg("BlindGrasping"), 1, seed=4)
    env.reset()
    q = env.task.box_q
    env.state.qpos[0, q] += 0.15  # as if knocked off its spot
    _, _, done, info = env.step(hand_actions(env, env.task.targets[:, :6].numpy().copy(), {}))
    assert done[0] and info["failure"][0] and not info["table_contact"][0]


def test_a_box_tipped_onto_its_edge_is_not_lifted():
    import math

    env = make_env(task_cfg("BlindGrasping"), 2, seed=4)
    env.reset()
    q, half = env.task.box_q, procedural.BOX_HALF
    # world 0: tipped 45 degrees onto an edge (its centre 1 cm higher); world 1: raised 3 cm, level
    env.state.qpos[0, q + 2] = half * math.sqrt(2)
    env.state.qpos[0, q + 3 : q + 7] = torch.tensor(
        [math.cos(math.pi / 8), math.sin(math.pi / 8), 0.0, 0.0], dtype=torch.float64
    )
    env.state.qpos[1, q + 2] = half + 0.03
    lift = env.task.box_lift()
    assert abs(lift[0].item()) < 1e-6 and lift[1].item() == pytest.approx(0.03)


@pytest.mark.parametrize("grip_depth, grasped", [(0.01, False), (-0.1, True), (None, True)])
def test_pressing_the_box_down_from_above_is_no_grasp(grip_depth, grasped):
    """Curled fingers lowered onto the box's top touch it with 3 fingers; only fingers beside it grip.

    None: a run's config saved before gripDepth existed plays as it was trained (every touch counts).
    """
    cfg = task_cfg("BlindGrasping", **{"stages.gripDepth": grip_depth})
    if grip_depth is None:
        del cfg.stages["gripDepth"]
    env = make_env(cfg, 2, seed=3)
    env.reset()
    goal = np.zeros((2, 6))
    pre = env.task.pre_offset[2].item() - PALM0
    contacts, stages = [], []
    for k in range(120):
        goal[:, 2] = pre + 0.06 if k < 40 else pre - 0.06  # fingers closed high above it, then down on it
        _, _, done, info = env.step(hand_actions(env, goal, CLOSED))
        contacts.append(info["box_contacts"].numpy().copy())
        stages.append(info["stage"].numpy().copy())
        assert not done.any()
    assert np.min(np.max(contacts, axis=0)) >= 2  # both worlds' fingers are on the box ...
    assert (np.max(stages) == 2) == grasped  # ... but from above: no grasp (tips above the top count: one)
