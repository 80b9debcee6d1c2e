"""The batched env contract (docs/design.md), Reach, rendering, and refusals."""

import os
import sys

import mujoco
import numpy as np
import pytest
import torch

from services.sim import make_env
from services.sim.tasks import TaskConfigError
from tests.processes import run
from tests.sim.helpers import task_cfg


def test_step_contract_time_outs_and_episode_stats():
    env = make_env(task_cfg("Reach", episodeLength=5), 3, seed=1)
    assert (env.num_obs, env.num_actions, env.dt, env.max_episode_length) == (32, 20, pytest.approx(0.02), 5)
    obs = env.reset()
    assert obs.dtype == torch.float32 and obs.shape == (3, env.num_obs)
    returns = np.zeros(3)
    for k in range(5):
        obs, reward, done, info = env.step(torch.zeros(3, env.num_actions))
        assert reward.dtype == torch.float32 and reward.shape == (3,)
        assert done.dtype == torch.bool and info["time_outs"].dtype == torch.bool
        returns += reward.numpy()
        assert done.any() == (k == 4) and torch.equal(done, info["time_outs"])
    assert sorted(e["world"] for e in info["episodes"]) == [0, 1, 2]
    for e in info["episodes"]:
        assert e["length"] == 5 and e["return"] == pytest.approx(returns[e["world"]], rel=1e-5)
        assert isinstance(e["success"], bool) and e["termination"] == "timeLimit"
    # auto-reset: every world starts a new episode with a fresh target, seen in the returned obs
    assert env.step_count.tolist() == [0, 0, 0]
    first_targets = obs[:, -3:].clone()
    for _ in range(5):
        obs, *_ = env.step(torch.zeros(3, env.num_actions))
    assert not torch.equal(obs[:, -3:], first_targets)


def test_reset_with_a_seed_starts_the_same_worlds_again():
    env = make_env(task_cfg("Reach"), 3, seed=1)
    first = env.reset(seed=7)
    for _ in range(3):
        env.step(torch.rand(3, env.num_actions) * 2 - 1)
    assert not torch.equal(env.reset(), first)  # a plain reset draws new worlds
    assert torch.equal(env.reset(seed=7), first)


def test_reach_reward_tells_a_good_policy_from_a_random_one():
    env = make_env(task_cfg("Reach", episodeLength=60), 8, seed=2)
    t = env.task

    def run(policy):
        env.reset()
        eps = []
        while len(eps) < 8:
            eps += env.step(torch.as_tensor(policy(), dtype=torch.float32))[3]["episodes"]
        return np.mean([e["return"] for e in eps]), np.mean([e["success"] for e in eps])

    rng = np.random.default_rng(0)
    random_return, _ = run(lambda: rng.uniform(-1, 1, (8, 20)))

    lo, hi = t.ctrl_lo.numpy(), t.ctrl_hi.numpy()

    def reach():  # absolute base targets that carry the nominal centroid onto the target
        a = 2 * (t.q_default.numpy() - lo) / (hi - lo) - 1
        a = np.tile(a, (8, 1))
        a[:, :3] = 2 * ((t.target - t.nominal).numpy() - lo[:3]) / (hi[:3] - lo[:3]) - 1
        return a

    good_return, good_success = run(reach)
    assert good_return > random_return + 30 and good_success == 1.0


@pytest.mark.parametrize("task", ["Reach", "BlindGrasping"])
def test_batched_and_single_world_stepping_agree(task):
    cfg = task_cfg(task, episodeLength=20)
    batched = make_env(cfg, 4, seed=9, threads=2)
    single = make_env(cfg, 1, seed=9, threads=1)
    ob, os_ = batched.reset(), single.reset()
    assert torch.equal(ob[:1], os_)
    rng = np.random.default_rng(1)
    for _ in range(30):  # crosses an auto-reset at step 20
        act = torch.as_tensor(rng.uniform(-1, 1, (4, batched.num_actions)), dtype=torch.float32)
        ob, rb, db, _ = batched.step(act)
        os_, rs, ds, _ = single.step(act[:1])
        assert torch.equal(ob[:1], os_) and torch.equal(rb[:1], rs) and torch.equal(db[:1], ds)
    assert not torch.equal(ob[0], ob[1])  # the other worlds are really different


def test_render_follows_the_hand_and_tiles_worlds():
    env = make_env(task_cfg("Reach"), 4, seed=0)
    env.reset()
    before = env.render(320, 240, camera="fixed")
    assert before.shape == (240, 320, 3) and before.dtype == np.uint8 and before.std() > 10
    up = torch.zeros(4, env.num_actions)
    up[:, 2] = 0.6  # ARTz up 13 cm
    for _ in range(20):
        env.step(up)
    after = env.render(320, 240, camera="fixed")
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 1.0
    assert env.render(320, 240, camera="track").shape == (240, 320, 3)
    env.step(torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (4, env.num_actions)), dtype=torch.float32))
    grid = env.render(640, 480, tile=4)
    assert grid.shape == (480, 640, 3)
    assert not np.array_equal(grid[:240, :320], grid[240:, 320:])  # worlds 0 and 3 differ
    with pytest.raises(ValueError, match="camera='side'"):
        env.render(camera="side")
    with pytest.raises(ValueError, match="render size"):
        env.render(5000, 480)
    env.close()


