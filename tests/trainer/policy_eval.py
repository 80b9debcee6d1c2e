"""Evaluate a policy the way a tester would: rl_games' player, deterministic actions, real sim."""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import OmegaConf
from rl_games.common.gym_compat import spaces
from rl_games.torch_runner import Runner

from services.sim import make_env


def make_player(experiment, seed: int = 0):
    """rl_games' PPO player built from an experiment's config.yaml (untrained weights, seeded)."""
    cfg = OmegaConf.load(experiment / "config.yaml")
    params = OmegaConf.to_container(cfg.train.params, resolve=True)
    env = make_env(cfg.task, num_envs=1, device="cpu", seed=0)
    params["config"]["env_info"] = {  # the player then needs no registered env
        "observation_space": spaces.Box(-np.inf, np.inf, (env.num_obs,), np.float32),
        "action_space": spaces.Box(-1.0, 1.0, (env.num_actions,), np.float32),
        "agents": 1,
        "value_size": 1,
    }
    env.close()
    params["config"]["device_name"] = "cpu"
    torch.manual_seed(seed)
    runner = Runner()
    runner.load({"params": params})
    player = runner.create_player()
    player.has_batch_dimension = True
    return player, cfg.task


def mean_return(player, task_cfg, num_envs: int = 16, seed: int = 1234) -> tuple[float, float]:
    """Mean return and success rate of the first episode of each of `num_envs` seeded worlds."""
    env = make_env(task_cfg, num_envs=num_envs, device="cpu", seed=seed)
    obs = env.reset()
    first = {}
    try:
        while len(first) < num_envs:
            obs, _, _, info = env.step(player.get_action(obs, is_deterministic=True))
            for ep in info["episodes"]:
                first.setdefault(ep["world"], ep)
    finally:
        env.close()
    returns = [float(e["return"]) for e in first.values()]
    return float(np.mean(returns)), float(np.mean([float(e["success"]) for e in first.values()]))
