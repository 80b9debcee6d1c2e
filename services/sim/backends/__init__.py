"""Physics backends: name -> factory(model, num_envs, device, cfg, **kwargs) -> physics (cfg: the task's Cfg).

A physics object steps N worlds of one MjModel and exposes them as `state` (a SimState of live
(N, ...) torch views on its `device`), with `step(nstep) -> broken (N,) bool`, `reset(ids)` (the
model's defaults), `forward(ids)` (derived fields of fresh states), `faults()` ((N,) nonzero where a
world's step went wrong, or None; the env reads it with the step's other results) and
`raise_faults(host values)` (the clear error), and `close()`. Tasks run on
top of any of them unchanged (services.sim.env). `mujoco` steps on the CPU (mujoco.batch); `warp`
on a GPU (MuJoCo Warp, `pip install -e '.[gpu]'`); `auto` picks warp for a CUDA device when
mujoco_warp is installed, else mujoco.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

_BACKENDS: dict[str, Callable] = {}


def register_backend(name: str, factory: Callable) -> None:
    _BACKENDS[name] = factory


def backends() -> list[str]:
    return sorted([*_BACKENDS, "auto"])


def resolve_backend(name: str, device: str) -> str:
    """`auto` -> the backend a run on `device` gets; other names are checked and returned."""
    if name == "auto":
        cuda = str(device).startswith("cuda")
        return "warp" if cuda and importlib.util.find_spec("mujoco_warp") is not None else "mujoco"
    if name not in _BACKENDS:
        raise ValueError(f"env.backend={name!r}: unknown simulator backend; accepts {', '.join(backends())}")
    if name == "warp" and importlib.util.find_spec("mujoco_warp") is None:
        raise ValueError("env.backend=warp: MuJoCo Warp is not installed here (pip install -e '.[gpu]')")
    return name


def physics_factory(name: str, device: str) -> Callable:
    return _BACKENDS[resolve_backend(name, device)]


def _mujoco(model, num_envs, device="cpu", **kwargs):
    from services.sim.backends.mujoco_batch import MujocoBatchPhysics  # imports mujoco only when used

    return MujocoBatchPhysics(model, num_envs, device=device, **kwargs)


def _warp(model, num_envs, device="cpu", **kwargs):
    from services.sim.backends.warp import WarpPhysics  # imports warp only when used

    return WarpPhysics(model, num_envs, device=device, **kwargs)


register_backend("mujoco", _mujoco)
register_backend("warp", _warp)
