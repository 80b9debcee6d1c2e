"""The Task API: what a task is, the config it reads, and the simulator state it sees.

A task is torch over all worlds at once, on the simulator's device (CPU for `mujoco`, the GPU for
`warp`): the backend hands it `SimState` — live (N, ...) tensor views of the simulator's arrays —
and the env calls reset_worlds / apply_actions / evaluate / observe. Everything a task reports is
named: its reward as a dict of *unscaled* terms (`scale_rewards` multiplies each by its weight from
the config's `reward:` section, signs there, in one place), why an episode ends early as a dict of
termination causes, its observations as a dict of pieces (observations.py derives their sizes).
docs/tasks.md describes the API for users.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from services.sim.tasks.observations import Layout, concat


class TaskConfigError(ValueError):
    """A refused task config value; str() names the key."""


class Cfg:
    """Read-only access to a task config (dict or OmegaConf node) with checked, named values."""

    def __init__(self, data: Any, prefix: str = "task"):
        from omegaconf import DictConfig, OmegaConf

        if isinstance(data, DictConfig):
            data = OmegaConf.to_container(data, resolve=True)
        self.data, self.prefix = _for_hand(dict(data or {})), prefix

    def raw(self, path: str, default=...):
        node = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is not ...:
                    return default
                raise TaskConfigError(f"{self.prefix}.{path}: missing from the task config")
            node = node[part]
        return node

    def has(self, path: str) -> bool:
        return self.raw(path, None) is not None

    def num(self, path: str, lo: float | None = None, hi: float | None = None) -> float:
        v = self.raw(path)
        ok = (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            and np.isfinite(v)
            and (lo is None or v >= lo)
            and (hi is None or v <= hi)
        )
        if not ok:
            rng = f" in [{lo}, {hi}]" if lo is not None and hi is not None else (f" >= {lo}" if lo is not None else "")
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects a number{rng}")
        return float(v)

    def int(self, path: str, lo: int = 1) -> int:
        v = self.raw(path)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects an integer >= {lo}")
        return v

    def bool(self, path: str) -> bool:
        v = self.raw(path)
        if not isinstance(v, bool):
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects true or false")
        return v

    def choice(self, path: str, options: tuple[str, ...]) -> str:
        v = self.raw(path)
        if v not in options:
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects one of {', '.join(options)}")
        return v

    def vec(self, path: str, n: int) -> np.ndarray:
        v = self.raw(path)
        ok = (
            isinstance(v, (list, tuple))
            and len(v) == n
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        )
        if not ok:
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects a list of {n} numbers")
        return np.asarray(v, dtype=np.float64)


def _for_hand(data: dict) -> dict:
    """The config with `hands.<task.hand>` merged over it: values that differ per hand model."""
    per_hand = (data.get("hands") or {}).get(data.get("hand"))
    return _merged(data, per_hand) if isinstance(per_hand, dict) else data


def _merged(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# MjData fields every backend exposes as (N, ...) tensors. State (written by tasks at reset and by
# actions): qpos, qvel, ctrl, mocap_pos. Derived by the simulator (read-only): the rest.
STATE_FIELDS = ("qpos", "qvel", "ctrl", "mocap_pos", "sensordata", "site_xpos", "xpos")


@dataclass
class SimState:
    """Live tensor views of all worlds' simulator arrays, on the simulator's device and dtype."""

    qpos: torch.Tensor  # (N, nq)
    qvel: torch.Tensor  # (N, nv)
    ctrl: torch.Tensor  # (N, nu)
    mocap_pos: torch.Tensor  # (N, nmocap, 3): markers (Reach's target)
    sensordata: torch.Tensor  # (N, nsensordata)
    site_xpos: torch.Tensor  # (N, nsite, 3)
    xpos: torch.Tensor  # (N, nbody, 3)


class Evaluation(NamedTuple):
    """What a task says after physics: unscaled reward terms, termination causes and success, per world."""

    terms: dict[str, torch.Tensor]  # every name in reward_terms -> (N,) unscaled term
    terminations: dict[str, torch.Tensor]  # every name in termination_terms -> (N,) bool: ends the episode now
    success: torch.Tensor
    metrics: dict[str, torch.Tensor] = {}  # per-world numbers for logs and info (stage, box height...)


def reward_weights(cfg: Cfg, terms: tuple[str, ...], added: dict[str, float] | None = None) -> dict[str, float]:
    """`reward.<term>` of every term the task computes; a missing or unknown key is one line.

    `added`: terms a task gained after runs were saved, with the weight a config without them gets
    (0: a run saved before the term existed plays, and shows its return, as it was trained).
    """
    added = added or {}
    given = cfg.raw("reward")
    given = set(given) if isinstance(given, dict) else set()
    unknown, missing = sorted(given - set(terms)), [t for t in terms if t not in given and t not in added]
    if unknown or missing:
        what = "; ".join(
            x
            for x in (
                f"unknown {', '.join(unknown)}" if unknown else "",
                f"missing {', '.join(missing)}" if missing else "",
            )
            if x
        )
        raise TaskConfigError(f"{cfg.prefix}.reward: {what}; the task's terms are {', '.join(terms)}")
    return {t: cfg.num(f"reward.{t}") if t in given else float(added[t]) for t in terms}


def scale_rewards(terms: dict[str, torch.Tensor], weights: dict[str, float]):
    """The one place rewards are weighted: (total (N,), scaled terms by name)."""
    scaled = {name: terms[name] * w for name, w in weights.items()}
    return torch.stack(list(scaled.values())).sum(0), scaled


class Task:
    """Base of every task. Subclasses set `name` and `reward_terms` and implement the methods below.

    Life cycle (all tensors (N, ...) on `self.device`, N = num_envs):
      model = Task.build_model(cfg)              the MjModel every world simulates
      task = Task(cfg, model, state)             state: SimState of the backend
      task.reset_worlds(ids, draws)              write the initial state of worlds `ids`
      task.apply_actions(actions)                actions in [-1, 1] -> state.ctrl
      task.evaluate(step) -> Evaluation          after physics; `step` = steps into each episode
      task.observations(step) -> {name: (N, k)}  the policy's observation pieces, in order
      task.critic_observations(step)             optional privileged critic input pieces (None: none)
    The env reads `observe` / `states` (the pieces concatenated) and `num_obs` / `num_states` (their
    sizes, derived from the pieces: obs_layout, state_layout).
    """

    name = "Task"
    reward_terms: tuple[str, ...] = ()
    added_terms: dict[str, float] = {}  # terms added after runs were saved: their weight when a config lacks them
    termination_terms: tuple[str, ...] = ()  # why an episode may end early (a time limit ends any)

    @classmethod
    def build_model(cls, cfg: Cfg):
        raise NotImplementedError

    def __init__(self, cfg: Cfg, model, state: SimState):
        self.cfg, self.model, self.state = cfg, model, state
        self.num_envs = state.qpos.shape[0]
        self.device, self.dtype = state.qpos.device, state.qpos.dtype
        self.episode_length = self.cfg.int("episodeLength")
        self.substeps = self.cfg.int("sim.substeps")  # sim.timestep/contacts shape the model (build_model)
        self.num_actions = model.nu
        self.ctrl_lo, self.ctrl_hi = (
            self.tensor(model.actuator_ctrlrange[:, 0]),
            self.tensor(model.actuator_ctrlrange[:, 1]),
        )

    def tensor(self, x, dtype=None) -> torch.Tensor:
        """A constant on the task's device (float in the simulator's dtype unless told)."""
        return torch.as_tensor(np.asarray(x), device=self.device, dtype=dtype or self.dtype)

    def index(self, x) -> torch.Tensor:
        return self.tensor(x, dtype=torch.long)

    def reset_worlds(self, ids: torch.Tensor, draws) -> None:
        raise NotImplementedError

    def apply_actions(self, actions: torch.Tensor) -> None:
        """Default: actions in [-1, 1] span each actuator's ctrl range."""
        a = torch.nan_to_num(actions, nan=0.0).clamp(-1.0, 1.0)
        self.state.ctrl.copy_(self.ctrl_lo + (a + 1.0) * 0.5 * (self.ctrl_hi - self.ctrl_lo))

    def evaluate(self, step: torch.Tensor) -> Evaluation:
        raise NotImplementedError

    def observations(self, step: torch.Tensor) -> dict[str, torch.Tensor]:
        """The policy's observation pieces, in order: name -> (N, k) or (N,) tensor. Their order and sizes
        are the network's input layout: a checkpoint plays only on the layout it was trained on."""
        raise NotImplementedError(
            f"{type(self).__name__}.observations(step): define it, returning the observation pieces "
            "{name: (N, k) tensor} in order (docs/tasks.md)"
        )

    def critic_observations(self, step: torch.Tensor) -> dict[str, torch.Tensor] | None:
        """The critic's privileged input pieces (asymmetric actor-critic), or None for none."""
        return None

    # -- what the env reads: derived from the pieces ---------------------------------------------
    def observe(self, step: torch.Tensor) -> torch.Tensor:
        """(N, num_obs): the observation pieces side by side."""
        return concat(self.observations(step))

    def states(self, step: torch.Tensor) -> torch.Tensor | None:
        """(N, num_states): the critic's pieces side by side, or None."""
        pieces = self.critic_observations(step)
        return None if pieces is None else concat(pieces)

    @functools.cached_property
    def obs_layout(self) -> Layout:
        """Names and sizes of the observation pieces, read off one call (the sizes are the tensors')."""
        return Layout(self.observations(self._any_step()), f"{type(self).__name__}.observations")

    @functools.cached_property
    def state_layout(self) -> Layout | None:
        pieces = self.critic_observations(self._any_step())
        return None if pieces is None else Layout(pieces, f"{type(self).__name__}.critic_observations")

    @property
    def num_obs(self) -> int:
        return self.obs_layout.size

    @property
    def num_states(self) -> int:
        return 0 if self.state_layout is None else self.state_layout.size

    def _any_step(self) -> torch.Tensor:
        return torch.ones(self.num_envs, dtype=torch.long, device=self.device)

    def privileged(self) -> dict[str, torch.Tensor]:
        """Simulator truth for logs, never part of observations (none by default)."""
        return {}
