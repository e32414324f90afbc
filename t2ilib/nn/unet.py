"""A small UNet denoiser for CPU (Ronneberger et al. 2015; the DDPM variant of Ho et al. 2020, App. B).

    x_t --stem--> [ResBlock x n (+ attention) -> Downsample] per level --> mid: ResBlock, attention, ResBlock
        --> [ResBlock x (n + 1) on concat(h, skip) (+ attention) -> Upsample] per level --> GroupNorm, SiLU, conv

Every ResBlock reads the time embedding, plus the conditioning signals, in order of power (chapter 6):

* ``num_classes``: a class embedding added to the time embedding (index ``num_classes`` = "no label", for
  classifier-free guidance);
* ``cond_dim``: a pooled sentence vector, projected and added to the time embedding (one vector per caption);
* ``context_dim``: per-token text states read by cross-attention after every self-attention block (at the
  ``attention_levels`` and in the middle), so each pixel can attend to the words that concern it
  (``query_position``: the queries also know the pixel's position, see :mod:`t2ilib.nn.cross_attention`).

For super-resolution (chapter 9; SR3, Saharia et al. 2021; cascaded diffusion, Ho et al. 2021):

* ``low_res_channels``: a low-resolution image, already upsampled to x's size, concatenated with x_t as extra
  input channels;
* ``noise_level_embed``: the level at which that image was noised (noise conditioning augmentation), embedded like
  a timestep and added to the time embedding, so the model knows how much to trust it.
 The output conv starts at zero, so an
untrained model predicts 0. Default sizes (channels 32/64/64, one block per level, attention at the lowest
level) give 1.1 M parameters: ~190 MNIST images/s of training (batch 64-128) in fp32 and ~330 in bf16 on a 2-core
CPU with native bf16; ~43 in fp32 on a 2-core AVX2-only AMD EPYC (see :mod:`t2ilib.precision`).
"""

from __future__ import annotations

import torch
from torch import nn

from t2ilib.model_spec import Describable
from t2ilib.nn.attention import SelfAttention2d
from t2ilib.nn.blocks import Downsample, ResBlock, Upsample, group_norm, zero_init
from t2ilib.nn.cross_attention import CrossAttention2d
from t2ilib.nn.embeddings import TimeEmbedding


