"""The `warp` backend: N worlds on MuJoCo Warp (`mujoco_warp`), on a GPU (or Warp's CPU device, for tests).

The state stays on the device: the task reads and writes zero-copy `wp.to_torch` views of the
Warp arrays, so a control step has no host round-trip. On CUDA, the step's substeps, the masked
reset and the forward pass are each captured once as a CUDA graph (one launch instead of hundreds
of kernel launches) and replayed on torch's current stream, so they are ordered with the task's
torch ops. Contact and constraint buffers are sized per world from the task config
(`task.sim.nconmax`, `task.sim.njmax`); an overflow stops the run with one line naming the key.
"""

from __future__ import annotations

import gc
import logging

import torch

from services.sim.tasks.base import STATE_FIELDS, SimState

log = logging.getLogger("sim")


class SimulationOverflow(RuntimeError):
    """A world needed more contacts or constraints than its buffers hold; str() names the key."""


class WarpPhysics:
    def __init__(self, model, num_envs: int, device="cuda:0", cfg=None):
        import mujoco
        import mujoco_warp as mjw
        import warp as wp

        self.mjw, self.wp = mjw, wp
        self.model, self.num_envs = model, num_envs
        self.wp_device = wp.get_device(str(device))
        self.device = torch.device(wp.device_to_torch(self.wp_device))
        data = mujoco.MjData(model)
        mujoco.mj_forward(model, data)
        with wp.ScopedDevice(self.wp_device):
            self.m = mjw.put_model(model)
            self.m.opt.warn_overflow = 0  # we raise one clear error instead of a printf per kernel
            nconmax, njmax = _buffer(cfg, "sim.nconmax"), _buffer(cfg, "sim.njmax")
            try:
                self.d = mjw.put_data(model, data, nworld=num_envs, nconmax=nconmax, njmax=njmax)
            except ValueError as e:  # the initial state alone needs more room than given
                key = "task.sim.njmax" if "njmax" in str(e) else "task.sim.nconmax"
                now = njmax if key.endswith("njmax") else nconmax
                raise SimulationOverflow(f"MuJoCo Warp: {e}; raise {key} (now {now} per world)") from None
            self._mask = wp.zeros(num_envs, dtype=bool)
        self.nconmax, self.njmax = self.d.naconmax // num_envs, self.d.njmax
        self.state = SimState(**{f: wp.to_torch(getattr(self.d, f)) for f in STATE_FIELDS})
        self.reset_mask = wp.to_torch(self._mask)
        self.overflow = wp.to_torch(self.d.overflow)
        self._overflow_bits = int(mjw.OverflowType.NEFC | mjw.OverflowType.BROADPHASE | mjw.OverflowType.NARROWPHASE)
        # CUDA graphs need the stream-ordered allocator (mempool), which MuJoCo Warp allocates from
        self.graphs = not self.wp_device.is_cuda or wp.is_mempool_enabled(self.wp_device)
        if not self.graphs:
            log.warning("CUDA graphs off (no memory pool on %s): every step launches its kernels", self.wp_device)
        self._graph: dict[object, object] = {}

    # -- stepping ------------------------------------------------------------------------------------
    def _run(self, key, fn) -> None:
        """fn(), replayed from a graph captured on its first use (as mjlab does).

        Warp captures on both devices: on CUDA one graph launch replaces hundreds of kernel launches;
        on the CPU the replay skips Warp's Python launch overhead (~8x faster here). Warp works on its
        device's default stream, a blocking stream, so it is ordered with torch's default stream.
        """
        wp = self.wp
        with wp.ScopedDevice(self.wp_device):
            if not self.graphs:
                fn()
                return
            if key not in self._graph:
                gc_was_on = gc.isenabled()
                gc.disable()  # a finalizer running mid-capture would be recorded into the graph
                try:
                    with wp.ScopedCapture() as capture:
                        fn()
                finally:
                    if gc_was_on:
                        gc.enable()
                self._graph[key] = capture.graph
            wp.capture_launch(self._graph[key])

    def step(self, nstep: int) -> torch.Tensor:
        """Step all worlds `nstep` times; returns the worlds whose state is no longer finite."""

        def substeps():
            for _ in range(nstep):
                self.mjw.step(self.m, self.d)

        self._run(("step", nstep), substeps)
        s = self.state
        return ~(torch.isfinite(s.qpos).all(dim=1) & torch.isfinite(s.qvel).all(dim=1))

    def reset(self, ids: torch.Tensor) -> None:
        self.reset_mask.zero_()
        self.reset_mask[ids] = True
        self._run("reset", lambda: self.mjw.reset_data(self.m, self.d, reset=self._mask))

    def forward(self, ids: torch.Tensor) -> None:
        # MuJoCo Warp has no per-world forward: every world's derived fields are recomputed from its
        # state, which changes nothing the next step would not recompute anyway.
        self._run("forward", lambda: self.mjw.forward(self.m, self.d))

    def faults(self) -> torch.Tensor:
        """(N,) per world: the overflow bits that make its step wrong (0: none), read by the env with the
        rest of the step's results in one host transfer, not a sync of its own."""
        return self.overflow & self._overflow_bits

    def raise_faults(self, bits) -> None:
        """`bits`: faults() read on the host; raises SimulationOverflow naming the buffer's key."""
        bad = [int(b) for b in bits if b]
        if not bad:
            return
        contact = int(self.mjw.OverflowType.BROADPHASE | self.mjw.OverflowType.NARROWPHASE)
        contacts = any(b & contact for b in bad)
        key, now = ("task.sim.nconmax", self.nconmax) if contacts else ("task.sim.njmax", self.njmax)
        raise SimulationOverflow(
            f"MuJoCo Warp: {'contact' if contacts else 'constraint'} buffer overflow in "
            f"{len(bad)} world(s); raise {key} (now {now} per world)"
        )

    def close(self) -> None:
        self._graph.clear()


def _buffer(cfg, key: str) -> int | None:
    """A per-world buffer size from the task config; None lets MuJoCo Warp estimate it."""
    return cfg.int(key) if cfg is not None and cfg.has(key) else None
