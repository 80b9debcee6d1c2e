"""TensorBoard summaries that stay small over days: every epoch at first, then every 2nd, 4th, ...

rl_games writes ~30 scalars an epoch (~1.8 KB of event file): at 0.45 s an epoch that is ~350 MB a
day. TensorBoard shows at most 1000 points per curve anyway (it samples), so a run writes every epoch
for its first `full` epochs, every 2nd up to 4x that, every 4th up to 8x, and so on: ~`full` epochs per
doubling of the run's length, a few tens of MB for a week, and the early curve in full detail.
"""

from __future__ import annotations

from collections.abc import Callable

FULL_EPOCHS = 1000


def stride(epochs: int, full: int = FULL_EPOCHS) -> int:
    """Write one epoch in `stride` once the run is `epochs` long (1 below 2x `full`, then doubling)."""
    return 1 << max(0, (max(epochs, 0) // full).bit_length() - 1)


class ThinnedWriter:
    """Wraps a SummaryWriter: `add_scalar` only on the epochs `stride` keeps; everything else passes."""

    def __init__(self, writer, epochs: Callable[[], int], full: int = FULL_EPOCHS):
        self.writer, self.epochs, self.full = writer, epochs, full

    def add_scalar(self, *args, **kwargs):
        e = self.epochs()
        if e % stride(e, self.full) == 0:
            self.writer.add_scalar(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.writer, name)
