"""Task configs and scripted controllers shared by the sim tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "task"


def task_cfg(task_name: str, **overrides):
    cfg = OmegaConf.load(CONFIGS / f"{task_name}.yaml")
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value)
    return cfg


def hand_actions(env, base_goal: np.ndarray, fingers: dict[str, float]) -> torch.Tensor:
    """Actions that steer a BlindGrasping hand (delta base, absolute fingers) to a pose.

    base_goal: (N, 6) joint targets for ARTx..ARRz; fingers: joint name -> angle (others 0).
    """
    t = env.task
    lo, hi, delta = (x.cpu().numpy() for x in (t.ctrl_lo, t.ctrl_hi, t.delta))
    a = np.zeros((env.num_envs, env.num_actions))
    a[:, :6] = np.clip((base_goal - t.targets[:, :6].cpu().numpy()) / delta[:6], -1, 1)
    q = np.array([fingers.get(n, 0.0) for n in t.act_joints[6:]])
    a[:, 6:] = 2 * (q - lo[6:]) / (hi[6:] - lo[6:]) - 1
    return torch.as_tensor(a, dtype=torch.float32)


CLOSED = {
    "th_mcp": 1.2,
    "th_pip": 1.0,
    **{f"{f}_mcp": 1.2 for f in ("ff", "mf", "rf", "lf")},
    **{f"{f}_pip": 1.0 for f in ("ff", "mf", "rf", "lf")},
}


def pixel(model, data, camera: str, point, width: int, height: int) -> tuple[int, int]:
    """Where a world point lands in a camera's image (MuJoCo cameras look down their -z, y up)."""
    cam = model.camera(camera).id
    p = data.cam_xmat[cam].reshape(3, 3).T @ (np.asarray(point) - data.cam_xpos[cam])
    f = 0.5 * height / np.tan(np.radians(model.cam_fovy[cam]) / 2)
    return int(width / 2 + f * p[0] / -p[2]), int(height / 2 - f * p[1] / -p[2])
