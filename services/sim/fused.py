"""The task math fused with `torch.compile`: a few generated kernels per step instead of ~100 small ones.

On a GPU each small torch op is a kernel launch with a fixed host-side cost, and at 1k-16k worlds those
launches, not the physics, bound the env (README "On a GPU"). Inductor fuses the elementwise math of a
function into a handful of kernels (Triton on CUDA, C++ on the CPU). Compiling costs seconds at the
first call, so it pays on a trainer's long run, not in a tester: `env.compile` null (auto) means on a
CUDA device only.

Each function is compiled whole (`fullgraph`): if one cannot be, nothing of it has run, and from then
on all of them run eagerly, after one warning line naming the reason (a missing compiler costs speed,
never the run).
"""

from __future__ import annotations

import logging

import torch

log = logging.getLogger("sim")


def compile_wanted(setting: bool | None, device: torch.device) -> bool:
    """`env.compile`: true / false as given; null (auto) -> on a CUDA device only."""
    return device.type == "cuda" if setting is None else bool(setting)


class Fusion:
    """The env's per-step functions, compiled together: if one cannot be, all run eagerly, said once."""

    def __init__(self, enabled: bool):
        self.enabled = enabled  # until a compile fails

    def __call__(self, fn, name: str):
        """`fn`, compiled on its first call while this fusion is enabled."""
        compiled = torch.compile(fn, fullgraph=True, dynamic=False) if self.enabled else fn

        def call(*args):
            if not self.enabled:
                return fn(*args)
            try:
                return compiled(*args)
            except Exception as e:  # noqa: BLE001 - whatever the compiler raises, the math runs eagerly
                if not _compile_error(e):
                    raise
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                log.warning(
                    "env.compile: the task math runs eagerly, %s could not be compiled (%s)", name, reason[:200]
                )
                self.enabled = False
                return fn(*args)

        return call


def _compile_error(e: Exception) -> bool:
    """Raised by dynamo or inductor (not by the math itself, which raises the same eagerly)."""
    import torch._dynamo.exc as dynamo_exc

    if isinstance(e, (dynamo_exc.TorchDynamoException, dynamo_exc.Unsupported)):
        return True
    return type(e).__module__.startswith(("torch._dynamo", "torch._inductor", "triton"))
