"""Reach: move the fingertip centroid to a random target. Small, dense, learns in about a minute.

Observation (32): actuated joint positions in [-1, 1] (20), base joint velocities (6, scaled),
(target - centroid) / 0.1 m (3), target relative to the nominal centroid / 0.1 m (3).
Reward per step: -distance * w_d + w_b * exp(-distance / scale) - w_r * action rate.
Episodes end by time only; success = centroid within `successTolerance` at the last step.
"""
from __future__ import annotations

import numpy as np

from services.sim.tasks.base import HandTask


class Reach(HandTask):
    name = "Reach"
    with_box = False
    with_target = True

    def __init__(self, cfg, model, num_envs):
        super().__init__(cfg, model, num_envs)
        c = self.cfg
        self.target_low, self.target_high = c.vec("target.low", 3), c.vec("target.high", 3)
        self.base_noise = c.vec("reset.baseNoise", 2)
        self.finger_noise = c.num("reset.fingerNoise", 0)
        self.w_distance = c.num("reward.distance")
        self.w_bonus = c.num("reward.closeBonus")
        self.bonus_scale = c.num("reward.closeScale", 1e-4)
        self.w_rate = c.num("reward.actionRate")
        self.tolerance = c.num("successTolerance", 0)
        self.nominal = _nominal_centroid(model, self.tip_sites)
        self.target = np.tile(self.nominal, (num_envs, 1))
        self.distance = np.zeros(num_envs)

    @property
    def num_obs(self) -> int:
        return self.num_actions + 6 + 3 + 3

    def reset_worlds(self, ids, rngs):
        self.reset_hand(ids, rngs, self.base_noise, self.finger_noise)
        for i in ids:
            self.target[i] = self.nominal + rngs[i].uniform(self.target_low, self.target_high)
        self.state.mocap_pos[ids, 0] = self.target[ids]  # the green marker in rendered frames

    def centroid(self) -> np.ndarray:
        return self.fingertips().mean(axis=1)

    def evaluate(self, progress):
        self.distance = np.linalg.norm(self.target - self.centroid(), axis=1)
        reward = (-self.w_distance * self.distance + self.w_bonus * np.exp(-self.distance / self.bonus_scale)
                  - self.w_rate * self.action_rate)
        terminated = np.zeros(self.num_envs, bool)
        success = self.distance < self.tolerance
        return reward, terminated, success, {"distance": self.distance}

    def observe(self, progress):
        s = self.state
        return np.concatenate([
            self.joint_pos(),
            np.clip(s.qvel[:, self.v_adr[:6]] * 0.2, -5, 5),
            np.clip((self.target - self.centroid()) / 0.1, -5, 5),
            (self.target - self.nominal) / 0.1,
        ], axis=1)


def _nominal_centroid(model, tip_sites) -> np.ndarray:
    import mujoco
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return data.site_xpos[tip_sites].mean(axis=0).copy()
