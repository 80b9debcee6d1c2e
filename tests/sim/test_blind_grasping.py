"""BlindGrasping: blind observations, a scripted lift succeeds, each failure ends the episode by its
named cause, seeded resets."""

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
    assert [e["termination"] for e in episodes] == ["timeLimit"] * 2  # no failure after a success
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
    assert episode["termination"] == "tableContact"


def test_a_fingertip_below_the_table_clearance_fails_before_touching_it():
    env = make_env(task_cfg("BlindGrasping", **{"failure.tableClearance": 0.1}), 1, seed=0)
    env.reset()
    goal = np.zeros((1, 6))
    goal[0, 1], goal[0, 2] = -0.15, -0.23  # beside the box, down towards the table
    for _ in range(120):
        _, _, done, info = env.step(hand_actions(env, goal, CLOSED))
        if done.any():
            break
    # tableContact comes first in termination_terms: this one ended with the hand off the table
    assert [e["termination"] for e in info["episodes"]] == ["tableClearance"]


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
        lengths += [e["length"] for e in info["episodes"] if e["termination"] == "stageTimeout"]
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
    assert [e["termination"] for e in info["episodes"]] == ["boxPushed"]


def test_a_grasp_let_go_in_the_lift_stage_fails_after_grasp_lost_steps():
    env = make_env(task_cfg("BlindGrasping", **{"failure.graspLostSteps": 5}), 1, seed=3)
    env.reset()
    goal = np.zeros((1, 6))
    goal[:, 2] = env.task.pre_offset[2].item() - PALM0
    stages, episodes = [], []
    for k in range(150):  # close the fingers round the box at step 60, open them at 100
        _, _, done, info = env.step(hand_actions(env, goal, CLOSED if 60 <= k < 100 else {}))
        stages.append(int(info["stage"][0]))
        episodes += info["episodes"]
        if done[0]:
            break
    assert stages[99] == 2  # held: the lift stage
    (episode,) = episodes
    assert episode["termination"] == "graspLost" and 100 + 5 < episode["length"] < 100 + 15


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


# fingers closed around the box, the thumb open: index..little alone
NO_THUMB = {**{k: v for k, v in CLOSED.items() if not k.startswith("th")}, "th_mcp": -0.2}


def _grasp(env, fingers, lift_to=None, steps=200):
    """Palm to the pre-grasp height, close `fingers` from step 60, then (from step 100) raise the hand by
    `lift_to` m and keep it there. Returns per-step stage, box height and scaled reward terms of world 0."""
    goal = np.zeros((env.num_envs, 6))
    pre = env.task.pre_offset[2].item() - PALM0
    out = {"stage": [], "height": [], "reward": []}
    terms = {}
    for k in range(steps):
        goal[:, 2] = pre + (lift_to if lift_to is not None and k >= 100 else 0.0)
        _, reward, done, info = env.step(hand_actions(env, goal, fingers if k >= 60 else {}))
        out["stage"].append(int(info["stage"][0]))
        out["height"].append(float(info["box_height"][0]))
        out["reward"].append(float(reward[0]))
        for name, value in info["reward_terms"].items():
            terms.setdefault(name, []).append(float(value[0]))
        if done[0]:
            break
    return {k: np.array(v) for k, v in out.items()}, {k: np.array(v) for k, v in terms.items()}


def _saved_before_the_thumb(cfg):
    """A run's config saved before graspThumb, liftBonus and liftBonusHeights existed (hold then paid 0.2)."""
    del cfg.stages["graspThumb"], cfg.reward["liftBonus"], cfg["liftBonusHeights"]
    cfg.reward.hold = 0.2
    return cfg


@pytest.mark.parametrize("config", ["thumb", "no thumb", "saved before"])
def test_with_grasp_thumb_a_grasp_without_the_thumb_is_no_grasp(config):
    """Index to little finger closed around the box grip it beside its faces: no grasp with graspThumb,
    a grasp without it (the default) and in runs saved before it existed."""
    cfg = task_cfg("BlindGrasping")
    cfg.stages.graspThumb = config == "thumb"
    if config == "saved before":
        cfg = _saved_before_the_thumb(cfg)
    env = make_env(cfg, 1, seed=3)
    env.reset()
    out, terms = _grasp(env, NO_THUMB, steps=170)
    gripping = env.task.gripping(env.task.box_contacts(), env.task.fingertips(), env.task.box_pos())[0]
    if config == "thumb":
        assert out["stage"].max() == 1, "fingers without the thumb ended the grasp stage"
        assert len(out["stage"]) < 170 and terms["failure"][-1] < 0  # the grasp stage timed out: a failure
        assert terms["contact"].sum() == 0  # ... and their grip paid nothing on the way
    else:
        assert out["stage"].max() == 2  # any two fingers were a grasp
        assert gripping.sum() >= 2 and not gripping[0]  # ... and it was fingers without the thumb


