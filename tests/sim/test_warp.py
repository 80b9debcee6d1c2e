"""The `warp` backend (MuJoCo Warp) against the CPU backend, on Warp's CPU device (no GPU in CI).

Warp compiles its kernels on first use (~80 s cold on 2 cores) into its kernel cache (~/.cache/warp),
which every later env and process of the run reuses. Tolerances: float32 (warp) vs float64 (mujoco),
and contacts are discontinuous, so agreement is checked over the first control steps of a grasp.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp", reason="MuJoCo Warp is installed by `pip install -e '.[gpu]'` (dev installs it)")

from services.sim import make_env  # noqa: E402
from services.sim.backends.warp import SimulationOverflow  # noqa: E402
from tests.sim.helpers import CLOSED, hand_actions, task_cfg  # noqa: E402

pytestmark = pytest.mark.slow


def pair(task, n=2, seed=3, **overrides):
    cfg = task_cfg(task, **overrides)
    return (make_env(cfg, n, seed=seed, backend="mujoco"), make_env(cfg, n, seed=seed, backend="warp", device="cpu"))


def test_a_scripted_grasp_runs_the_same_on_both_backends():
    cpu, warp = pair("BlindGrasping")
    assert warp.state.qpos.dtype == torch.float32 and warp.sim_device.type == "cpu"
    assert torch.allclose(cpu.reset(), warp.reset(), atol=1e-5)  # the same seeded initial states
    goal, pre = np.zeros((2, 6)), cpu.task.pre_offset[2].item() - 0.25
    worst_q = worst_touch = 0.0
    for k in range(75):  # down to the pre-grasp pose, then close the fingers on the box
        goal[:, 2] = pre
        act = hand_actions(cpu, goal, CLOSED if k >= 60 else {})
        _, rc, dc, ic = cpu.step(act)
        _, rw, dw, iw = warp.step(act)
        worst_q = max(worst_q, (cpu.state.qpos - warp.state.qpos.double()).abs().max().item())
        worst_touch = max(worst_touch, (cpu.task.touch() - warp.task.touch().double()).abs().max().item())
        assert torch.equal(dc, dw) and torch.equal(ic["stage"], iw["stage"]), k
    assert ic["box_contacts"].min() >= 2, "the script never grasped: the comparison saw no contacts"
    assert torch.equal(ic["box_contacts"], iw["box_contacts"])
    assert worst_q < 5e-3, worst_q  # metres / radians
    assert worst_touch < 0.05, worst_touch  # tanh-squashed touch readings
    assert torch.allclose(rc, rw, atol=0.05)


@pytest.mark.parametrize("task", ["Reach", "BlindGrasping"])
def test_rewards_terms_terminations_and_observations_agree_given_the_same_state(task):
    cpu, warp = pair(task, n=3, seed=7)
    rng = np.random.default_rng(2)
    for _ in range(8):
        cpu.step(torch.as_tensor(rng.uniform(-1, 1, (3, cpu.num_actions)), dtype=torch.float32))
    for name in ("qpos", "qvel", "ctrl", "mocap_pos"):  # warp's worlds take the CPU worlds' state
        getattr(warp.state, name).copy_(getattr(cpu.state, name))
    warp.physics.forward(torch.arange(3))
    cpu.physics.forward(torch.arange(3))
    for attr in ("targets", "prev_actions", "action_rate", "target", "stage", "stage_steps", "box_start"):
        if hasattr(cpu.task, attr):
            getattr(warp.task, attr).copy_(getattr(cpu.task, attr))
    step = cpu.step_count.clone()
    ec, ew = cpu.task.evaluate(step), warp.task.evaluate(step)
    assert set(ec.terms) == set(ew.terms) == set(cpu.weights)
    for name in ec.terms:
        assert torch.allclose(ec.terms[name], ew.terms[name].double(), atol=1e-4), name
    assert ec.terminations.keys() == ew.terminations.keys() == set(cpu.task.termination_terms)
    assert all(torch.equal(ec.terminations[n], ew.terminations[n]) for n in ec.terminations)
    assert torch.equal(ec.success, ew.success)
    assert torch.allclose(cpu.task.observe(step), warp.task.observe(step).double(), atol=1e-4)


def test_world_i_is_the_same_in_any_batch_size():
    big = make_env(task_cfg("Reach"), 4, seed=5, backend="warp", device="cpu")
    one = make_env(task_cfg("Reach"), 1, seed=5, backend="warp", device="cpu")
    assert torch.equal(big.reset()[:1], one.reset())
    act = torch.full((4, big.num_actions), 0.3)
    assert torch.allclose(big.step(act)[0][:1], one.step(act[:1])[0], atol=1e-6)


def test_a_contact_buffer_overflow_is_one_line_naming_the_key():
    # the box rests on the table with 4 contacts: room for 2 per world cannot hold them
    with pytest.raises(SimulationOverflow, match=r"raise task\.sim\.nconmax \(now 2 per world\)"):
        env = make_env(task_cfg("BlindGrasping", **{"sim.nconmax": 2}), 2, backend="warp", device="cpu")
        env.step(torch.zeros(2, env.num_actions))
