"""Self-attention over the pixels of a feature map (Vaswani et al. 2017, Eq. 1; used in the DDPM UNet at low
resolution, Ho et al. 2020, App. B):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d)) V,  with Q, K, V linear maps of the normalised features,

computed per head, then projected and added back (a residual block that starts as the identity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t2ilib.nn.blocks import group_norm, zero_init


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Written-out softmax(q k^T / sqrt(d)) v with padded keys excluded: ``(output, weights)``.

    q: (N, H, Lq, d); k, v: (N, H, Lk, d); key_mask: (N, Lk), 1/True for real tokens, 0/False for padding.
    """
    logits = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask.bool()[:, None, None, :], float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    return weights @ v, weights


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v for (..., L, d) tensors, written out (the reference for the fused kernel)."""
    weights = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1)
    return weights @ v


class SelfAttention2d(nn.Module):
    def __init__(self, channels: int, heads: int = 4, groups: int = 8):
        super().__init__()
        if channels % heads:
            raise ValueError(f"heads: expected a divisor of channels={channels}, got {heads}")
        self.heads = heads
        self.norm = group_norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).transpose(-2, -1).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # = attention(q, k, v), fused
        return x + self.proj(out.transpose(-2, -1).reshape(n, c, h, w))