def test_the_thumb_and_fingers_grasp():
    env = make_env(task_cfg("BlindGrasping", **{"stages.graspThumb": True}), 1, seed=3)
    env.reset()
    out, _ = _grasp(env, CLOSED, steps=120)
    assert out["stage"][-1] == 2
    assert env.task.gripping(env.task.box_contacts(), env.task.fingertips(), env.task.box_pos())[0, 0]


@pytest.mark.parametrize("saved_before", [False, True])
def test_holding_the_box_on_the_table_pays_nothing(saved_before):
    """The trap one GPU seed in four fell into: grip the box and never lift it. Held on the table, a
    lift-stage step pays only the action-rate penalty; a run saved before paid `hold` (0.2) for it."""
    cfg = task_cfg("BlindGrasping")
    env = make_env(_saved_before_the_thumb(cfg) if saved_before else cfg, 1, seed=3)
    env.reset()
    out, terms = _grasp(env, CLOSED, steps=200)
    held = out["stage"] == 2
    assert held.sum() > 80 and out["height"][held].max() < 0.005  # a long grip, the box on the table
    pay = out["reward"][held] - terms["actionRate"][held]
    if saved_before:
        assert np.allclose(terms["hold"][held][1:], 0.2) and pay[1:].min() > 0.19
    else:
        assert np.abs(pay[1:]).max() < 1e-3


def test_lift_bonus_is_paid_once_per_height_reached():
    """Raised 3 cm and held there: the 2 cm bonus once, no more however long it stays up (a box held at
    a constant height earns no bonus); a full lift passes every bonus height once."""
    env = make_env(task_cfg("BlindGrasping"), 2, seed=3)
    env.reset()
    weight = env.weights["liftBonus"]
    out, terms = _grasp(env, CLOSED, lift_to=0.03, steps=250)
    up = out["height"] > 0.02
    assert up.sum() > 100 and out["height"][up].max() < 0.05  # held between the first two bonus heights
    assert terms["liftBonus"].sum() == pytest.approx(weight)
    assert np.count_nonzero(terms["liftBonus"]) == 1
    env.reset()
    out, terms = _grasp(env, CLOSED, lift_to=0.25, steps=250)
    assert out["height"].max() > 0.15
    assert terms["liftBonus"].sum() == pytest.approx(weight * len(env.task.bonus_heights))
    assert terms["success"].sum() > 0


def test_the_episode_reports_the_highest_the_box_was_held():
    env = make_env(task_cfg("BlindGrasping", episodeLength=220), 1, seed=3)
    env.reset()
    goal = np.zeros((1, 6))
    pre = env.task.pre_offset[2].item() - PALM0
    episodes, peak = [], 0.0
    for k in range(220):
        goal[0, 2] = pre + (0.06 if 100 <= k < 160 else 0.0)  # up 6 cm, then set down again
        _, _, _, info = env.step(hand_actions(env, goal, CLOSED if k >= 60 else {}))
        peak = max(peak, float(info["box_height"][0]))
        episodes += info["episodes"]
    (episode,) = episodes
    assert 0.04 < episode["metrics"]["best_lift"] == pytest.approx(peak, abs=1e-6)
    assert float(info["box_height"][0]) < 0.01  # it ended on the table: the metric is the best, not the last


@pytest.mark.parametrize("saved_before", [False, True])
def test_the_thumb_weighs_as_much_as_the_fingers_in_the_approach(saved_before):
    """Curling the thumb towards the box from the pre-grasp pose cuts fingertipDistance by half the
    thumb's approach (graspThumb), not a fifth of it (every tip alike, as runs saved before)."""
    cfg = task_cfg("BlindGrasping", **{"stages.graspThumb": True})
    env = make_env(_saved_before_the_thumb(cfg) if saved_before else cfg, 2, seed=3)
    env.reset()
    env.task.box_start[:] = 0.0  # both worlds' boxes at the table centre: the same approach
    q = env.task.box_q
    env.state.qpos[:, q : q + 2] = 0.0
    env.physics.forward(torch.arange(2))
    goal = np.zeros((2, 6))
    goal[:, 2] = env.task.pre_offset[2].item() - PALM0
    thumb = {"th_mcp": 0.8, "th_pip": 0.6}
    for k in range(60):
        a = hand_actions(env, goal, {})
        if k >= 45:  # in the grasp stage: world 1 curls its thumb, world 0 keeps it open
            a[1] = hand_actions(env, goal, thumb)[1]
        _, _, done, info = env.step(a)
        assert not done.any()
    assert info["stage"].tolist() == [1, 1]
    tips = env.task.fingertips() - env.task.box_pos()[:, None, :]
    d = torch.linalg.vector_norm(tips, dim=2)
    thumb_gain, fingers_gain = (d[0, 0] - d[1, 0]).item(), (d[0, 1:] - d[1, 1:]).abs().max().item()
    assert thumb_gain > 0.01 and fingers_gain < 1e-3  # only the thumb moved, towards the box
    term = info["reward_terms"]["fingertipDistance"] / env.weights["fingertipDistance"]
    share = (term[0] - term[1]).item() / thumb_gain
    assert share == pytest.approx(0.2 if saved_before else 0.5, rel=0.02)
