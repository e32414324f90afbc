"""Toy distributions with known densities, where everything a GAN does can be measured exactly.

* 1-D Gaussian mixtures (``torch.distributions``): densities on a grid for D*, JSD and C(G).
* The 2-D ring of Gaussians (Metz et al. 2017, "Unrolled GANs", Sec. 3.1): 8 modes of std 0.02 on a circle of
  radius 2 -- the standard test of mode collapse, measured as in Srivastava et al. 2017 (VEEGAN, Sec. 5.1):
  a sample is *high quality* if it lies within 3 standard deviations of a mode centre, and a mode is *covered*
  if it receives a fair part of those samples.
* Small MLP generators and discriminators for both.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch import distributions as dist


def mixture_1d(means, stds, weights=None) -> dist.MixtureSameFamily:
    """A 1-D Gaussian mixture; ``.sample``, ``.log_prob`` come from torch.distributions."""
    means = torch.as_tensor(means, dtype=torch.float64)
    stds = torch.as_tensor(stds, dtype=torch.float64)
    if means.shape != stds.shape or means.ndim != 1:
        raise ValueError(f"stds: expected one std per mean ({tuple(means.shape)}), got {tuple(stds.shape)}")
    if (stds <= 0).any():
        raise ValueError(f"stds: expected positive values, got {stds.tolist()}")
    w = torch.ones_like(means) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    return dist.MixtureSameFamily(dist.Categorical(probs=w / w.sum()), dist.Normal(means, stds))


def density_on_grid(distribution: dist.Distribution, x: torch.Tensor) -> torch.Tensor:
    """p(x) on a grid (float64)."""
    return distribution.log_prob(x.double()).exp()


def ring_centres(n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """(n_modes, 2) mode centres evenly spaced on a circle."""
    angle = torch.arange(n_modes, dtype=torch.float32) * (2 * math.pi / n_modes)
    return radius * torch.stack([angle.cos(), angle.sin()], 1)


def sample_ring(n: int, n_modes: int = 8, radius: float = 2.0, std: float = 0.02,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """n points from the ring mixture (equal weights)."""
    centres = ring_centres(n_modes, radius)
    k = torch.randint(0, n_modes, (n,), generator=generator)
    return centres[k] + std * torch.randn(n, 2, generator=generator)


def ring_batches(batch_size: int, seed: int = 0, **ring):
    """``batch_at(step)``: a fresh ring batch for every step, a pure function of (seed, step)."""
    def batch_at(step: int) -> torch.Tensor:
        return sample_ring(batch_size, generator=torch.Generator().manual_seed(seed * 1_000_003 + step), **ring)
    return batch_at


def mode_coverage(samples: torch.Tensor, centres: torch.Tensor, std: float, n_std: float = 3.0,
                  min_share: float = 0.2) -> dict:
    """Mode-collapse metrics for a mixture of isotropic Gaussians with known centres.

    high_quality: fraction of samples within ``n_std`` standard deviations of their nearest centre.
    modes_covered: number of modes that receive at least ``min_share`` of a fair share (n / n_modes) of the
    high-quality samples. counts: high-quality samples per mode.
    """
    if samples.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples: expected shape (N, {centres.shape[1]}), got {tuple(samples.shape)}")
    samples = samples.detach().float().cpu()
    d = torch.cdist(samples, centres.float().cpu())
    nearest_d, nearest = d.min(1)
    good = nearest_d < n_std * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    fair = len(samples) / len(centres)
    return {"modes_covered": int((counts >= min_share * fair).sum()), "high_quality": float(good.float().mean()),
            "counts": counts.tolist()}


class MinibatchStd(nn.Module):
    """Append the batch's mean feature standard deviation as one extra feature (Karras et al. 2018, Sec. 3):
    a collapsed generator produces batches with tiny spread, which D can now see."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        s = h.std(0, unbiased=False).mean().expand(h.shape[0], 1)
        return torch.cat([h, s], 1)


class Pack(nn.Module):
    """PacGAN packing (Lin et al. 2018): the discriminator judges ``m`` samples at once, concatenated into one
    input, so a batch of near-identical samples (a collapsed generator) is easy to tell from m real samples.
    (N, d) -> (N / m, m d); N must be a multiple of m."""

    def __init__(self, m: int):
        super().__init__()
        self.m = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] % self.m:
            raise ValueError(f"batch: expected a multiple of pack={self.m} samples, got {x.shape[0]}")
        return x.reshape(x.shape[0] // self.m, -1)


def mlp_generator(z_dim: int = 2, out_dim: int = 2, hidden: int = 128, depth: int = 2,
                  batchnorm: bool = False) -> nn.Sequential:
    """z -> [Linear, (BatchNorm), ReLU] x depth -> Linear."""
    layers, d = [], z_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden)] + ([nn.BatchNorm1d(hidden)] if batchnorm else []) + [nn.ReLU()]
        d = hidden
    return nn.Sequential(*layers, nn.Linear(d, out_dim))


def mlp_discriminator(in_dim: int = 2, hidden: int = 128, depth: int = 2, spectral_norm: bool = False,
                      batchnorm: bool = False, minibatch_std: bool = False, pack: int = 1) -> nn.Sequential:
    """x -> [Linear, (BatchNorm), LeakyReLU(0.2)] x depth -> (MinibatchStd) -> Linear -> one logit per sample.

    ``spectral_norm`` wraps every Linear in torch's spectral normalisation (Miyato et al. 2018); ``pack > 1``
    judges packs of samples (:class:`Pack`): one logit per pack.
    """
    wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
    layers, d = ([Pack(pack)] if pack > 1 else []), in_dim * pack
    for _ in range(depth):
        layers += [wrap(nn.Linear(d, hidden))] + ([nn.BatchNorm1d(hidden)] if batchnorm else []) + [nn.LeakyReLU(0.2)]
        d = hidden
    if minibatch_std:
        layers.append(MinibatchStd())
        d += 1
    return nn.Sequential(*layers, wrap(nn.Linear(d, 1)), nn.Flatten(0))