class UNet(Describable, nn.Module):
    def __init__(self, in_channels: int = 1, out_channels: int | None = None, channels: tuple[int, ...] = (32, 64, 64),
                 num_res_blocks: int = 1, attention_levels: tuple[int, ...] = (2,), heads: int = 4, groups: int = 8,
                 dropout: float = 0.0, num_classes: int | None = None, cond_dim: int | None = None,
                 context_dim: int | None = None, query_position: bool = False, low_res_channels: int | None = None,
                 noise_level_embed: bool = False):
        super().__init__()
        if not channels or any(c <= 0 or c % groups for c in channels):
            raise ValueError(f"channels: expected positive multiples of groups={groups}, got {channels!r}")
        if any(not 0 <= a < len(channels) for a in attention_levels):
            raise ValueError(f"attention_levels: expected levels in 0..{len(channels) - 1}, got {attention_levels!r}")
        self.config = dict(in_channels=in_channels, out_channels=out_channels or in_channels, channels=tuple(channels),
                           num_res_blocks=num_res_blocks, attention_levels=tuple(attention_levels), heads=heads,
                           groups=groups, dropout=dropout, num_classes=num_classes,
                           cond_dim=cond_dim, context_dim=context_dim, query_position=query_position)
        if low_res_channels:  # recorded only when used: the configs of earlier UNets stay as they were
            self.config["low_res_channels"] = low_res_channels
        if noise_level_embed:
            self.config["noise_level_embed"] = True
        emb_dim = 4 * channels[0]
        self.num_classes = num_classes
        self.time_embed = TimeEmbedding(channels[0], emb_dim)
        self.class_embed = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.cond_embed = nn.Sequential(nn.Linear(cond_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)) \
            if cond_dim else None
        self.noise_level_embed = TimeEmbedding(channels[0], emb_dim) if noise_level_embed else None
        self.context_dim = context_dim
        self.low_res_channels = low_res_channels or 0
        self.stem = nn.Conv2d(in_channels + self.low_res_channels, channels[0], 3, padding=1)

        def attn(level, ch):
            if level not in attention_levels:
                return nn.Identity()
            return TransformerBlock2d(ch, heads, groups, context_dim, query_position) if context_dim \
                else SelfAttention2d(ch, heads, groups)

        self.down, skips, ch = nn.ModuleList(), [channels[0]], channels[0]
        for level, out in enumerate(channels):
            for _ in range(num_res_blocks):
                self.down.append(nn.ModuleList([ResBlock(ch, out, emb_dim, groups, dropout), attn(level, out)]))
                ch = out
                skips.append(ch)
            if level < len(channels) - 1:
                self.down.append(Downsample(ch))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, groups, dropout),
                                  TransformerBlock2d(ch, heads, groups, context_dim, query_position) if context_dim
                                  else SelfAttention2d(ch, heads, groups),
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

    def embed(self, t: torch.Tensor, y: torch.Tensor | None = None, cond: torch.Tensor | None = None,
              noise_level: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_embed(t)
        if self.noise_level_embed is not None:
            if noise_level is None:
                raise ValueError("noise_level: this UNet needs the noise level of its low-resolution input "
                                 "(N,) (0 = clean)")
            level = torch.as_tensor(noise_level, device=t.device)
            emb = emb + self.noise_level_embed(level.expand(len(t)) if level.ndim == 0 else level)
        elif noise_level is not None:
            raise ValueError("noise_level: this UNet has no noise-level embedding (noise_level_embed=False); "
                             "pass noise_level=None")
        if self.cond_embed is not None:
            if cond is None or cond.ndim != 2 or len(cond) != len(t):
                raise ValueError(f"cond: this UNet needs a (N={len(t)}, {self.config['cond_dim']}) pooled text vector, "
                                 f"got {None if cond is None else tuple(cond.shape)}")
            emb = emb + self.cond_embed(cond if torch.is_autocast_enabled() else cond.to(emb.dtype))
        elif cond is not None:
            raise ValueError("cond: this UNet takes no pooled text vector (cond_dim=None); pass cond=None")
        if self.class_embed is not None:
            if y is None:
                y = torch.full_like(t, self.num_classes)
            emb = emb + self.class_embed(y)
        elif y is not None:
            raise ValueError("y: this UNet has no class embedding (num_classes=None); pass y=None")
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, y: torch.Tensor | None = None, *,
                cond: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None, low_res: torch.Tensor | None = None,
                noise_level: torch.Tensor | None = None) -> torch.Tensor:
        """Predict from noisy images ``x`` (N, C, H, W) at timesteps ``t`` (int or (N,)), with optional labels ``y``
        (N,), pooled text vectors ``cond`` (N, cond_dim), token states ``context`` (N, L, context_dim) and their
        attention mask ``context_mask`` (N, L; 1 = token, 0 = padding); for super-resolution the upsampled
        low-resolution image ``low_res`` (N, low_res_channels, H, W) and its noise level ``noise_level`` (int or (N,))."""
        if x.ndim != 4 or x.shape[1] != self.config["in_channels"]:
            raise ValueError(f"x: expected (N, {self.config['in_channels']}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % 2 ** self.downsamples or x.shape[-2] % 2 ** self.downsamples:
            raise ValueError(f"x: height and width must be multiples of {2 ** self.downsamples}, got {tuple(x.shape[-2:])}")
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(len(x)) if t.ndim == 0 else t
        if self.context_dim and (context is None or context.shape[-1] != self.context_dim):
            raise ValueError(f"context: this UNet cross-attends to (N, L, {self.context_dim}) text states, got "
                             f"{None if context is None else tuple(context.shape)}")
        if not self.context_dim and context is not None:
            raise ValueError("context: this UNet has no cross-attention (context_dim=None); pass context=None")
        if self.low_res_channels:
            if low_res is None or low_res.shape != (len(x), self.low_res_channels, *x.shape[-2:]):
                raise ValueError(f"low_res: this UNet needs the low-resolution image upsampled to x's size, "
                                 f"({len(x)}, {self.low_res_channels}, {x.shape[-2]}, {x.shape[-1]}), got "
                                 f"{None if low_res is None else tuple(low_res.shape)}")
            x = torch.cat([x, low_res.to(x.dtype)], 1)
        elif low_res is not None:
            raise ValueError("low_res: this UNet takes no low-resolution image (low_res_channels=None); pass low_res=None")
        emb = self.embed(t, y, cond, noise_level)
        ctx = (context, context_mask)
        h = self.stem(x)
        hs = [h]
        for block in self.down:
            if isinstance(block, Downsample):
                h = block(h)
            else:
                h = _attend(block[1], block[0](h, emb), ctx)
            hs.append(h)
        h = self.mid[2](_attend(self.mid[1], self.mid[0](h, emb), ctx), emb)
        for block in self.up:
            if isinstance(block, Upsample):
                h = block(h)
            else:
                h = _attend(block[1], block[0](torch.cat([h, hs.pop()], 1), emb), ctx)
        return self.out(h)

    def cross_attention_blocks(self) -> list[CrossAttention2d]:
        """Every cross-attention block, in forward order (to record and plot attention maps)."""
        return [m for m in self.modules() if isinstance(m, CrossAttention2d)]


class TransformerBlock2d(nn.Module):
    """Self-attention over the pixels, then (with ``context_dim``) cross-attention to the text tokens."""

    def __init__(self, channels: int, heads: int, groups: int, context_dim: int | None, query_position: bool = False):
        super().__init__()
        self.self_attn = SelfAttention2d(channels, heads, groups)
        self.cross_attn = CrossAttention2d(channels, context_dim, heads, groups, query_position) if context_dim \
            else None

    def forward(self, x, context=None, context_mask=None):
        x = self.self_attn(x)
        return self.cross_attn(x, context, context_mask) if self.cross_attn is not None else x


def _attend(block: nn.Module, h: torch.Tensor, ctx) -> torch.Tensor:
    return block(h, *ctx) if isinstance(block, TransformerBlock2d) else block(h)
