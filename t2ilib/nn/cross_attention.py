"""Cross-attention from image features to text tokens (Rombach et al. 2022, Sec. 3.3, Eq. 3; Imagen's
text conditioning, Saharia et al. 2022, Sec. 2.2 and App. F):

    Q = W_Q . norm(h)       (one query per pixel of the feature map h, N x C)
    K = W_K . tau(y),  V = W_V . tau(y)        (one key and value per text token, from the text encoder tau)
    CrossAttention(h, y) = softmax(Q K^T / sqrt(d) + mask) V

Every pixel reads a weighted mix of the caption's tokens, so different places in the image can listen to
different words ("red" where the circle goes, "blue" where the square goes). Padding tokens get -inf logits
(the attention mask), so a caption's meaning does not depend on how long the longest caption in its batch was.
The output projection starts at zero: the block is the identity until training finds a use for the text.

With ``query_position=True`` the queries also see where their pixel is: fixed 2-D sinusoidal features of the
pixel's (x, y), through a learned 1 x 1 projection, are added to the normalised features before W_Q (as
transformers add position embeddings to their inputs). A caption like "a red circle left of a blue square" is
about *places*; with position in the query, a pixel on the left can look for the object said to be on the left.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from t2ilib.nn.attention import masked_attention
from t2ilib.nn.blocks import group_norm, zero_init


def position_features(h: int, w: int, dim: int = 32, device=None) -> torch.Tensor:
    """(dim, h, w) sinusoidal features of pixel centres in [0, 1]^2: frequencies k * pi for k = 1..dim/4, sin and
    cos, for x and for y."""
    if dim % 4:
        raise ValueError(f"dim: expected a multiple of 4, got {dim}")
    freqs = math.pi * torch.arange(1, dim // 4 + 1, device=device, dtype=torch.float32)
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
    fx = xs[None, :] * freqs[:, None]  # (dim/4, w)
    fy = ys[None, :] * freqs[:, None]  # (dim/4, h)
    feats = [fx.sin()[:, None, :].expand(-1, h, -1), fx.cos()[:, None, :].expand(-1, h, -1),
             fy.sin()[:, :, None].expand(-1, -1, w), fy.cos()[:, :, None].expand(-1, -1, w)]
    return torch.cat(feats)


class CrossAttention2d(nn.Module):
    """A residual cross-attention block: feature map (N, C, H, W) attends to text states (N, L, context_dim)."""

    POSITION_DIM = 32

    def __init__(self, channels: int, context_dim: int, heads: int = 4, groups: int = 8, query_position: bool = False):
        super().__init__()
        self.position = nn.Conv2d(self.POSITION_DIM, channels, 1) if query_position else None
        if channels % heads:
            raise ValueError(f"heads: expected a divisor of channels={channels}, got {heads}")
        self.heads = heads
        self.norm = group_norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.kv = nn.Linear(context_dim, 2 * channels)
        self.proj = zero_init(nn.Conv2d(channels, channels, 1))
        self.keep_weights = False  # set True to record the attention maps of the next forward (for plots)
        self.last_weights: torch.Tensor | None = None  # (N, heads, H*W, L)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None):
        n, c, h, w = x.shape
        if context.ndim != 3 or len(context) != n:
            raise ValueError(f"context: expected (N={n}, L, dim) text states, got {tuple(context.shape)}")
        d = c // self.heads
        hq = self.norm(x)
        if self.position is not None:
            pos = position_features(h, w, self.POSITION_DIM, x.device).to(self.position.weight.dtype)
            hq = hq + self.position(pos[None])
        q = self.q(hq).reshape(n, self.heads, d, h * w).transpose(-2, -1)  # (N, H, HW, d)
        k, v = self.kv(context if torch.is_autocast_enabled() else context.to(self.kv.weight.dtype)).reshape(
            n, -1, 2, self.heads, d).permute(2, 0, 3, 1, 4)  # 2 x (N, H, L, d)
        if self.keep_weights:
            out, weights = masked_attention(q, k, v, context_mask)
            self.last_weights = weights.detach().float()
        else:
            mask = None if context_mask is None else context_mask.bool()[:, None, None, :]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # = masked_attention, fused
        return x + self.proj(out.transpose(-2, -1).reshape(n, c, h, w))
