"""Named observation pieces: what a task's observation vector is made of, in order, with derived sizes.

A task returns its observations as an ordered dict, name -> (N, k) tensor (a (N,) tensor is one
column), and the env sees their concatenation in that order. The layout (each piece's name, size and
place in the vector) is read off the tensors themselves, the way Isaac Lab's observation manager sizes
its terms by calling them once: no size is written down by hand, so a piece that grows moves the pieces
after it and the total with it, and a checkpoint's input layout is the order of the dict.
"""

from __future__ import annotations

import torch


class Layout:
    """The observation pieces of a vector, in order: name -> size, and where each sits."""

    def __init__(self, pieces: dict[str, torch.Tensor], owner: str = "observations"):
        self.sizes: dict[str, int] = {}
        for name, piece in pieces.items():
            if not isinstance(piece, torch.Tensor) or piece.dim() not in (1, 2):
                shape = tuple(piece.shape) if isinstance(piece, torch.Tensor) else type(piece).__name__
                raise ValueError(f"{owner}[{name!r}]: expects a (N,) or (N, k) tensor, got {shape}")
            self.sizes[name] = 1 if piece.dim() == 1 else piece.shape[1]

    @property
    def size(self) -> int:
        return sum(self.sizes.values())

    def slice(self, name: str) -> slice:
        """Where piece `name` sits in the vector: `obs[:, layout.slice("touch")]`."""
        start = 0
        for piece, n in self.sizes.items():
            if piece == name:
                return slice(start, start + n)
            start += n
        raise KeyError(f"{name!r}: not a piece of this layout ({', '.join(self.sizes)})")

    def __str__(self) -> str:
        """`94: jointPos 20, jointVel 20, touch 10, ...`, for logs."""
        return f"{self.size}: " + ", ".join(f"{name} {n}" for name, n in self.sizes.items())


def concat(pieces: dict[str, torch.Tensor]) -> torch.Tensor:
    """The pieces side by side, (N, layout size), in the dict's order."""
    return torch.cat([p[:, None] if p.dim() == 1 else p for p in pieces.values()], dim=1)
