"""BlindGrasping: grasp and lift a box the policy cannot see.

Observation pieces (`observations`; 94 with the procedural hand), never the box state: jointPos,
the actuated joints in [-1, 1]; jointVel, their velocities (scaled); touch, the touch sensors
(fingertips then fingerpads; they feel the table as well as the box); prevActions; targets, the
position targets in [-1, 1]; episodeTime, the episode's elapsed fraction; stage, one-hot. The box
drives only rewards, stage changes, failures and the critic's privileged pieces
(`critic_observations`: the observations, then the box relative to the palm and the fingertips, its
lift, velocity, orientation and shift, finger contacts and the stage's elapsed fraction).

Stages: 0 pre-grasp (palm to a pose above the box) -> 1 grasp (>= graspContacts fingers gripping the
box, with graspThumb the thumb among them, for graspSteps steps in a row: a grasp, not a touch) -> 2
lift. Lift is the height of the box's lowest corner above the table; the box is held while
>= minContacts fingers grip it (with graspThumb, the thumb among them). A held box pays `liftBonus`
once per height of liftBonusHeights it first reaches in the episode. Success: a lift of liftHeight
with >= minContacts fingers on the box for holdSteps steps; the episode then runs on, rewarding
holding it up, until its time limit (ending it at success would make holding the box worth more than
lifting it). Failures end the episode (`termination_terms`, computed in `_get_termination`):
tableContact, the hand touching the table; tableClearance, a fingertip below failure.tableClearance;
boxPushed, the box pushed boxMaxDistance away on the table; stageTimeout; graspLost, the grasp lost for
graspLostSteps in the lift stage. Reward terms: `reward_terms`, computed in `_get_reward`. Every weight
and threshold comes from configs/task/BlindGrasping.yaml.
"""

from __future__ import annotations

