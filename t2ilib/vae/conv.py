"""Convolutional encoder and decoder shared by the course's VAE, VQ-VAE and dVAE.

The shape follows the VQ-VAE paper (van den Oord et al. 2017, Sec. 4.1): strided 4x4 convolutions halve the
resolution, residual blocks (ReLU, 3x3 conv, ReLU, 1x1 conv) refine, and the decoder mirrors the encoder with
transposed convolutions. Two halvings map 28 px to a 7 x 7 grid and 32 px to 8 x 8.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))) (van den Oord et al. 2017, Sec. 4.1)."""

    def __init__(self, channels: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or channels // 2
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def _check_ints(**values: tuple[int, int]) -> None:
    """Each keyword is ``name=(value, lowest allowed)``."""
    for name, (value, low) in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")


class ConvEncoder(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H / 2^downsamples, W / 2^downsamples)."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, downsamples: int = 2,
                 res_blocks: int = 1):
        super().__init__()
        _check_ints(in_channels=(in_channels, 1), out_channels=(out_channels, 1), width=(width, 2),
                    downsamples=(downsamples, 1), res_blocks=(res_blocks, 0))
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1)]
        for _ in range(downsamples - 1):
            layers += [nn.ReLU(), nn.Conv2d(width, width, 4, stride=2, padding=1)]
        layers += [nn.Conv2d(width, width, 3, padding=1)]
        layers += [ResidualBlock(width) for _ in range(res_blocks)]
        layers += [nn.ReLU(), nn.Conv2d(width, out_channels, 1)]
        self.net = nn.Sequential(*layers)
        self.in_channels, self.downsamples = in_channels, downsamples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"images: expected (N, {self.in_channels}, H, W), got {tuple(x.shape)}")
        f = 2 ** self.downsamples
        if x.shape[-1] % f or x.shape[-2] % f:
            raise ValueError(f"images: height and width must be divisible by {f}, got {tuple(x.shape[-2:])}")
        return self.net(x)


class ConvDecoder(nn.Module):
    """(N, in_channels, h, w) -> (N, out_channels, h * 2^upsamples, w * 2^upsamples); no output activation."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, upsamples: int = 2,
                 res_blocks: int = 1):
        super().__init__()
        _check_ints(in_channels=(in_channels, 1), out_channels=(out_channels, 1), width=(width, 2),
                    upsamples=(upsamples, 1), res_blocks=(res_blocks, 0))
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 3, padding=1)]
        layers += [ResidualBlock(width) for _ in range(res_blocks)]
        for _ in range(upsamples - 1):
            layers += [nn.ReLU(), nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)]
        layers += [nn.ReLU(), nn.ConvTranspose2d(width, out_channels, 4, stride=2, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
