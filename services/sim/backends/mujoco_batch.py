"""The `mujoco` backend: N worlds of the hand scene in one `mujoco.batch.Batch` (C threads, no GIL).

Batch keeps every world's state as a row and binds (N, ...) numpy views of qpos/qvel/ctrl and of
the derived fields the tasks read, so a control step is: task math on arrays -> one C call for
N worlds x substeps -> task math. Its results are bit-identical to stepping one MjData per world,
whatever the thread count (bench/sim_throughput.py compares it with a thread pool and a loop).
"""
from __future__ import annotations

import logging
import os

import numpy as np
import torch

from services.sim import hand
from services.sim.render import FrameRenderer, import_mujoco
from services.sim.tasks import Cfg, SimState, task_class

log = logging.getLogger("sim")


def default_threads(num_envs: int) -> int:
    """Stepping threads: $POLICYCAST_SIM_THREADS, else one per 8 worlds up to the core count.

    On a quiet 2-core machine a second thread steps physics 1.5-1.8x faster (bench/sim_throughput.py),
    but there the trainer's torch, the tester's renderer and the streamer need that core, and under
    load the gain vanished: 2-core machines step on one thread.
    """
    env = os.environ.get("POLICYCAST_SIM_THREADS")
    if env:
        return max(1, int(env))
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 2 else max(1, min(cpus, num_envs // 8))


class MujocoBatchEnv:
    """Batched hand task on MuJoCo; API as in docs/design.md ("Batched environment")."""

    def __init__(self, task_cfg, num_envs: int, device: str = "cpu", seed: int = 0, threads: int | None = None,
                 offscreen: tuple[int, int] = (1280, 960)):
        import_mujoco()  # a missing GL library fails here, as one line naming it
        import mujoco.batch

        cfg = Cfg(task_cfg)
        cls = task_class(cfg)
        self.model = hand.build_model(with_box=cls.with_box, offscreen=offscreen,
                                      timestep=cfg.num("sim.timestep", 1e-4, 0.02), contacts=cfg.bool("sim.contacts"),
                                      with_target=cls.with_target)
        self.task = cls(cfg, self.model, num_envs)
        self.num_envs, self.device, self.seed = num_envs, torch.device(device), seed
        self.num_obs, self.num_actions = self.task.num_obs, self.task.num_actions
        self.substeps = self.task.substeps
        self.dt = self.model.opt.timestep * self.substeps
        self.max_episode_length = self.task.episode_length
        self.threads = threads or default_threads(num_envs)
        self._batch = mujoco.batch.Batch(self.model, num_envs, nthread=self.threads)
        b = self._batch
        self.state = SimState(qpos=b.bind("qpos"), qvel=b.bind("qvel"), ctrl=b.bind("ctrl"),
                              sensordata=b.bind("sensordata"), site_xpos=b.bind("site_xpos"),
                              mocap_pos=b.bind("mocap_pos"))
        self.task.bind(self.state)
        # one generator per world, seeded by (seed, world): world i is the same in any batch size
        self._rngs = [np.random.default_rng([seed, i]) for i in range(num_envs)]
        self._progress = np.zeros(num_envs, np.int64)
        self._returns = np.zeros(num_envs)
        self._renderer: FrameRenderer | None = None
        self._watched: dict[int, object] = {}  # world -> MjData kept in step for env.world(i)
        self._reset_ids(np.arange(num_envs))  # step() works before reset(), as after it

    # -- episode control ----------------------------------------------------------------------------
    def _reset_ids(self, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._batch.reset(ids, stage=0)
        self.task.reset_worlds(ids, self._rngs)
        self._batch.forward(ids)  # derived fields (sites, sensors) of the fresh states
        self._progress[ids] = 0
        self._returns[ids] = 0.0

    def reset(self) -> torch.Tensor:
        """Reset every world (each from its own seeded generator) and return the first observations."""
        self._reset_ids(np.arange(self.num_envs))
        self._sync_watched()
        obs = self.task.observe(self._progress)
        return self._tensor(obs)

    def step(self, actions):
        a = actions.detach().cpu().numpy() if isinstance(actions, torch.Tensor) else np.asarray(actions)
        if a.shape != (self.num_envs, self.num_actions):
            raise ValueError(f"actions: expected shape ({self.num_envs}, {self.num_actions}), got {tuple(a.shape)}")
        self.task.apply_actions(a.astype(np.float64, copy=False))
        broken = self._physics_step()
        self._progress += 1
        reward, terminated, success, extras = self.task.evaluate(self._progress)
        reward = np.nan_to_num(reward, nan=0.0)
        self._returns += reward
        # a world MuJoCo refused to step is cut like a time-out: not the policy's failure
        time_outs = ((self._progress >= self.max_episode_length) | broken) & ~terminated
        done = terminated | time_outs
        finished = np.flatnonzero(done)
        episodes = [{"world": int(i), "return": float(self._returns[i]), "length": int(self._progress[i]),
                     "success": bool(success[i])} for i in finished]
        self._reset_ids(finished)
        self._sync_watched()
        obs = self.task.observe(self._progress)
        info = {"time_outs": torch.as_tensor(time_outs, device=self.device), "episodes": episodes,
                "success": torch.as_tensor(success, device=self.device)}
        for k, v in extras.items():
            info[k] = torch.as_tensor(np.asarray(v, dtype=np.float32), device=self.device)
        return (self._tensor(obs), torch.as_tensor(reward.astype(np.float32), device=self.device),
                torch.as_tensor(done, device=self.device), info)

    def _physics_step(self) -> np.ndarray:
        """Step all worlds; returns which ones MuJoCo raised an error in (they keep their old state)."""
        import mujoco.batch
        broken = np.zeros(self.num_envs, bool)
        try:
            self._batch.step(nstep=self.substeps)
        except mujoco.batch.SimulationError as e:
            broken[e.ids] = True
            log.warning("MuJoCo error in %d world(s), they are reset: %s", len(e.ids), e)
        return broken

    def _tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs.astype(np.float32), device=self.device)

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
        for i in (self._watched if ids is None else ids):
            data = self._watched[i]
            self._batch.get_data(i, data)
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
        """Simulator truth for logs/critics (never part of observations)."""
        return self.task.privileged()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._watched.clear()