from typing import NamedTuple

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
    # Why an episode fails (see the module docstring), in the order a step with several counts them:
    # the first that holds is the episode's termination in logs.
    termination_terms = ("tableContact", "tableClearance", "boxPushed", "stageTimeout", "graspLost")

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
        """After physics, in the order Playground's tasks take: measure, move the stage machine and the
        success count on, then the terminations and the reward terms of this step."""
        m = self._measure()
        started, advanced = self._advance_stages(m)
        newly = self._advance_success(m)
        reached = self._advance_best_lift(m, started)
        terminations = self._get_termination(m, started)
        failure = torch.stack(list(terminations.values()), dim=1).any(dim=1)
        terms = self._get_reward(m, started, advanced, newly, reached, failure)
        metrics = {
            "stage": self.stage,
            "box_height": m.lift,
            "best_lift": self.best_lift,  # on an episode's last step: the highest the hand held the box
            "box_contacts": m.contacts,
            "failure": failure,
            "table_contact": m.on_table | m.too_low,
        }
        return Evaluation(terms, terminations, self.succeeded.clone(), metrics)

    def _measure(self) -> Measures:
        """What this step's physics says about the hand and the box (no task state changes)."""
        s = self.state
        box, palm, tips = self.box_pos(), s.site_xpos[:, self.palm_site], self.fingertips()
        touching = self.box_contacts()
        gripping = self.gripping(touching, tips, box)  # what grasps and holds count; success counts contacts
        pre_pose = torch.cat([box[:, :2], torch.zeros_like(box[:, :1])], dim=1) + self.pre_offset
        return Measures(
            box=box,
            tips=tips,
            contacts=touching.sum(dim=1),
            gripping=gripping,
            holding=self.grasping(gripping, self.min_contacts),
            lift=self.box_lift(),
            pre_distance=torch.linalg.vector_norm(palm - pre_pose, dim=1),
            on_table=s.sensordata[:, self.table_contact_adr] > 0,
            too_low=tips[:, :, 2].amin(dim=1) < self.clearance,
        )

    def _advance_stages(self, m: Measures) -> tuple[torch.Tensor, torch.Tensor]:
        """The stage machine: (the stage each world started this step in, which worlds advanced)."""
        st = self.stage  # each stage's terms count in the stage the step started in
        grasped = self.grasping(m.gripping, self.grasp_contacts)
        self.grasp_held = torch.where((st == 1) & grasped, self.grasp_held + 1, 0)
        advanced = ((st == 0) & (m.pre_distance < self.pre_tol)) | ((st == 1) & (self.grasp_held >= self.grasp_steps))
        self.stage_steps = torch.where(advanced, 0, self.stage_steps + 1)
        self.stage = st + advanced.long()
        self.lost = torch.where((self.stage == 2) & ~m.holding, self.lost + 1, 0)
        return st, advanced

    def _advance_success(self, m: Measures) -> torch.Tensor:
        """Count the steps the box is up; (N,) bool: the worlds that succeed on this step."""
        lifted = (self.stage == 2) & (m.lift >= self.lift_height) & (m.contacts >= self.min_contacts)
        self.high_steps = torch.where(lifted, self.high_steps + 1, 0)
        newly = (self.high_steps >= self.hold_steps) & ~self.succeeded
        self.succeeded |= newly
        return newly

    def _advance_best_lift(self, m: Measures, started: torch.Tensor) -> torch.Tensor:
        """Raise each world's best held lift; (N,) how many of liftBonusHeights it first reached now."""
        best = torch.where((started == 2) & m.holding, torch.maximum(self.best_lift, m.lift), self.best_lift)
        reached = (best[:, None] >= self.bonus_heights) & (self.best_lift[:, None] < self.bonus_heights)
        self.best_lift = best
        return reached.sum(dim=1)

    def _get_termination(self, m: Measures, started: torch.Tensor) -> dict[str, torch.Tensor]:
        """Why each world fails now (the termination_terms); none after its success."""
        pushed = torch.linalg.vector_norm(m.box[:, :2] - self.box_start[:, :2], dim=1) > self.box_max_distance
        causes = {
            "tableContact": m.on_table,
            "tableClearance": m.too_low,
            "boxPushed": (started < 2) & pushed,
            "stageTimeout": self.stage_steps > self.timeouts[self.stage],
            "graspLost": self.lost > self.lost_steps,
        }
        return {name: cause & ~self.succeeded for name, cause in causes.items()}

    def _get_reward(self, m, started, advanced, newly, reached, failure) -> dict[str, torch.Tensor]:
        """The unscaled reward terms (reward_terms); their weights are the config's `reward:`."""
        grips = m.gripping.sum(dim=1)
        d_tips = torch.linalg.vector_norm(m.tips - m.box[:, None, :], dim=2)
        if self.thumb:  # the thumb weighs as much as the four fingers; their grip pays only with it
            d_tips = 0.5 * (d_tips[:, 0] + d_tips[:, 1:].mean(dim=1))
            paid_grips = grips * m.gripping[:, 0]
        else:
            d_tips, paid_grips = d_tips.mean(dim=1), grips
        f = lambda x: x.to(self.dtype)
        in_lift, holding = f(started == 2), f(m.holding)
        return {
            "preGraspDistance": m.pre_distance * f(started == 0),
            "fingertipDistance": d_tips * f(started == 1),
            "contact": f(paid_grips) * f(started == 1),
            "hold": holding * in_lift,
            "lift": (m.lift / self.lift_height).clamp(0.0, 1.0) ** self.lift_exponent * holding * in_lift,
            "liftBonus": f(reached),
            "stageBonus": f(advanced),
            "success": f(newly),
            "failure": f(failure),
            "actionRate": self.action_rate,
        }

    def observations(self, step):
        targets = 2.0 * (self.targets - self.ctrl_lo) / (self.ctrl_hi - self.ctrl_lo) - 1.0
        return {
            "jointPos": self.joint_pos(),
            "jointVel": torch.clamp(self.state.qvel[:, self.v_adr] * 0.1, -5, 5),
            "touch": self.touch(),
            "prevActions": self.prev_actions,
            "targets": targets,
            "episodeTime": (step / self.episode_length).to(self.dtype),
            "stage": F.one_hot(self.stage, 3).to(self.dtype),
        }

    def critic_observations(self, step):
        """The critic's input: the observations plus the box and the contacts the policy never sees."""
        s, box = self.state, self.box_pos()
        q, v = self.box_q, self.box_v
        palm = s.site_xpos[:, self.palm_site]
        tips = self.fingertips() - box[:, None, :]
        return {
            **self.observations(step),
            "boxFromPalm": (box - palm) / 0.1,
            "boxLift": (self.box_lift() / self.lift_height).clamp(-1, 2),
            "boxVel": torch.clamp(s.qvel[:, v : v + 6] * 0.2, -5, 5),
            "boxQuat": s.qpos[:, q + 3 : q + 7],
            "boxShift": (box[:, :2] - self.box_start[:, :2]) / 0.1,
            "tipsFromBox": tips.reshape(len(box), -1) / 0.1,
            "boxContacts": self.box_contacts().to(self.dtype),
            "stageTime": self.stage_steps.to(self.dtype) / self.timeouts[self.stage],
        }


class Measures(NamedTuple):
    """One step's physics as BlindGrasping reads it, (N, ...) per world."""

    box: torch.Tensor  # (N, 3) box centre
    tips: torch.Tensor  # (N, 5, 3) fingertips
    contacts: torch.Tensor  # (N,) fingers touching the box
    gripping: torch.Tensor  # (N, 5) bool: fingers gripping it (gripDepth below its top)
    holding: torch.Tensor  # (N,) bool: held (minContacts gripping, graspThumb: the thumb among them)
    lift: torch.Tensor  # (N,) the box's lowest corner above the table (m)
    pre_distance: torch.Tensor  # (N,) palm to the pre-grasp pose (m)
    on_table: torch.Tensor  # (N,) bool: the hand touches the table
    too_low: torch.Tensor  # (N,) bool: a fingertip below tableClearance
