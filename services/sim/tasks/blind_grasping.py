"""BlindGrasping: grasp and lift a box the policy cannot see.

Observation (94 with the procedural hand), never the box state: actuated joint positions in
[-1, 1] (nu) and velocities (nu, scaled), touch sensors (10: fingertips then fingerpads; they feel
the table as well as the box), previous actions (nu), position targets in [-1, 1] (nu), episode
time fraction (1) and the stage one-hot (3). The box pose drives only rewards, stage changes,
failures and the critic's privileged `states` (asymmetric actor-critic).

Stages: 0 pre-grasp (palm to a pose above the box) -> 1 grasp (>= graspContacts fingers gripping the
box, with graspThumb the thumb among them, for graspSteps steps in a row: a grasp, not a touch) -> 2
lift. Lift is the height of the box's lowest corner above the table; the box is held while
>= minContacts fingers grip it (with graspThumb, the thumb among them). A held box pays `liftBonus`
once per height of liftBonusHeights it first reaches in the episode. Success: a lift of liftHeight
with >= minContacts fingers on the box for holdSteps steps; the episode then runs on, rewarding
holding it up, until its time limit (ending it at success would make holding the box worth more than
lifting it). Failures end the episode: the hand touching the table or a fingertip below
tableClearance, the box pushed boxMaxDistance away on the table, a stage timeout, the grasp lost for
graspLostSteps in the lift stage. Every weight and threshold comes from configs/task/BlindGrasping.yaml.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from services.sim.tasks.base import Evaluation
from services.sim.tasks.hand_task import HandTask


class BlindGrasping(HandTask):
    name = "BlindGrasping"
    with_box = True
    reward_terms = (
        "preGraspDistance",
        "fingertipDistance",
        "contact",
        "hold",
        "lift",
        "liftBonus",
        "stageBonus",
        "success",
        "failure",
        "actionRate",
    )
    # Runs saved before liftBonus existed play as they were trained: no bonus.
    added_terms = {"liftBonus": 0.0}

    def __init__(self, cfg, model, state):
        super().__init__(cfg, model, state)
        c = self.cfg
        self.box_noise = c.num("reset.boxNoise", 0)
        self.base_noise = c.vec("reset.baseNoise", 2)
        self.finger_noise = c.num("reset.fingerNoise", 0)
        self.pre_offset = self.tensor(c.vec("stages.preGraspOffset", 3))
        self.pre_tol = c.num("stages.preGraspTolerance", 0)
        self.grasp_contacts = c.int("stages.graspContacts", 1)
        self.grasp_steps = c.int("stages.graspSteps", 1)
        # < 0: tips above the top count too. Runs saved before gripDepth existed play as they were
        # trained: every touch counts (the stage is in the policy's observation).
        self.grip_depth = c.num("stages.gripDepth") if c.has("stages.gripDepth") else -float("inf")
        # Runs saved before graspThumb / liftBonusHeights existed: any fingers grasp, and no bonus heights.
        self.thumb = c.bool("stages.graspThumb") if c.has("stages.graspThumb") else False
        bonus = c.raw("liftBonusHeights", None) or []
        self.bonus_heights = self.tensor(c.vec("liftBonusHeights", len(bonus)) if bonus else [])
        self.timeouts = self.index(c.vec("stages.timeouts", 3))
        self.lift_height = c.num("success.liftHeight", 1e-3)
        self.lift_exponent = c.num("liftExponent", 0.05, 1.0)
        self.min_contacts = c.int("success.minContacts", 1)
        self.hold_steps = c.int("success.holdSteps", 1)
        self.clearance = c.num("failure.tableClearance")
        self.box_max_distance = c.num("failure.boxMaxDistance", 0)
        self.lost_steps = c.int("failure.graspLostSteps", 1)
        self.box_half = self.hand.BOX_HALF

        self.box_q = int(model.jnt_qposadr[model.joint("box").id])
        self.box_v = int(model.jnt_dofadr[model.joint("box").id])
        self.box_contact_adr = self.index([model.sensor_adr[model.sensor(f"{f}_box").id] for f in self.hand.FINGERS])
        n = self.num_envs
        long = lambda: torch.zeros(n, dtype=torch.long, device=self.device)
        self.stage, self.stage_steps, self.high_steps, self.lost, self.grasp_held = (
            long(),
            long(),
            long(),
            long(),
            long(),
        )
        self.succeeded = torch.zeros(n, dtype=torch.bool, device=self.device)
        self.best_lift = torch.zeros(n, device=self.device, dtype=self.dtype)  # the held box's highest this episode
        self.box_start = torch.zeros(n, 3, device=self.device, dtype=self.dtype)
        self.box_pose0 = self.tensor([0.0, 0.0, self.box_half, 1.0, 0.0, 0.0, 0.0])
        self.num_states = self.num_obs + 3 + 1 + 6 + 4 + 2 + 3 * len(self.hand.FINGERS) + len(self.hand.FINGERS) + 1

    @property
    def num_obs(self) -> int:
        return 4 * self.num_actions + 10 + 1 + 3

    def reset_worlds(self, ids, draws):
        self.reset_hand(ids, draws, self.base_noise, self.finger_noise)
        s, q, v = self.state, self.box_q, self.box_v
        pose = self.box_pose0.repeat(len(ids), 1)
        pose[:, :2] = draws.uniform(2) * self.box_noise
        s.qpos[ids, q : q + 7] = pose
        s.qvel[ids, v : v + 6] = 0.0
        self.box_start[ids] = pose[:, :3]
        for counter in (self.stage, self.stage_steps, self.high_steps, self.lost, self.grasp_held):
            counter[ids] = 0
        self.succeeded[ids] = False
        self.best_lift[ids] = 0.0

    # -- privileged quantities (rewards, stage logic, the critic, logs) --------------------------------
    def box_pos(self) -> torch.Tensor:
        return self.state.qpos[:, self.box_q : self.box_q + 3]

    def box_lift(self) -> torch.Tensor:
        """Height of the box's lowest corner above the table (m): 0 while it rests on the table, tilted or not.

        The centre alone rises 1 cm when the box is only tipped onto an edge, and policies learnt to
        collect lift reward that way.
        """
        q = self.state.qpos[:, self.box_q + 3 : self.box_q + 7]
        w, x, y, z = q.unbind(dim=1)
        up = torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], dim=1)  # R's 3rd row
        return self.box_pos()[:, 2] - self.box_half * up.abs().sum(dim=1)

    def box_contacts(self) -> torch.Tensor:
        """(N, 5) bool: finger f (thumb first) touches the box."""
        return self.state.sensordata[:, self.box_contact_adr] > 0

    def gripping(self, touching: torch.Tensor, tips: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
        """(N, 5) bool: finger f touches the box with its tip gripDepth below the box's top face.

        A hand pressing the box down from above touches it too; only fingers beside it can lift it.
        """
        top = box[:, 2] + self.box_half - self.grip_depth
        return touching & (tips[:, :, 2] < top[:, None])

    def grasping(self, gripping: torch.Tensor, fingers: int) -> torch.Tensor:
        """(N,) bool: at least `fingers` fingers grip the box, the thumb among them when graspThumb is set
        (a thumb opposing the fingers, as Isaac Lab's DexSuite counts a grasp: policies pinched the box with
        index and middle finger and lost it on the way up)."""
        enough = gripping.sum(dim=1) >= fingers
        return enough & gripping[:, 0] if self.thumb else enough

    def privileged(self) -> dict:
        return {
            "box_pos": self.box_pos().clone(),
            "stage": self.stage.clone(),
            "box_contacts": self.box_contacts().sum(dim=1),
        }

    def evaluate(self, step):
        s = self.state
        box = self.box_pos()
        palm = s.site_xpos[:, self.palm_site]
        tips = self.fingertips()
        touching = self.box_contacts()
        contacts = touching.sum(dim=1)
        gripping = self.gripping(touching, tips, box)  # what grasps and holds count; success counts contacts
        grips = gripping.sum(dim=1)
        holding = self.grasping(gripping, self.min_contacts)
        lift = self.box_lift()
        pre_pose = torch.cat([box[:, :2], torch.zeros_like(box[:, :1])], dim=1) + self.pre_offset
        d_pre = torch.linalg.vector_norm(palm - pre_pose, dim=1)
        d_tips = torch.linalg.vector_norm(tips - box[:, None, :], dim=2)
        if self.thumb:  # the thumb weighs as much as the four fingers; their grip pays only with it
            d_tips = 0.5 * (d_tips[:, 0] + d_tips[:, 1:].mean(dim=1))
            paid_grips = grips * gripping[:, 0]
        else:
            d_tips, paid_grips = d_tips.mean(dim=1), grips

        st = self.stage  # each stage's terms count in the stage the step started in
        grasped = self.grasping(gripping, self.grasp_contacts)
        self.grasp_held = torch.where((st == 1) & grasped, self.grasp_held + 1, 0)
        advanced = ((st == 0) & (d_pre < self.pre_tol)) | ((st == 1) & (self.grasp_held >= self.grasp_steps))
        self.stage_steps = torch.where(advanced, 0, self.stage_steps + 1)
        self.stage = st + advanced.long()

        lifted = (self.stage == 2) & (lift >= self.lift_height) & (contacts >= self.min_contacts)
        self.high_steps = torch.where(lifted, self.high_steps + 1, 0)
        newly = (self.high_steps >= self.hold_steps) & ~self.succeeded
        self.succeeded |= newly
        self.lost = torch.where((self.stage == 2) & ~holding, self.lost + 1, 0)
        best = torch.where((st == 2) & holding, torch.maximum(self.best_lift, lift), self.best_lift)
        reached = (best[:, None] >= self.bonus_heights) & (self.best_lift[:, None] < self.bonus_heights)
        self.best_lift = best

        table = s.sensordata[:, self.table_contact_adr] > 0
        too_low = tips[:, :, 2].amin(dim=1) < self.clearance
        pushed = (st < 2) & (
            torch.linalg.vector_norm(box[:, :2] - self.box_start[:, :2], dim=1) > self.box_max_distance
        )
        timeout = self.stage_steps > self.timeouts[self.stage]
        dropped = self.lost > self.lost_steps
        failure = ~self.succeeded & (table | too_low | pushed | timeout | dropped)
        f = lambda x: x.to(self.dtype)
        in_lift = f(st == 2)
        terms = {
            "preGraspDistance": d_pre * f(st == 0),
            "fingertipDistance": d_tips * f(st == 1),
            "contact": f(paid_grips) * f(st == 1),
            "hold": f(holding) * in_lift,
            "lift": (lift / self.lift_height).clamp(0.0, 1.0) ** self.lift_exponent * f(holding) * in_lift,
            "liftBonus": f(reached.sum(dim=1)),
            "stageBonus": f(advanced),
            "success": f(newly),
            "failure": f(failure),
            "actionRate": self.action_rate,
        }
        # why a world failed, for logs: 1 table, 2 fingertip too low, 3 box pushed, 4 stage timeout, 5 grasp lost
        causes = torch.stack([table, too_low, pushed, timeout, dropped], dim=1)
        cause = torch.where(failure, causes.long().argmax(dim=1) + 1, 0)
        metrics = {
            "stage": self.stage,
            "box_height": lift,
            "best_lift": self.best_lift,  # on an episode's last step: the highest the hand held the box
            "box_contacts": contacts,
            "failure": failure,
            "failure_cause": cause,
            "table_contact": table | too_low,
        }
        return Evaluation(terms, failure, self.succeeded.clone(), metrics)

    def observe(self, step):
        s = self.state
        targets = 2.0 * (self.targets - self.ctrl_lo) / (self.ctrl_hi - self.ctrl_lo) - 1.0
        return torch.cat(
            [
                self.joint_pos(),
                torch.clamp(s.qvel[:, self.v_adr] * 0.1, -5, 5),
                self.touch(),
                self.prev_actions,
                targets,
                (step / self.episode_length).to(self.dtype)[:, None],
                F.one_hot(self.stage, 3).to(self.dtype),
            ],
            dim=1,
        )

    def states(self, step):
        """The critic's input: the observations plus the box and the contacts the policy never sees."""
        s, box = self.state, self.box_pos()
        q, v = self.box_q, self.box_v
        palm = s.site_xpos[:, self.palm_site]
        tips = self.fingertips() - box[:, None, :]
        return torch.cat(
            [
                self.observe(step),
                (box - palm) / 0.1,
                (self.box_lift()[:, None] / self.lift_height).clamp(-1, 2),
                torch.clamp(s.qvel[:, v : v + 6] * 0.2, -5, 5),
                s.qpos[:, q + 3 : q + 7],
                (box[:, :2] - self.box_start[:, :2]) / 0.1,
                tips.reshape(len(box), -1) / 0.1,
                self.box_contacts().to(self.dtype),
                (self.stage_steps.to(self.dtype) / self.timeouts[self.stage])[:, None],
            ],
            dim=1,
        )
