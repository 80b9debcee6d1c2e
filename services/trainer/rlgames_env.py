"""The services.sim batched env as rl_games sees it, registered the way IsaacGymEnvs does it.

rl_games finds envs by name in two module-level registries: `env_configurations` ('rlgpu' -> how to
create one) and `vecenv` ('RLGPU' -> the vectorized wrapper type). The sim already batches, so the
wrapper only moves tensors to the PPO device and reshapes the step result into rl_games' form.
"""

from __future__ import annotations

import numpy as np
import torch
from rl_games.common import env_configurations, vecenv
from rl_games.common.gym_compat import spaces
from rl_games.common.ivecenv import IVecEnv

ENV_NAME = "rlgpu"
VECENV_TYPE = "RLGPU"


class SimVecEnv(IVecEnv):
    """rl_games vecenv over one services.sim env: obs as {'obs': tensor[, 'states': tensor]}, uint8 dones,
    time_outs. 'states' (the critic's privileged input) is there when the task has some: with a
    `central_value_config` in the PPO config, rl_games trains the value function on it (asymmetric
    actor-critic) while the policy sees only 'obs'."""

    def __init__(self, env, device: str):
        self.env = env
        self.device = torch.device(device)
        self.observation_space = spaces.Box(-np.inf, np.inf, (env.num_obs,), np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (env.num_actions,), np.float32)
        self.state_space = spaces.Box(-np.inf, np.inf, (env.num_states,), np.float32) if env.num_states else None

    def _obs(self, obs):
        out = {"obs": obs.to(self.device)}
        if self.state_space is not None:
            out["states"] = self.env.states().to(self.device)
        return out

    def step(self, actions):
        # The sim was made on the PPO device (make_env(device=...)), so actions are already where it wants them.
        obs, reward, done, info = self.env.step(actions)
        info = dict(info)
        info["time_outs"] = torch.as_tensor(info["time_outs"]).to(self.device)
        return self._obs(obs), reward.to(self.device), done.to(self.device, torch.uint8), info

    def reset(self):
        return self._obs(self.env.reset())

    def get_env_info(self):
        info = {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "agents": 1,
            "value_size": 1,
        }
        if self.state_space is not None:
            info["state_space"] = self.state_space
        return info

    def get_number_of_agents(self):
        return 1


def register(env, device: str) -> None:
    """Make `env_name: rlgpu` in rl_games params mean this (already built) env."""
    env_configurations.register(ENV_NAME, {"vecenv_type": VECENV_TYPE, "env_creator": lambda **_: env})
    vecenv.register(
        VECENV_TYPE,
        lambda config_name, num_actors, **kwargs: SimVecEnv(
            env_configurations.configurations[config_name]["env_creator"](**kwargs), device
        ),
    )
