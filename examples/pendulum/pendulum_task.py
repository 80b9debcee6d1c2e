"""An out-of-tree policycast task: swing a pendulum up and balance it (a template for your own).

Run it with policycast's CLI, tester and stack by putting this folder on PYTHONPATH and its configs
on POLICYCAST_CONFIG_PATH (see README.md here and docs/tasks.md):

    PYTHONPATH=examples/pendulum POLICYCAST_CONFIG_PATH=examples/pendulum/configs \\
        python train.py config=train_headless task=Pendulum
"""

from __future__ import annotations

import torch

from services.sim.tasks import Evaluation, Task

MJCF = """
<mujoco model="pendulum">
  <option timestep="0.01"/>
  <visual><global offwidth="1280" offheight="960"/><quality shadowsize="0"/></visual>
  <worldbody>
    <light pos="0 -1 2" dir="0 1 -2"/>
    <geom name="floor" type="plane" size="1 1 0.05" pos="0 0 -0.6" rgba="0.3 0.33 0.38 1"/>
    <camera name="fixed" pos="0 -1.6 0.1" xyaxes="1 0 0 0 0 1"/>
    <body name="pole" pos="0 0 0">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.05"/>
      <geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.03" rgba="0.9 0.55 0.1 1" mass="1"/>
    </body>
  </worldbody>
  <actuator><motor name="torque" joint="hinge" ctrlrange="-2 2" gear="1"/></actuator>
</mujoco>
"""


class Pendulum(Task):
    name = "Pendulum"
    reward_terms = ("upright", "velocity", "effort")

    @classmethod
    def build_model(cls, cfg):
        import mujoco

        model = mujoco.MjModel.from_xml_string(MJCF)
        model.opt.timestep = cfg.num("sim.timestep", 1e-4, 0.05)
        return model

    def __init__(self, cfg, model, state):
        super().__init__(cfg, model, state)
        self.noise = self.cfg.num("reset.angleNoise", 0)

    def reset_worlds(self, ids, draws):
        self.state.qpos[ids, 0] = draws.uniform(1, -self.noise, self.noise)[:, 0]
        self.state.qvel[ids] = 0.0

    def evaluate(self, step):
        angle, velocity = self.state.qpos[:, 0], self.state.qvel[:, 0]
        terms = {
            "upright": -torch.cos(angle),  # +1 straight up, -1 hanging down
            "velocity": velocity**2,
            "effort": self.state.ctrl[:, 0] ** 2,
        }
        up = -torch.cos(angle) > 0.95
        # no termination_terms: every episode runs to episodeLength
        return Evaluation(terms, terminations={}, success=up, metrics={"upright": -torch.cos(angle)})

    def observations(self, step):
        angle, velocity = self.state.qpos[:, 0], self.state.qvel[:, 0]
        return {"angle": torch.stack([torch.cos(angle), torch.sin(angle)], dim=1), "velocity": velocity / 10.0}
