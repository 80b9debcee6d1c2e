"""A test task whose outcome the world decides, not the policy: even worlds succeed and run the full
episode, odd worlds fail at step `failAt` and end at once. Its true success rate is 50 % for every
checkpoint, and a count of the first episodes to *end* sees mostly failures (they end 8x sooner)."""

from __future__ import annotations

import torch

from services.sim.tasks import Evaluation, Task

MJCF = """
<mujoco model="outcome">
  <visual><global offwidth="1280" offheight="960"/></visual>
  <worldbody>
    <camera name="fixed" pos="0 -1.6 0.1" xyaxes="1 0 0 0 0 1"/>
    <body name="pole"><joint name="hinge" type="hinge" axis="0 1 0" damping="0.05"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.03" mass="1"/></body>
  </worldbody>
  <actuator><motor name="torque" joint="hinge" ctrlrange="-1 1"/></actuator>
</mujoco>
"""


class Outcome(Task):
    name = "Outcome"
    reward_terms = ("alive",)
    termination_terms = ("failAt",)

    @classmethod
    def build_model(cls, cfg):
        import mujoco

        return mujoco.MjModel.from_xml_string(MJCF)

    def __init__(self, cfg, model, state):
        super().__init__(cfg, model, state)
        self.fail_at = self.cfg.int("failAt")
        self.fails = torch.arange(self.num_envs, device=self.device) % 2 == 1

    def reset_worlds(self, ids, draws):
        self.state.qpos[ids, 0] = draws.uniform(1, -0.1, 0.1)[:, 0]

    def evaluate(self, step):
        failed = self.fails & (step >= self.fail_at)
        alive = torch.ones(self.num_envs, dtype=self.dtype, device=self.device)
        return Evaluation({"alive": alive}, terminations={"failAt": failed}, success=~self.fails)

    def observations(self, step):
        return {"angle": self.state.qpos[:, 0], "velocity": self.state.qvel[:, 0]}