def test_world_handles_follow_the_simulation():
    env = make_env(task_cfg("Reach"), 2, seed=0)
    model, data = env.world(1)
    assert isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData)
    z0 = data.body("hand").xpos[2]
    up = torch.zeros(2, env.num_actions)
    up[:, 2] = 1.0
    for _ in range(10):
        env.step(up)
    assert data.body("hand").xpos[2] > z0 + 0.02
    assert np.array_equal(data.qpos, env.state.qpos[1].numpy())
    with pytest.raises(IndexError):
        env.world(2)


def test_bad_inputs_are_refused_naming_the_key():
    with pytest.raises(TaskConfigError, match=r"task\.reward\.distance='far'"):
        make_env(task_cfg("Reach", **{"reward.distance": "far"}), 1)
    with pytest.raises(TaskConfigError, match=r"task\.episodeLength"):
        make_env(task_cfg("Reach", episodeLength=0), 1)
    with pytest.raises(TaskConfigError, match=r"task\.name='Juggle'.*BlindGrasping, Reach"):
        make_env(task_cfg("Reach", name="Juggle"), 1)
    with pytest.raises(TaskConfigError, match=r"task\.hand='left'.*adroit, procedural"):
        make_env(task_cfg("Reach", hand="left"), 1)
    with pytest.raises(ValueError, match=r"env\.backend='isaac'.*auto, mujoco, warp"):
        make_env(task_cfg("Reach"), 1, backend="isaac")
    with pytest.raises(ValueError, match="numEnvs=0"):
        make_env(task_cfg("Reach"), 0)
    env = make_env(task_cfg("Reach"), 2)
    with pytest.raises(ValueError, match=r"actions: expected shape \(2, 20\)"):
        env.step(torch.zeros(2, 3))


def test_missing_gl_library_is_one_clear_line(tmp_path):
    # empty files shadow the real EGL/OpenGL libraries: loading them fails as a missing one would
    for name in ("libEGL.so", "libEGL.so.1", "libOpenGL.so", "libOpenGL.so.0", "libGL.so", "libGL.so.1"):
        (tmp_path / name).write_bytes(b"")
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path), MUJOCO_GL="egl")
    code = (
        "from tests.sim.helpers import task_cfg\nfrom services.sim import make_env\n"
        "make_env(task_cfg('Reach'), 1).render()"
    )
    done = run([sys.executable, "-c", code], env=env, timeout=120)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "RenderError" in last and "MUJOCO_GL=egl" in last and "libopengl0" in last, last


@pytest.mark.parametrize("task", ["Reach", "BlindGrasping"])
def test_composed_cli_config_builds_the_task(task):
    from services.core.config import load_config

    cfg = load_config([f"task={task}", "numEnvs=2"])
    env = make_env(cfg.task, cfg.env.numEnvs, device=cfg.device, seed=cfg.train.seed, backend=cfg.env.backend)
    obs, *_ = env.step(torch.zeros(2, env.num_actions))
    assert env.task.name == task and obs.shape == (2, env.num_obs) and torch.isfinite(obs).all()


def test_a_world_mujoco_refuses_to_step_is_cut_and_reset(monkeypatch):
    import mujoco.batch

    env = make_env(task_cfg("Reach"), 3, seed=0)
    env.reset()
    env.step(torch.zeros(3, env.num_actions))
    real_step = env.physics.batch.step

    def failing_step(*args, **kwargs):  # MuJoCo reports world 1 failed after stepping the others
        real_step(*args, **kwargs)
        raise mujoco.batch.SimulationError(np.array([1]), "mj_stackAlloc: out of memory", 3)

    monkeypatch.setattr(env.physics.batch, "step", failing_step)
    obs, reward, done, info = env.step(torch.zeros(3, env.num_actions))
    assert done.tolist() == [False, True, False] and info["time_outs"].tolist() == [False, True, False]
    assert [e["world"] for e in info["episodes"]] == [1] and env.step_count.tolist() == [2, 0, 2]
    assert info["episodes"][0]["termination"] == "physicsError"  # not the policy's failure, and said so
    assert torch.isfinite(obs).all()


def test_termination_causes_must_be_the_tasks_named_ones(monkeypatch):
    from services.sim.tasks import Evaluation, Reach

    env = make_env(task_cfg("Reach"), 2, seed=0)
    real = env.task.evaluate
    unnamed = lambda step: Evaluation(real(step).terms, torch.zeros(2, dtype=torch.bool), real(step).success)
    monkeypatch.setattr(env.task, "evaluate", unnamed)  # a task written before causes had names
    with pytest.raises(ValueError, match=r"^Reach.evaluate: Evaluation.terminations must map each of its "):
        env.step(torch.zeros(2, env.num_actions))
    monkeypatch.setattr(Reach, "termination_terms", ("tooFar", "timeLimit"))
    with pytest.raises(ValueError, match=r"^Reach.termination_terms: timeLimit named twice or reserved"):
        make_env(task_cfg("Reach"), 2)
