"""A small UNet denoiser for CPU (Ronneberger et al. 2015; the DDPM variant of Ho et al. 2020, App. B).

    x_t --stem--> [ResBlock x n (+ attention) -> Downsample] per level --> mid: ResBlock, attention, ResBlock
        --> [ResBlock x (n + 1) on concat(h, skip) (+ attention) -> Upsample] per level --> GroupNorm, SiLU, conv

Every ResBlock reads the time embedding (plus a class embedding when ``num_classes`` is set: index
``num_classes`` is the "no label" token, for classifier-free guidance). The output conv starts at zero, so an
untrained model predicts 0. Default sizes (channels 32/64/64, one block per level, attention at the lowest
level) give 1.1 M parameters: ~190 MNIST images/s of training on a 2-core CPU in fp32, ~330 with bf16.
"""

from __future__ import annotations

import torch
from torch import nn

from t2ilib.nn.attention import SelfAttention2d
from t2ilib.nn.blocks import Downsample, ResBlock, Upsample, group_norm, zero_init
from t2ilib.nn.embeddings import TimeEmbedding


class UNet(nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int | None = None, channels: tuple[int, ...] = (32, 64, 64),
                 num_res_blocks: int = 1, attention_levels: tuple[int, ...] = (2,), heads: int = 4, groups: int = 8,
                 dropout: float = 0.0, num_classes: int | None = None):
        super().__init__()
        if not channels or any(c <= 0 or c % groups for c in channels):
            raise ValueError(f"channels: expected positive multiples of groups={groups}, got {channels!r}")
        if any(not 0 <= a < len(channels) for a in attention_levels):
            raise ValueError(f"attention_levels: expected levels in 0..{len(channels) - 1}, got {attention_levels!r}")
        self.config = dict(in_channels=in_channels, out_channels=out_channels or in_channels, channels=tuple(channels),
                           num_res_blocks=num_res_blocks, attention_levels=tuple(attention_levels), heads=heads,
                           groups=groups, dropout=dropout, num_classes=num_classes)
        emb_dim = 4 * channels[0]
        self.num_classes = num_classes
        self.time_embed = TimeEmbedding(channels[0], emb_dim)
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1)

        def attn(level, ch):
            return SelfAttention2d(ch, heads, groups) if level in attention_levels else nn.Identity()

        self.down, skips, ch = nn.ModuleList(), [channels[0]], channels[0]
        for level, out in enumerate(channels):
            for _ in range(num_res_blocks):
                self.down.append(nn.ModuleList([ResBlock(ch, out, emb_dim, groups, dropout), attn(level, out)]))
                ch = out
                skips.append(ch)
            if level < len(channels) - 1:
                self.down.append(Downsample(ch))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, groups, dropout), SelfAttention2d(ch, heads, groups),
                                  ResBlock(ch, ch, emb_dim, groups, dropout)])
        self.up = nn.ModuleList()
        for level, out in reversed(list(enumerate(channels))):
            for _ in range(num_res_blocks + 1):
                self.up.append(nn.ModuleList([ResBlock(ch + skips.pop(), out, emb_dim, groups, dropout),
                                              attn(level, out)]))
                ch = out
            if level > 0:
                self.up.append(Upsample(ch))
        self.out = nn.Sequential(group_norm(ch, groups), nn.SiLU(),
                                 zero_init(nn.Conv2d(ch, out_channels or in_channels, 3, padding=1)))
        self.downsamples = len(channels) - 1

    def embed(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        emb = self.time_embed(t)
        if self.class_embed is not None:
            if y is None:
                y = torch.full_like(t, self.num_classes)
            emb = emb + self.class_embed(y)
        elif y is not None:
            raise ValueError("y: this UNet has no class embedding (num_classes=None); pass y=None")
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predict from noisy images ``x`` (N, C, H, W) at timesteps ``t`` (int or (N,)), optional labels ``y``."""
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"x: expected (N, {self.config['in_channels']}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % 2 ** self.downsamples or x.shape[-2] % 2 ** self.downsamples:
            raise ValueError(f"x: height and width must be multiples of {2 ** self.downsamples}, got {tuple(x.shape[-2:])}")
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(len(x)) if t.ndim == 0 else t
        emb = self.embed(t, y)
        h = self.stem(x)
        hs = [h]
        for block in self.down:
            if isinstance(block, Downsample):
                h = block(h)
            else:
                h = block[1](block[0](h, emb))
            hs.append(h)
        h = self.mid[2](self.mid[1](self.mid[0](h, emb)), emb)
        for block in self.up:
            if isinstance(block, Upsample):
                h = block(h)
            else:
                h = block[1](block[0](torch.cat([h, hs.pop()], 1), emb))
        return self.out(h)
