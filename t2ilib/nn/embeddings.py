"""Telling the network the timestep: sinusoidal features of t followed by a small MLP.

The features are those of the Transformer's positional encoding (Vaswani et al. 2017, Sec. 3.5) as used for
timesteps by Ho et al. 2020 (Appendix B): for i = 0..d/2-1, with w_i = 10000^(-i / (d/2 - 1)),

    emb(t) = [sin(t w_0), ..., sin(t w_{d/2-1}), cos(t w_0), ..., cos(t w_{d/2-1})].

Nearby timesteps get similar vectors; the low frequencies separate far-apart ones.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(N,) timesteps -> (N, dim) features [sin(t w), cos(t w)] with geometric frequencies w (see module doc)."""
    if dim % 2 or dim < 4:
        raise ValueError(f"dim: expected an even int >= 4, got {dim!r}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=-1)


class TimeEmbedding(nn.Module):
    """sinusoidal_embedding(t, base) -> Linear -> SiLU -> Linear, to ``dim`` features (Ho et al. 2020, App. B)."""

    def __init__(self, base: int, dim: int):
        super().__init__()
        self.base = base
        self.mlp = nn.Sequential(nn.Linear(base, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.base))
