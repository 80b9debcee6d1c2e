"""Simulator backends: name -> factory(task_cfg, num_envs, device, seed) -> batched env.

The seam for other simulators (MuJoCo Warp / MJX on a GPU, Isaac Gym where a user has it): a backend
module calls `register_backend("warp", factory)` and `make_env(..., backend="warp")` finds it; no
service changes. A backend returns an object with the API in docs/design.md (num_envs, num_obs,
num_actions, dt, max_episode_length, reset, step, render, world, close). The task math lives in
services.sim.tasks and works on numpy arrays of all worlds at once, so a backend only has to expose
its state as (num_envs, ...) arrays (see services.sim.tasks.base.SimState).
"""
from __future__ import annotations

from typing import Callable

_BACKENDS: dict[str, Callable] = {}


def register_backend(name: str, factory: Callable) -> None:
    _BACKENDS[name] = factory


def get_backend(name: str) -> Callable:
    if name not in _BACKENDS:
        raise ValueError(f"env.backend={name!r}: unknown simulator backend; accepts {', '.join(sorted(_BACKENDS))}")
    return _BACKENDS[name]


def backends() -> list[str]:
    return sorted(_BACKENDS)


def _mujoco(task_cfg, num_envs, device="cpu", seed=0, **kwargs):
    from services.sim.backends.mujoco_batch import MujocoBatchEnv  # imports mujoco only when used
    return MujocoBatchEnv(task_cfg, num_envs, device=device, seed=seed, **kwargs)


register_backend("mujoco", _mujoco)
