"""What the hand tasks share: the hand scene, joint normalisation, and actions -> position targets."""

from __future__ import annotations

import torch

from services.sim.hands import HANDS, hand_module
from services.sim.tasks.base import Cfg, Task

OFFSCREEN = (1280, 960)  # the largest frame a tester may render (render.width/height)


def _hand(cfg: Cfg):
    """The hand model module `task.hand` names (procedural when unset)."""
    return hand_module(cfg.choice("hand", tuple(sorted(HANDS))) if cfg.has("hand") else "procedural")


class HandTask(Task):
    """A hand above a table (`task.hand` picks the model); subclasses add the goal."""

    with_box = False
    with_target = False  # a visible mocap target marker in the scene

    @classmethod
    def build_model(cls, cfg: Cfg):
        return _hand(cfg).build_model(
            with_box=cls.with_box,
            offscreen=OFFSCREEN,
            timestep=cfg.num("sim.timestep", 1e-4, 0.02),
            contacts=cfg.bool("sim.contacts"),
            with_target=cls.with_target,
        )

    def __init__(self, cfg, model, state):
        super().__init__(cfg, model, state)
        hand = self.hand = _hand(self.cfg)
        jnt = lambda name: model.joint(name).id
        self.act_joints = list(hand.actuated_joints())
        jid = [jnt(j) for j in self.act_joints]
        self.q_adr = self.index(model.jnt_qposadr[jid])
        self.v_adr = self.index(model.jnt_dofadr[jid])
        self.q_lo, self.q_hi = self.tensor(model.jnt_range[jid, 0]), self.tensor(model.jnt_range[jid, 1])
        self.q_default = self.tensor(model.qpos0[model.jnt_qposadr[jid]])
        self.tip_sites = self.index([model.site(f"{f}_tip").id for f in hand.FINGERS])
        self.palm_site = model.site("palm_centre").id
        sensor = lambda name: int(model.sensor_adr[model.sensor(name).id])
        self.touch_adr = self.index(
            [sensor(f"{f}_tip_touch") for f in hand.FINGERS] + [sensor(f"{f}_pad_touch") for f in hand.FINGERS]
        )
        self.table_contact_adr = sensor("hand_table")
        qadr = lambda j: int(model.jnt_qposadr[jnt(j)])
        self.follower_adr = self.index([qadr(f) for f, _, _ in hand.COUPLINGS])
        self.leader_adr = self.index([qadr(lead) for _, lead, _ in hand.COUPLINGS])
        self.coupling_ratio = self.tensor([r for _, _, r in hand.COUPLINGS])
        self.num_base = len(hand.BASE_JOINTS)
        n, nu, nb = self.num_envs, self.num_actions, self.num_base

        mode_base = self.cfg.choice("actions.base", ("absolute", "delta"))
        mode_fingers = self.cfg.choice("actions.fingers", ("absolute", "delta"))
        self.absolute = self.tensor(
            [mode_base == "absolute"] * nb + [mode_fingers == "absolute"] * (nu - nb), dtype=torch.bool
        )
        base_delta = self.cfg.vec("actions.baseDelta", 2)  # metres and radians per control step
        self.delta = self.tensor(
            [base_delta[0]] * 3 + [base_delta[1]] * 3 + [self.cfg.num("actions.fingerDelta", 0)] * (nu - nb)
        )
        # A delta target may lead its joint by at most this much (base joints only; inf = unbounded).
        # Pushing against the box or the table otherwise winds the target up to the joint's limit: trained
        # policies parked ARTz's target 5 cm under the palm, pressing the box down with 30 N, and a lift
        # had to unwind it for 5 control steps before the hand moved up at all.
        inf = float("inf")
        lead = self.cfg.vec("actions.baseLead", 2) if self.cfg.has("actions.baseLead") else [inf, inf]
        self.lead = self.tensor([lead[0]] * 3 + [lead[1]] * 3 + [inf] * (nu - nb))
        self.targets = torch.zeros(n, nu, device=self.device, dtype=self.dtype)
        self.prev_actions = torch.zeros_like(self.targets)
        self.action_rate = torch.zeros(n, device=self.device, dtype=self.dtype)

    # -- helpers for subclasses ------------------------------------------------------------------
    def joint_pos(self) -> torch.Tensor:
        """Actuated joint positions scaled to [-1, 1] over their limits, (N, nu)."""
        q = self.state.qpos[:, self.q_adr]
        return 2.0 * (q - self.q_lo) / (self.q_hi - self.q_lo) - 1.0

    def fingertips(self) -> torch.Tensor:
        return self.state.site_xpos[:, self.tip_sites]  # (N, 5, 3)

    def touch(self) -> torch.Tensor:
        """Touch sensor readings squashed to [0, 1): tips then pads, (N, 10)."""
        return torch.tanh(self.state.sensordata[:, self.touch_adr])

    def reset_hand(self, ids: torch.Tensor, draws, base_noise, finger_noise: float) -> None:
        """Put the hand of worlds `ids` at its default pose plus uniform noise, at rest, targets there."""
        s, nb = self.state, self.num_base
        noise = torch.cat(
            [
                draws.uniform(3) * base_noise[0],
                draws.uniform(3) * base_noise[1],
                draws.uniform(self.num_actions - nb) * finger_noise,
            ],
            dim=1,
        )
        q = torch.clamp(self.q_default + noise, self.q_lo, self.q_hi)
        rows = ids[:, None]
        s.qpos[rows, self.q_adr] = q
        s.qpos[rows, self.follower_adr] = self.coupling_ratio * s.qpos[rows, self.leader_adr]
        s.qvel[ids] = 0.0
        self.targets[ids] = torch.clamp(q, self.ctrl_lo, self.ctrl_hi)
        self.prev_actions[ids] = 0.0
        s.ctrl[ids] = self.targets[ids]

    def apply_actions(self, actions: torch.Tensor) -> None:
        """actions in [-1, 1] -> position targets: absolute over the ctrl range, or a bounded delta."""
        a = torch.nan_to_num(actions, nan=0.0).clamp(-1.0, 1.0)
        absolute = self.ctrl_lo + (a + 1.0) * 0.5 * (self.ctrl_hi - self.ctrl_lo)
        q = self.state.qpos[:, self.q_adr]
        delta = torch.clamp(self.targets + a * self.delta, q - self.lead, q + self.lead)
        self.targets = torch.clamp(torch.where(self.absolute, absolute, delta), self.ctrl_lo, self.ctrl_hi)
        self.state.ctrl.copy_(self.targets)
        self.action_rate = ((a - self.prev_actions) ** 2).mean(dim=1)  # before prev_actions moves on
        self.prev_actions = a
