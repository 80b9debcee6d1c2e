"""The trained policy as the tester runs it: rl_games' network, built from `cfg.train.params`.

rl_games is used only to build the network (ModelBuilder) — the tester owns the loop, so a reload is
an explicit swap of one `nn.Module` reference between two steps. A new model is built and filled off
the stepping thread; the module in use is never written to.
"""

from __future__ import annotations

import contextlib
import io

import torch
from omegaconf import DictConfig, OmegaConf
from rl_games.algos_torch.model_builder import ModelBuilder


class PolicyBuilder:
    """Makes fresh, empty policy networks with the shapes of the env (obs/action sizes)."""

    def __init__(self, params, num_obs: int, num_actions: int, device: str = "cpu"):
        if isinstance(params, DictConfig):
            params = OmegaConf.to_container(params, resolve=True)
        self.params, self.device = params, torch.device(device)
        config = params.get("config", {})
        self.build_config = {
            "actions_num": num_actions,
            "input_shape": (num_obs,),
            "num_seqs": 1,
            "value_size": 1,
            "normalize_value": bool(config.get("normalize_value", False)),
            "normalize_input": bool(config.get("normalize_input", False)),
        }
        self.reference = self.build().state_dict()  # keys/shapes every checkpoint must match

    def build(self) -> torch.nn.Module:
        # rl_games prints on every normalizer it builds; the tester's log stays readable.
        with contextlib.redirect_stdout(io.StringIO()):
            model = ModelBuilder().load(self.params).build(self.build_config)
        return model.to(self.device).eval()  # eval(): the obs normalizer must not keep learning

    def from_state(self, model_state: dict) -> torch.nn.Module:
        model = self.build()
        model.load_state_dict(model_state)
        return model.eval()


@torch.no_grad()
def act(model: torch.nn.Module, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
    """Actions in [-1, 1] for a batch of observations: the mean action, or a sample around it."""
    mu, logstd, _value, _states = model.a2c_network({"obs": model.norm_obs(obs)})
    if not deterministic:
        mu = mu + torch.exp(logstd) * torch.randn_like(mu)
    return mu.clamp(-1.0, 1.0)
