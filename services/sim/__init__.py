"""Batched MuJoCo hand tasks (Reach, BlindGrasping) with offscreen rendering, shared by services.

env = make_env(cfg.task, num_envs=64, device="cpu", seed=42, backend="mujoco")   # docs/design.md
"""

from __future__ import annotations

from services.sim.render import choose_gl

# MUJOCO_GL is read when mujoco is imported: headless EGL unless the user chose otherwise
# (osmesa when only it is installed).
choose_gl()

from services.sim.backends import backends, physics_factory, register_backend, resolve_backend  # noqa: E402


def make_env(task_cfg, num_envs: int, device: str = "cpu", seed: int = 0, backend: str = "mujoco", **kwargs):
    """A batched env of the task `task_cfg` names, with `num_envs` worlds on the named physics backend.

    Tensors come out on `device`; the task math runs where the physics runs (the CPU for mujoco,
    `device` for warp). `compile=` (env.compile): fuse the per-step task math with torch.compile; None
    (the default) = on a CUDA device only.
    """
    from services.sim.env import BatchedEnv

    if not isinstance(num_envs, int) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"numEnvs={num_envs!r}: not accepted; expects an integer >= 1")
    return BatchedEnv(task_cfg, num_envs, physics_factory(backend, device), device=device, seed=seed, **kwargs)


__all__ = ["make_env", "register_backend", "resolve_backend", "backends"]
