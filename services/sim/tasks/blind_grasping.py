"""BlindGrasping: grasp and lift a box the policy cannot see.

Observation (94), never the box state: actuated joint positions in [-1, 1] (20) and velocities
(20, scaled), touch sensors (10: fingertips then fingerpads; they feel the table as well as the
box), previous actions (20), position targets in [-1, 1] (20), episode time fraction (1) and the
stage one-hot (3). The box pose drives only rewards, stage changes and failures (privileged).

Stages: 0 pre-grasp (palm to a pose above the box) -> 1 grasp (>= graspContacts fingers on the
box) -> 2 lift (box centre liftHeight above the table with >= minContacts fingers: success).
Each stage has a shaped reward term and a completion bonus. Failures end the episode: the hand
touching the table or a fingertip below tableClearance, the box pushed boxMaxDistance away, a
stage timeout. Every weight and threshold comes from configs/task/BlindGrasping.yaml.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from services.sim.tasks.base import Evaluation
from services.sim.tasks.hand_task import HandTask


class BlindGrasping(HandTask):
    name = "BlindGrasping"
    with_box = True
    reward_terms = ("preGraspDistance", "fingertipDistance", "contact", "lift", "stageBonus", "success",
                    "failure", "actionRate")

    def __init__(self, cfg, model, state):
        super().__init__(cfg, model, state)
        c = self.cfg
        self.box_noise = c.num("reset.boxNoise", 0)
        self.base_noise = c.vec("reset.baseNoise", 2)
        self.finger_noise = c.num("reset.fingerNoise", 0)
        self.pre_height = c.num("stages.preGraspHeight", 0)
        self.pre_tol = c.num("stages.preGraspTolerance", 0)
        self.grasp_contacts = c.int("stages.graspContacts", 1)
        self.timeouts = self.index(c.vec("stages.timeouts", 3))
        self.lift_height = c.num("success.liftHeight", 0)
        self.min_contacts = c.int("success.minContacts", 1)
        self.clearance = c.num("failure.tableClearance")
        self.box_max_distance = c.num("failure.boxMaxDistance", 0)
        self.box_half = self.hand.BOX_HALF

        self.box_q = int(model.jnt_qposadr[model.joint("box").id])
        self.box_v = int(model.jnt_dofadr[model.joint("box").id])
        self.box_contact_adr = self.index([model.sensor_adr[model.sensor(f"{f}_box").id] for f in self.hand.FINGERS])
        n = self.num_envs
        self.stage = torch.zeros(n, dtype=torch.long, device=self.device)
        self.stage_steps = torch.zeros_like(self.stage)
        self.box_start = torch.zeros(n, 3, device=self.device, dtype=self.dtype)
        self.box_pose0 = self.tensor([0.0, 0.0, self.box_half, 1.0, 0.0, 0.0, 0.0])

    @property
    def num_obs(self) -> int:
        return 4 * self.num_actions + 10 + 1 + 3

    def reset_worlds(self, ids, draws):
        self.reset_hand(ids, draws, self.base_noise, self.finger_noise)
        s, q, v = self.state, self.box_q, self.box_v
        pose = self.box_pose0.repeat(len(ids), 1)
        pose[:, :2] = draws.uniform(2) * self.box_noise
        s.qpos[ids, q:q + 7] = pose
        s.qvel[ids, v:v + 6] = 0.0
        self.box_start[ids] = pose[:, :3]
        self.stage[ids] = 0
        self.stage_steps[ids] = 0

    # -- privileged quantities (rewards, stage logic, logs) -------------------------------------------
    def box_pos(self) -> torch.Tensor:
        return self.state.qpos[:, self.box_q:self.box_q + 3]

    def box_contacts(self) -> torch.Tensor:
        """(N, 5) bool: finger f (thumb first) touches the box."""
        return self.state.sensordata[:, self.box_contact_adr] > 0

    def privileged(self) -> dict:
        return {"box_pos": self.box_pos().clone(), "stage": self.stage.clone(),
                "box_contacts": self.box_contacts().sum(dim=1)}

    def evaluate(self, step):
        s = self.state
        box = self.box_pos()
        palm = s.site_xpos[:, self.palm_site]
        tips = self.fingertips()
        contacts = self.box_contacts().sum(dim=1)
        lift = box[:, 2] - self.box_half
        pre_pose = torch.cat([box[:, :2], torch.full_like(box[:, :1], self.pre_height)], dim=1)
        d_pre = torch.linalg.vector_norm(palm - pre_pose, dim=1)
        d_tips = torch.linalg.vector_norm(tips - box[:, None, :], dim=2).mean(dim=1)

        st = self.stage
        advanced = ((st == 0) & (d_pre < self.pre_tol)) | ((st == 1) & (contacts >= self.grasp_contacts))
        self.stage_steps = torch.where(advanced, 0, self.stage_steps + 1)
        self.stage = st + advanced.long()

        success = (self.stage == 2) & (lift >= self.lift_height) & (contacts >= self.min_contacts)
        table = s.sensordata[:, self.table_contact_adr] > 0
        too_low = tips[:, :, 2].amin(dim=1) < self.clearance
        pushed = torch.linalg.vector_norm(box[:, :2] - self.box_start[:, :2], dim=1) > self.box_max_distance
        timeout = self.stage_steps > self.timeouts[self.stage]
        failure = ~success & (table | too_low | pushed | timeout)
        f = lambda x: x.to(self.dtype)
        terms = {  # each stage's shaping term counts in the stage the step started in
            "preGraspDistance": d_pre * f(st == 0),
            "fingertipDistance": d_tips * f(st == 1),
            "contact": f(contacts) * f(st >= 1),
            "lift": lift.clamp(0.0, self.lift_height) * f(st == 2),
            "stageBonus": f(advanced),
            "success": f(success),
            "failure": f(failure),
            "actionRate": self.action_rate,
        }
        metrics = {"stage": self.stage, "box_height": lift, "box_contacts": contacts, "failure": failure,
                   "table_contact": table | too_low}
        return Evaluation(terms, success | failure, success, metrics)

    def observe(self, step):
        s = self.state
        targets = 2.0 * (self.targets - self.ctrl_lo) / (self.ctrl_hi - self.ctrl_lo) - 1.0
        return torch.cat([
            self.joint_pos(),
            torch.clamp(s.qvel[:, self.v_adr] * 0.1, -5, 5),
            self.touch(),
            self.prev_actions,
            targets,
            (step / self.episode_length).to(self.dtype)[:, None],
            F.one_hot(self.stage, 3).to(self.dtype),
        ], dim=1)
