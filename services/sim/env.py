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

from services.sim.noise import WorldNoise
from services.sim.render import FrameRenderer, import_mujoco
from services.sim.tasks import Cfg, reward_weights, scale_rewards, task_class

log = logging.getLogger("sim")

# How an episode ends when no termination cause of its task does: the simulator could not step the
# world (cut like a time-out: not the policy's failure), or it reached episodeLength.
PHYSICS_ERROR, TIME_LIMIT = "physicsError", "timeLimit"
ENDINGS = (PHYSICS_ERROR, TIME_LIMIT)


class BatchedEnv:
    def __init__(self, task_cfg, num_envs: int, physics, device: str = "cpu", seed: int = 0, **physics_kwargs):
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
        return self._out(self.task.observe(self.step_count).float())

    def step(self, actions):
        a = torch.as_tensor(actions).to(self.sim_device, self.returns.dtype)
        if a.shape != (self.num_envs, self.num_actions):
            raise ValueError(f"actions: expected shape ({self.num_envs}, {self.num_actions}), got {tuple(a.shape)}")
        self.task.apply_actions(a)
        broken = self.physics.step(self.task.substeps)
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
        finished = done.nonzero().squeeze(1)
        episodes = self._episodes(finished, ev.success, ending, ev.metrics)  # before the reset clears their stats
        self._reset(finished)
        self._sync_watched()
        info = {
            "time_outs": self._out(time_outs),
            "success": self._out(ev.success),
            "episodes": episodes,
            "reward_terms": {k: self._out(v.float()) for k, v in scaled.items()},
        }
        info.update({k: self._out(v.float()) for k, v in ev.metrics.items()})
        return self._out(self.task.observe(self.step_count).float()), self._out(reward.float()), self._out(done), info

    def states(self) -> torch.Tensor | None:
        """The critic's privileged input for the current worlds, (N, num_states); None if the task has none."""
        states = self.task.states(self.step_count) if self.num_states else None
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

    def _episodes(self, ids: torch.Tensor, success: torch.Tensor, ending: torch.Tensor, metrics: dict) -> list[dict]:
        """The finished worlds' episodes, read from the device in one transfer."""
        if len(ids) == 0:
            return []
        dtype, names, keys = self.returns.dtype, list(self.weights), list(metrics)
        rows = torch.cat(
            [
                ids[:, None].to(dtype),
                self.returns[ids, None],
                self.step_count[ids, None].to(dtype),
                success[ids, None].to(dtype),
                ending[ids, None].to(dtype),
                self.term_sums[ids],
                *(metrics[k][ids, None].to(dtype) for k in keys),
            ],
            dim=1,
        ).tolist()
        t = 5 + len(names)
        return [
            {
                "world": int(r[0]),
                "return": r[1],
                "length": int(r[2]),
                "success": bool(r[3]),
                "termination": self.endings[int(r[4])],  # why it ended: a task's cause, or ENDINGS
                "reward_terms": dict(zip(names, r[5:t])),
                "metrics": dict(zip(keys, r[t:])),  # the task's metrics on the episode's last step
            }
            for r in rows
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
