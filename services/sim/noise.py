"""Counter-based reset noise: world i's k-th reset draws the same numbers in any batch, on any device.

A generator per world would need a Python loop over the worlds that reset (dozens per step at 16k
worlds on a GPU). Instead each number is a hash of (seed, world, episode, index), the way JAX's
threefry and Philox work: pure tensor ops, no state but one episode counter per world. The hash is
Chris Wellons' lowbias32, done in int64 with 16-bit halves so that no product overflows.
"""

from __future__ import annotations

import torch

_M1, _M2 = 0x7FEB352D, 0x846CA68B
_MASK = 0xFFFFFFFF


def _mul32(x: torch.Tensor, m: int) -> torch.Tensor:
    """(x * m) mod 2**32 for x in [0, 2**32), exact in int64."""
    lo, hi = x & 0xFFFF, x >> 16
    return (lo * m + (((hi * m) & 0xFFFF) << 16)) & _MASK


def hash32(x: torch.Tensor) -> torch.Tensor:
    x = x & _MASK
    x = x ^ (x >> 16)
    x = _mul32(x, _M1)
    x = x ^ (x >> 15)
    x = _mul32(x, _M2)
    return x ^ (x >> 16)


class WorldNoise:
    """One episode counter per world; `draws(ids)` gives the numbers of those worlds' next reset."""

    def __init__(self, seed: int, num_envs: int, device, dtype=torch.float64):
        self.device, self.dtype = torch.device(device), dtype
        self.seed = hash32(torch.tensor(int(seed) & _MASK, device=self.device))
        self.worlds = torch.arange(num_envs, device=self.device)
        self.episode = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    def draws(self, ids: torch.Tensor) -> ResetDraws:
        key = hash32(hash32(self.seed ^ self.worlds[ids]) ^ self.episode[ids])
        self.episode[ids] += 1
        return ResetDraws(key, self.dtype)


class ResetDraws:
    """Successive uniform blocks for the worlds of one reset; every call draws new numbers."""

    def __init__(self, key: torch.Tensor, dtype):
        self.key, self.dtype, self.used = key, dtype, 0

    def uniform(self, n: int, low=-1.0, high=1.0) -> torch.Tensor:
        """(len(ids), n) uniform in [low, high); low/high may be (n,) tensors."""
        index = torch.arange(self.used, self.used + n, device=self.key.device)
        self.used += n
        bits = hash32(self.key[:, None] ^ hash32(index + 0x9E3779B9)[None, :]) >> 8  # 24 bits
        u = bits.to(self.dtype) * (1.0 / (1 << 24))
        return low + (high - low) * u
