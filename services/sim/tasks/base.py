"""What every hand task shares: config reading, the simulator state it sees, and actions -> targets.

A task is pure numpy over all worlds at once: the backend hands it `SimState` (live (N, ...) arrays
of the simulator) and calls reset_worlds / apply_actions / evaluate / observe. Tasks import no
service and no simulator API beyond the compiled model's ids and ranges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from services.sim import hand


class TaskConfigError(ValueError):
    """A refused task config value; str() names the key."""


class Cfg:
    """Read-only access to a task config (dict or OmegaConf node) with checked, named values."""

    def __init__(self, data: Any, prefix: str = "task"):
        try:
            from omegaconf import DictConfig, OmegaConf
            if isinstance(data, DictConfig):
                data = OmegaConf.to_container(data, resolve=True)
        except ImportError:  # pragma: no cover - omegaconf is a dependency
            pass
        self.data, self.prefix = dict(data or {}), prefix

    def raw(self, path: str):
        node = self.data
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise TaskConfigError(f"{self.prefix}.{path}: missing from the task config")
            node = node[part]
        return node

    def num(self, path: str, lo: float | None = None, hi: float | None = None) -> float:
        v = self.raw(path)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) \
            and (lo is None or v >= lo) and (hi is None or v <= hi)
        if not ok:
            rng = f" in [{lo}, {hi}]" if lo is not None and hi is not None else (f" >= {lo}" if lo is not None else "")
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects a number{rng}")
        return float(v)

    def int(self, path: str, lo: int = 1) -> int:
        v = self.raw(path)
        if not isinstance(v, int) or isinstance(v, bool) or v < lo:
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects an integer >= {lo}")
        return v

    def bool(self, path: str) -> bool:
        v = self.raw(path)
        if not isinstance(v, bool):
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects true or false")
        return v

    def choice(self, path: str, options: tuple[str, ...]) -> str:
        v = self.raw(path)
        if v not in options:
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects one of {', '.join(options)}")
        return v

    def vec(self, path: str, n: int) -> np.ndarray:
        v = self.raw(path)
        ok = isinstance(v, (list, tuple)) and len(v) == n and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        if not ok:
            raise TaskConfigError(f"{self.prefix}.{path}={v!r}: not accepted; expects a list of {n} numbers")
        return np.asarray(v, dtype=np.float64)


@dataclass
class SimState:
    """Live arrays of all worlds. qpos/qvel/ctrl are written by tasks (state); the rest is derived."""
    qpos: np.ndarray        # (N, nq)
    qvel: np.ndarray        # (N, nv)
    ctrl: np.ndarray        # (N, nu)
    sensordata: np.ndarray  # (N, nsensordata)
    site_xpos: np.ndarray   # (N, nsite, 3)
    mocap_pos: np.ndarray   # (N, nmocap, 3): markers (Reach's target), state


class HandTask:
    """Base of the hand tasks: ids, joint normalisation, and the action -> position-target mapping."""

    name = "HandTask"
    with_box = False
    with_target = False  # a visible mocap target marker in the scene

    def __init__(self, cfg, model, num_envs: int):
        import mujoco

        self.cfg = cfg if isinstance(cfg, Cfg) else Cfg(cfg)
        self.model, self.num_envs = model, num_envs
        self.episode_length = self.cfg.int("episodeLength")
        self.substeps = self.cfg.int("sim.substeps")  # sim.timestep/contacts shape the model: the backend reads them
        ids = lambda kind, name: mujoco.mj_name2id(model, kind, name)
        J = mujoco.mjtObj
        self.act_joints = hand.actuated_joints()
        jid = np.array([ids(J.mjOBJ_JOINT, j) for j in self.act_joints])
        self.q_adr = model.jnt_qposadr[jid]
        self.v_adr = model.jnt_dofadr[jid]
        self.q_lo, self.q_hi = model.jnt_range[jid, 0].copy(), model.jnt_range[jid, 1].copy()
        self.ctrl_lo, self.ctrl_hi = model.actuator_ctrlrange[:, 0].copy(), model.actuator_ctrlrange[:, 1].copy()
        self.tip_sites = np.array([ids(J.mjOBJ_SITE, f"{f}_tip") for f in hand.FINGERS])
        self.palm_site = ids(J.mjOBJ_SITE, "palm_centre")
        sensor_adr = lambda name: int(model.sensor_adr[ids(J.mjOBJ_SENSOR, name)])
        self.touch_adr = np.array([sensor_adr(f"{f}_tip_touch") for f in hand.FINGERS]
                                  + [sensor_adr(f"{f}_pad_touch") for f in hand.FINGERS])
        self.table_contact_adr = sensor_adr("hand_table")
        qadr = lambda j: int(model.jnt_qposadr[ids(J.mjOBJ_JOINT, j)])
        self.dip_adr = np.array([qadr(f"{f}_dip") for f in hand.FINGERS])
        self.pip_adr = np.array([qadr(f"{f}_pip") for f in hand.FINGERS])
        self.num_base = len(hand.BASE_JOINTS)
        self.num_actions = model.nu
        self.q_default = model.qpos0.copy()

        mode_base = self.cfg.choice("actions.base", ("absolute", "delta"))
        mode_fingers = self.cfg.choice("actions.fingers", ("absolute", "delta"))
        self.absolute = np.array([mode_base == "absolute"] * self.num_base
                                 + [mode_fingers == "absolute"] * (self.num_actions - self.num_base))
        base_delta = self.cfg.vec("actions.baseDelta", 2)  # metres and radians per control step
        self.delta = np.concatenate([np.repeat(base_delta, 3),
                                     np.full(self.num_actions - self.num_base, self.cfg.num("actions.fingerDelta", 0))])
        self.targets = np.zeros((num_envs, self.num_actions))
        self.prev_actions = np.zeros((num_envs, self.num_actions))
        self.state: SimState | None = None

    # -- set-up by the backend ------------------------------------------------------------------
    def bind(self, state: SimState) -> None:
        self.state = state

    # -- helpers for subclasses ------------------------------------------------------------------
    def joint_pos(self) -> np.ndarray:
        """Actuated joint positions scaled to [-1, 1] over their limits, (N, nu)."""
        q = self.state.qpos[:, self.q_adr]
        return 2.0 * (q - self.q_lo) / (self.q_hi - self.q_lo) - 1.0

    def fingertips(self) -> np.ndarray:
        return self.state.site_xpos[:, self.tip_sites]          # (N, 5, 3)

    def touch(self) -> np.ndarray:
        """Touch sensor readings squashed to [0, 1): tips then pads, (N, 10)."""
        return np.tanh(self.state.sensordata[:, self.touch_adr])

    def reset_hand(self, ids: np.ndarray, rngs: list, base_noise: np.ndarray, finger_noise: float) -> None:
        """Put the hand of worlds `ids` at its default pose plus uniform noise, at rest, targets there."""
        s = self.state
        for i in ids:
            rng = rngs[i]
            noise = np.concatenate([rng.uniform(-1, 1, 3) * base_noise[0], rng.uniform(-1, 1, 3) * base_noise[1],
                                    rng.uniform(-1, 1, self.num_actions - self.num_base) * finger_noise])
            q = np.clip(self.q_default[self.q_adr] + noise, self.q_lo, self.q_hi)
            s.qpos[i, self.q_adr] = q
            s.qvel[i] = 0.0
            self.targets[i] = np.clip(q, self.ctrl_lo, self.ctrl_hi)
            self.prev_actions[i] = 0.0
        # distal joints follow their coupled joints (equality): start them consistent
        s.qpos[np.ix_(ids, self.dip_adr)] = hand.DIP_RATIO * s.qpos[np.ix_(ids, self.pip_adr)]
        s.ctrl[ids] = self.targets[ids]

    def apply_actions(self, actions: np.ndarray) -> None:
        """actions in [-1, 1] -> position targets: absolute over the ctrl range, or a bounded delta."""
        a = np.clip(np.nan_to_num(actions, nan=0.0), -1.0, 1.0)
        absolute = self.ctrl_lo + (a + 1.0) * 0.5 * (self.ctrl_hi - self.ctrl_lo)
        delta = self.targets + a * self.delta
        self.targets = np.clip(np.where(self.absolute, absolute, delta), self.ctrl_lo, self.ctrl_hi)
        self.state.ctrl[:] = self.targets
        self.action_rate = np.mean((a - self.prev_actions) ** 2, axis=1)  # before prev_actions moves on
        self.prev_actions = a

    # -- the task's own parts --------------------------------------------------------------------
    @property
    def num_obs(self) -> int:
        raise NotImplementedError

    def reset_worlds(self, ids: np.ndarray, rngs: list) -> None:
        raise NotImplementedError

    def privileged(self) -> dict:
        """Simulator truth for logs/critics, never part of observations (none by default)."""
        return {}

    def evaluate(self, progress: np.ndarray):
        """After physics: (reward (N,), terminated (N,) bool, success (N,) bool, extras dict)."""
        raise NotImplementedError

    def observe(self, progress: np.ndarray) -> np.ndarray:
        raise NotImplementedError
