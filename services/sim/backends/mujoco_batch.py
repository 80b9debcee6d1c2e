"""The `mujoco` backend: N worlds in one `mujoco.batch.Batch` (C threads, no GIL), on the CPU.

Batch keeps every world's state as a row and binds (N, ...) numpy views of its fields; the task
sees them as torch tensors sharing that memory (`torch.from_numpy`), so a control step is: task
math -> one C call for N worlds x substeps -> task math, with no copies. Its results are
bit-identical to stepping one MjData per world, whatever the thread count (bench/sim_throughput.py).
"""

from __future__ import annotations

import logging
import os
import warnings

import torch

from services.sim.tasks.base import STATE_FIELDS, SimState

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


class MujocoBatchPhysics:
    def __init__(self, model, num_envs: int, device="cpu", cfg=None, threads: int | None = None):
        import mujoco.batch

        self.model, self.num_envs, self.device = model, num_envs, torch.device("cpu")
        self.threads = threads or default_threads(num_envs)
        self.batch = mujoco.batch.Batch(model, num_envs, nthread=self.threads)
        with warnings.catch_warnings():  # derived fields bind read-only; tasks only read them
            warnings.simplefilter("ignore", UserWarning)
            self.state = SimState(**{f: torch.from_numpy(self.batch.bind(f)) for f in STATE_FIELDS})

    def step(self, nstep: int) -> torch.Tensor:
        """Step all worlds; returns which ones MuJoCo raised an error in (they keep their old state)."""
        import mujoco.batch

        broken = torch.zeros(self.num_envs, dtype=torch.bool)
        try:
            self.batch.step(nstep=nstep)
        except mujoco.batch.SimulationError as e:
            broken[torch.as_tensor(e.ids)] = True
            log.warning("MuJoCo error in %d world(s), they are reset: %s", len(e.ids), e)
        return broken

    def faults(self) -> None:
        """No buffers to overflow: mujoco.batch grows them (a world it cannot step is `broken`)."""
        return None

    def raise_faults(self, bits) -> None:
        pass

    def reset(self, ids: torch.Tensor) -> None:
        self.batch.reset(ids.numpy(), stage=0)

    def forward(self, ids: torch.Tensor) -> None:
        self.batch.forward(ids.numpy())

    def close(self) -> None:
        pass
