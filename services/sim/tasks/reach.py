"""Reach: move the fingertip centroid to a random target. Small, dense, learns in about a minute.

Observation pieces (`observations`; 32 with the procedural hand): jointPos, the actuated joints in
[-1, 1]; baseVel, the six base joint velocities (scaled); toTarget, (target - centroid) / 0.1 m;
target, the target relative to the nominal centroid / 0.1 m.
Reward terms (weights in configs/task/Reach.yaml): distance (m), closeBonus = exp(-distance /
closeScale), actionRate (mean squared action change). Episodes end by time only (no termination
terms); success = centroid within `successTolerance` at the last step.
"""

from __future__ import annotations

import torch

from services.sim.tasks.base import Evaluation
from services.sim.tasks.hand_task import HandTask


class Reach(HandTask):
    name = "Reach"
    with_box = False
    with_target = True
    reward_terms = ("distance", "closeBonus", "actionRate")

    def __init__(self, cfg, model, state):
        super().__init__(cfg, model, state)
        c = self.cfg
        self.target_low, self.target_high = self.tensor(c.vec("target.low", 3)), self.tensor(c.vec("target.high", 3))
        self.base_noise = c.vec("reset.baseNoise", 2)
        self.finger_noise = c.num("reset.fingerNoise", 0)
        self.close_scale = c.num("closeScale", 1e-4)
        self.tolerance = c.num("successTolerance", 0)
        self.nominal = self.tensor(_nominal_centroid(model, self.tip_sites.tolist()))
        self.target = self.nominal.repeat(self.num_envs, 1)

    def reset_worlds(self, ids, draws):
        self.reset_hand(ids, draws, self.base_noise, self.finger_noise)
        self.target[ids] = self.nominal + draws.uniform(3, self.target_low, self.target_high)
        self.state.mocap_pos[ids, 0] = self.target[ids]  # the green marker in rendered frames

    def centroid(self) -> torch.Tensor:
        return self.fingertips().mean(dim=1)

    def evaluate(self, step):
        distance = torch.linalg.vector_norm(self.target - self.centroid(), dim=1)
        terms = {
            "distance": distance,
            "closeBonus": torch.exp(-distance / self.close_scale),
            "actionRate": self.action_rate,
        }
        return Evaluation(terms, {}, distance < self.tolerance, {"distance": distance})

    def observations(self, step):
        return {
            "jointPos": self.joint_pos(),
            "baseVel": torch.clamp(self.state.qvel[:, self.v_adr[:6]] * 0.2, -5, 5),
            "toTarget": torch.clamp((self.target - self.centroid()) / 0.1, -5, 5),
            "target": (self.target - self.nominal) / 0.1,
        }


def _nominal_centroid(model, tip_sites):
    import mujoco

    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return data.site_xpos[tip_sites].mean(axis=0).copy()
