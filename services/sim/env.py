"""The batched env: one task over N worlds of one physics backend, with auto-reset and episode stats.

Everything per step is torch on the physics device (the CPU for `mujoco`, the GPU for `warp`):
actions -> task.apply_actions -> physics.step -> task.evaluate -> weighted reward terms, termination
causes -> reset the worlds that finished (physics defaults, then the task's seeded initial state) ->
task.observe. Each finished episode says how it ended: the task's first termination cause that held,
else `physicsError` (the simulator could not step the world) or `timeLimit` (ENDINGS).
Outputs move to `device` (the PPO device) only at the end. API: docs/design.md ("Batched environment").
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from services.sim.fused import Fusion, compile_wanted
from services.sim.noise import WorldNoise
from services.sim.render import FrameRenderer, import_mujoco
from services.sim.tasks import Cfg, reward_weights, scale_rewards, task_class

log = logging.getLogger("sim")

# How an episode ends when no termination cause of its task does: the simulator could not step the
# world (cut like a time-out: not the policy's failure), or it reached episodeLength.
PHYSICS_ERROR, TIME_LIMIT = "physicsError", "timeLimit"
ENDINGS = (PHYSICS_ERROR, TIME_LIMIT)


class BatchedEnv:
    def __init__(
        self, task_cfg, num_envs: int, physics, device: str = "cpu", seed: int = 0, compile=None, **physics_kwargs
    ):
        import_mujoco()  # a missing GL library fails here, as one line naming it
        cfg = Cfg(task_cfg)
        cls = task_class(cfg)
        self.model = cls.build_model(cfg)
        self.physics = physics(self.model, num_envs, device=device, cfg=cfg, **physics_kwargs)
        self.task = cls(cfg, self.model, self.physics.state)
        self.weights = reward_weights(cfg, cls.reward_terms, cls.added_terms)
        self.endings = _endings(cls)
        self.num_envs, self.device, self.seed = num_envs, torch.device(device), seed
        self.sim_device = self.physics.device
        self.dt = self.model.opt.timestep * self.task.substeps
        self.max_episode_length = self.task.episode_length
        dtype = self.physics.state.qpos.dtype
        self.noise = WorldNoise(seed, num_envs, self.sim_device, dtype)
        self.step_count = torch.zeros(num_envs, dtype=torch.long, device=self.sim_device)  # steps into the episode
        self.returns = torch.zeros(num_envs, dtype=dtype, device=self.sim_device)
        self.term_sums = torch.zeros(num_envs, len(self.weights), dtype=dtype, device=self.sim_device)
        self._renderer: FrameRenderer | None = None
        self._watched: dict[int, object] = {}  # world -> MjData kept in step for env.world(i)
        self._reset(torch.arange(num_envs, device=self.sim_device))  # step() works before reset(), as after it
        self.obs_layout, self.state_layout = self.task.obs_layout, self.task.state_layout  # of reset worlds
        self.num_obs, self.num_actions, self.num_states = self.task.num_obs, self.task.num_actions, self.task.num_states
        # The per-step task math, fused by torch.compile where `compile` says (services/sim/fused.py);
        # resets stay eager: their world count changes every step. fusion.enabled: compiled (so far).
        self.fusion = fuse = Fusion(compile_wanted(compile, self.sim_device))
        self._act = fuse(self.task.apply_actions, "apply_actions")
        self._judge = fuse(self._judge_step, "evaluate")
        self._observe = fuse(self.task.observe, "observe")
        self._states = fuse(self.task.states, "states")

    @property
    def state(self):
        return self.physics.state

    # -- episode control ----------------------------------------------------------------------------
    def _reset(self, ids: torch.Tensor) -> None:
        if len(ids) == 0:
            return
        self.physics.reset(ids)
        self.task.reset_worlds(ids, self.noise.draws(ids))
        self.physics.forward(ids)  # derived fields (sites, sensors) of the fresh states
        self.step_count[ids] = 0
        self.returns[ids] = 0.0
        self.term_sums[ids] = 0.0

    def reset(self, seed: int | None = None) -> torch.Tensor:
        """Reset every world (each from its own seeded draws) and return the first observations.

        With `seed`, the draws start over from that seed: every reset(seed=s) gives the same worlds
        (an evaluation plays each checkpoint from the same initial states).
        """
        if seed is not None:
            self.noise = WorldNoise(seed, self.num_envs, self.sim_device, self.noise.dtype)
        self._reset(torch.arange(self.num_envs, device=self.sim_device))
        self._sync_watched()
        return self._out(self._observe(self.step_count).float())

    def step(self, actions):
        a = torch.as_tensor(actions).to(self.sim_device, self.returns.dtype)
        if a.shape != (self.num_envs, self.num_actions):
            raise ValueError(f"actions: expected shape ({self.num_envs}, {self.num_actions}), got {tuple(a.shape)}")
        self._act(a)
        broken = self.physics.step(self.task.substeps)
        reward, scaled, done, time_outs, success, metrics, table = self._judge(broken)
        # The one host read of a step (a GPU waits for nothing else): which worlds finished, the
        # simulator's faults, and every world's episode row, read before the reset clears them.
        rows = table.cpu().numpy()
        faults = rows[:, 1]
        if faults.any():
            self.physics.raise_faults(faults)
        finished = np.flatnonzero(rows[:, 0])
        episodes = self._episodes(finished, rows[finished, 2:], list(metrics))
        self._reset(torch.as_tensor(finished, device=self.sim_device))
        self._sync_watched()
        info = {
            "time_outs": self._out(time_outs),
            "success": self._out(success),
            "episodes": episodes,
            "reward_terms": {k: self._out(v.float()) for k, v in scaled.items()},
        }
        info.update({k: self._out(v.float()) for k, v in metrics.items()})
        return self._out(self._observe(self.step_count).float()), self._out(reward.float()), self._out(done), info

    def _judge_step(self, broken: torch.Tensor):
        """After physics, all on the device: the task's evaluation, weighted rewards, episode stats,
        why each world ends, and `table`, (N, 6 + terms + metrics) of what the host reads
        (done, fault, return, length, success, ending, the scaled terms' sums, the metrics)."""
        self.step_count += 1
        ev = self.task.evaluate(self.step_count)
        reward, scaled = scale_rewards(ev.terms, self.weights)
        reward = torch.nan_to_num(reward, nan=0.0)
        self.returns += reward
        self.term_sums += torch.nan_to_num(torch.stack(list(scaled.values()), dim=1), nan=0.0)
        causes = self._causes(ev.terminations)
        terminated = causes.any(dim=1)
        # a world the simulator could not step is cut like a time-out: not the policy's failure
        time_outs = ((self.step_count >= self.max_episode_length) | broken) & ~terminated
        done = terminated | time_outs
        # how each world's episode ends: the index in self.endings of its first cause (read when it does)
        k = causes.shape[1]
        ending = torch.where(broken, k, k + 1)
        if k:
            ending = torch.where(terminated, causes.long().argmax(dim=1), ending)
        faults = self.physics.faults()
        fault = torch.zeros_like(done) if faults is None else faults
        before = (done, fault, self.returns, self.step_count, ev.success, ending)
        col = lambda x: x[:, None].to(self.returns.dtype)
        table = torch.cat([*map(col, before), self.term_sums, *map(col, ev.metrics.values())], dim=1)
        return reward, scaled, done, time_outs, ev.success, ev.metrics, table

    def states(self) -> torch.Tensor | None:
        """The critic's privileged input for the current worlds, (N, num_states); None if the task has none."""
        states = self._states(self.step_count) if self.num_states else None
        return None if states is None else self._out(states.float())

    def _causes(self, terminations: dict) -> torch.Tensor:
        """(N, k) bool: the task's termination causes in termination_terms order; a wrong set is one line."""
        names = self.task.termination_terms
        if not isinstance(terminations, dict) or terminations.keys() != set(names):
            got = ", ".join(terminations) if isinstance(terminations, dict) else type(terminations).__name__
            raise ValueError(
                f"{type(self.task).__name__}.evaluate: Evaluation.terminations must map each of its "
                f"termination_terms ({', '.join(names) or 'none'}) to a (N,) bool tensor; got {got or 'none'}"
            )
        if not names:
            return torch.zeros(self.num_envs, 0, dtype=torch.bool, device=self.sim_device)
        return torch.stack([terminations[n] for n in names], dim=1)

    def _episodes(self, ids: np.ndarray, rows: np.ndarray, keys: list[str]) -> list[dict]:
        """The finished worlds' episodes from their host rows (return, length, success, ending, terms, metrics)."""
        names, t = list(self.weights), 4 + len(self.weights)
        return [
            {
                "world": int(i),
                "return": float(r[0]),
                "length": int(r[1]),
                "success": bool(r[2]),
                "termination": self.endings[int(r[3])],  # why it ended: a task's cause, or ENDINGS
                "reward_terms": dict(zip(names, r[4:t].tolist())),
                "metrics": dict(zip(keys, r[t:].tolist())),  # the task's metrics on the episode's last step
            }
            for i, r in zip(ids.tolist(), rows)
        ]

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device)

    # -- views --------------------------------------------------------------------------------------
    def world(self, i: int = 0):
        """(MjModel, MjData) of world i for a viewer; the MjData is refreshed after every step/reset."""
        import mujoco

        if not 0 <= i < self.num_envs:
            raise IndexError(f"world {i}: this env has worlds 0..{self.num_envs - 1}")
        if i not in self._watched:
            self._watched[i] = mujoco.MjData(self.model)
            self._sync_watched([i])
        return self.model, self._watched[i]

    def _sync_watched(self, ids=None) -> None:
        import mujoco

        s = self.state
        for i in self._watched if ids is None else ids:
            data = self._watched[i]
            for name in ("qpos", "qvel", "ctrl", "mocap_pos"):
                getattr(data, name)[:] = getattr(s, name)[i].cpu().numpy()
            mujoco.mj_forward(self.model, data)

    def render(self, width: int = 640, height: int = 480, camera: str = "fixed", tile: int = 1) -> np.ndarray:
        """RGB uint8 (height, width, 3) of world 0, or a grid of the first `tile` worlds."""
        cams = [self.model.camera(c).name for c in range(self.model.ncam)]
        if camera not in cams:
            raise ValueError(f"camera={camera!r}: unknown; accepts {', '.join(cams)}")
        ow, oh = self.model.vis.global_.offwidth, self.model.vis.global_.offheight
        if not (16 <= width <= ow and 16 <= height <= oh):
            raise ValueError(f"render size {width}x{height}: accepts 16..{ow} x 16..{oh}")
        k = max(1, min(int(tile), self.num_envs))
        for i in range(k):
            self.world(i)
        if self._renderer is None:
            self._renderer = FrameRenderer(self.model)
        return self._renderer.frame([self._watched[i] for i in range(k)], width, height, camera)

    def privileged(self) -> dict:
        """Simulator truth for logs/critics (never part of observations), as numpy arrays."""
        return {k: v.cpu().numpy() for k, v in self.task.privileged().items()}

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._watched.clear()
        self.physics.close()


def _endings(cls) -> tuple[str, ...]:
    """Every way an episode of task `cls` can end: its termination terms, then ENDINGS."""
    names = tuple(cls.termination_terms)
    clash = sorted(set(names) & set(ENDINGS)) or sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(
            f"{cls.__name__}.termination_terms: {', '.join(clash)} named twice or reserved "
            f"(the env's own endings are {', '.join(ENDINGS)})"
        )
    return names + ENDINGS
