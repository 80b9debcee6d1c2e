"""BlindGrasping: grasp and lift a box the policy cannot see.

Observation (94), never the box state: actuated joint positions in [-1, 1] (20) and velocities
(20, scaled), touch sensors (10: fingertips then fingerpads; they feel the table as well as the
box), previous actions (20), position targets in [-1, 1] (20), episode time fraction (1) and the
stage one-hot (3). The box pose drives only rewards, stage changes and failures (privileged).

Stages: 0 pre-grasp (palm to a pose above the box) -> 1 grasp (>= graspContacts fingers on the
box) -> 2 lift (box centre liftHeight above the table with >= minContacts fingers: success).
Each stage has a shaped reward and a completion bonus. Failures end the episode: the hand touching
the table or a fingertip below tableClearance, the box pushed boxMaxDistance away, a stage timeout.
Every weight and threshold comes from configs/task/BlindGrasping.yaml.
"""
from __future__ import annotations

import numpy as np

from services.sim import hand
from services.sim.tasks.base import HandTask


class BlindGrasping(HandTask):
    name = "BlindGrasping"
    with_box = True

    def __init__(self, cfg, model, num_envs):
        super().__init__(cfg, model, num_envs)
        c = self.cfg
        self.box_noise = c.num("reset.boxNoise", 0)
        self.base_noise = c.vec("reset.baseNoise", 2)
        self.finger_noise = c.num("reset.fingerNoise", 0)
        self.pre_height = c.num("stages.preGraspHeight", 0)
        self.pre_tol = c.num("stages.preGraspTolerance", 0)
        self.grasp_contacts = c.int("stages.graspContacts", 1)
        self.timeouts = c.vec("stages.timeouts", 3)
        self.w = {k: c.num(f"reward.{k}") for k in (
            "preGraspDistance", "graspClose", "contact", "lift", "stageBonus", "successBonus",
            "failurePenalty", "actionRate")}
        self.lift_height = c.num("success.liftHeight", 0)
        self.min_contacts = c.int("success.minContacts", 1)
        self.clearance = c.num("failure.tableClearance")
        self.box_max_distance = c.num("failure.boxMaxDistance", 0)

        self.box_q = int(model.jnt_qposadr[model.joint("box").id])
        self.box_v = int(model.jnt_dofadr[model.joint("box").id])
        self.box_contact_adr = np.array([model.sensor_adr[model.sensor(f"{f}_box").id] for f in hand.FINGERS])
        n = num_envs
        self.stage = np.zeros(n, np.int64)
        self.stage_steps = np.zeros(n, np.int64)
        self.box_start = np.zeros((n, 3))

    @property
    def num_obs(self) -> int:
        return 4 * self.num_actions + 10 + 1 + 3

    def reset_worlds(self, ids, rngs):
        self.reset_hand(ids, rngs, self.base_noise, self.finger_noise)
        s = self.state
        for i in ids:
            xy = rngs[i].uniform(-self.box_noise, self.box_noise, 2)
            s.qpos[i, self.box_q:self.box_q + 7] = [xy[0], xy[1], hand.BOX_HALF, 1, 0, 0, 0]
        s.qvel[ids, self.box_v:self.box_v + 6] = 0.0
        self.box_start[ids] = s.qpos[ids, self.box_q:self.box_q + 3]
        self.stage[ids] = 0
        self.stage_steps[ids] = 0

    # -- privileged quantities (rewards, stage logic, logs) -------------------------------------------
    def box_pos(self) -> np.ndarray:
        return self.state.qpos[:, self.box_q:self.box_q + 3]

    def box_contacts(self) -> np.ndarray:
        """(N, 5) bool: finger f (thumb first) touches the box."""
        return self.state.sensordata[:, self.box_contact_adr] > 0

    def privileged(self) -> dict:
        return {"box_pos": self.box_pos().copy(), "stage": self.stage.copy(),
                "box_contacts": self.box_contacts().sum(axis=1)}

    def evaluate(self, progress):
        s, w = self.state, self.w
        box = self.box_pos()
        palm = s.site_xpos[:, self.palm_site]
        tips = self.fingertips()
        contacts = self.box_contacts().sum(axis=1)
        lift = box[:, 2] - hand.BOX_HALF
        pre_pose = np.concatenate([box[:, :2], np.full((len(box), 1), self.pre_height)], axis=1)
        d_pre = np.linalg.norm(palm - pre_pose, axis=1)
        d_tips = np.linalg.norm(tips - box[:, None, :], axis=2).mean(axis=1)

        st = self.stage
        reward = np.select(
            [st == 0, st == 1],
            [-w["preGraspDistance"] * d_pre, -w["graspClose"] * d_tips + w["contact"] * contacts],
            w["contact"] * contacts + w["lift"] * np.clip(lift, 0.0, self.lift_height))

        advance0 = (st == 0) & (d_pre < self.pre_tol)
        advance1 = (st == 1) & (contacts >= self.grasp_contacts)
        advanced = advance0 | advance1
        reward += w["stageBonus"] * advanced
        self.stage_steps = np.where(advanced, 0, self.stage_steps + 1)
        self.stage = st + advanced

        success = (self.stage == 2) & (lift >= self.lift_height) & (contacts >= self.min_contacts)
        table = s.sensordata[:, self.table_contact_adr] > 0
        too_low = tips[:, :, 2].min(axis=1) < self.clearance
        pushed = np.linalg.norm(box[:, :2] - self.box_start[:, :2], axis=1) > self.box_max_distance
        timeout = self.stage_steps > self.timeouts[self.stage]
        failure = ~success & (table | too_low | pushed | timeout)
        reward += w["successBonus"] * success - w["failurePenalty"] * failure - w["actionRate"] * self.action_rate
        extras = {"stage": self.stage.astype(np.float32), "box_height": lift, "box_contacts": contacts,
                  "failure": failure, "table_contact": table | too_low}
        return reward, success | failure, success, extras

    def observe(self, progress):
        s = self.state
        targets = 2.0 * (self.targets - self.ctrl_lo) / (self.ctrl_hi - self.ctrl_lo) - 1.0
        return np.concatenate([
            self.joint_pos(),
            np.clip(s.qvel[:, self.v_adr] * 0.1, -5, 5),
            self.touch(),
            self.prev_actions,
            targets,
            (progress / self.episode_length)[:, None],
            np.eye(3)[self.stage],
        ], axis=1)
