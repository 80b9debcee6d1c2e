"""env.compile: the task math fused by torch.compile plays the same episodes as eager, and a compiler
that fails costs speed only (services/sim/fused.py)."""

import logging

import torch
import torch._dynamo
import torch._inductor.config as inductor

from services.sim import make_env
from tests.sim.helpers import task_cfg


def play(env, steps: int, seed: int = 0):
    """obs, rewards, dones and the finished episodes of `steps` random-action steps (the same actions every call)."""
    g = torch.Generator().manual_seed(seed)
    out = [env.reset()]
    episodes = []
    for _ in range(steps):
        obs, reward, done, info = env.step(torch.rand(env.num_envs, env.num_actions, generator=g) * 2 - 1)
        out += [obs, reward, done]
        episodes += info["episodes"]
    return out, episodes


def test_the_fused_task_math_plays_the_same_episodes_as_eager():
    # A fast-failing BlindGrasping (short stage timeouts): many episodes end early in 150 steps.
    cfg = task_cfg("BlindGrasping", **{"stages.timeouts": [20, 20, 40]})
    eager = make_env(cfg, 6, seed=3, compile=False)
    fused = make_env(cfg, 6, seed=3, compile=True)
    assert not eager.fusion.enabled and fused.fusion.enabled
    (a, ea), (b, eb) = play(eager, 150), play(fused, 150)
    assert fused.fusion.enabled  # compiled, not fallen back to eager
    assert len(ea) >= 12 and {e["termination"] for e in ea} == {"stageTimeout"}
    assert [(e["world"], e["length"], e["termination"], e["success"]) for e in ea] == [
        (e["world"], e["length"], e["termination"], e["success"]) for e in eb
    ]
    for x, y in zip(a, b):
        assert torch.allclose(x.float(), y.float(), atol=1e-5)
    for x, y in zip(ea, eb):
        assert abs(x["return"] - y["return"]) < 1e-4 and x["reward_terms"].keys() == y["reward_terms"].keys()
    assert torch.allclose(eager.states(), fused.states(), atol=1e-5)


def test_a_compiler_that_fails_costs_speed_not_the_run(caplog, monkeypatch):
    # A real compile failure: Inductor's C++ compiler missing (and no cached kernels to fall back on).
    torch._dynamo.reset()
    monkeypatch.setattr(inductor, "fx_graph_cache", False)
    monkeypatch.setattr(inductor.cpp, "cxx", ("/nonexistent/c++",))
    cfg = task_cfg("Reach")
    eager, fused = make_env(cfg, 3, seed=1, compile=False), make_env(cfg, 3, seed=1, compile=True)
    with caplog.at_level(logging.WARNING, logger="sim"):
        (a, ea), (b, eb) = play(eager, 60), play(fused, 60)
    torch._dynamo.reset()
    assert not fused.fusion.enabled
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("env.compile:")]
    assert len(lines) == 1 and "\n" not in lines[0], lines  # one line, naming the reason
    assert "the task math runs eagerly" in lines[0] and "C++ compiler" in lines[0]
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and ea == eb
