"""What the GAN game optimises, computed exactly on a 1-D grid (Goodfellow et al. 2014, Sec. 4).

* Proposition 1: for a fixed G the optimal discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x))  (Eq. 2).
* Theorem 1: plugging D* into V gives the virtual training criterion
      C(G) = max_D V(D, G) = -log 4 + 2 JSD(p_data || p_g),
  minimised (C = -log 4) exactly when p_g = p_data.
* One-sided label smoothing with real target alpha moves the optimum to D*(x) = alpha p_data / (p_data + p_g)
  (Salimans et al. 2016, Sec. 3.4).

All integrals are trapezoidal quadratures on a fine grid ``x`` that covers both densities; densities are given as
values on that grid (e.g. ``dist.log_prob(x).exp()`` of a ``torch.distributions`` object).
"""

from __future__ import annotations

import torch

from t2ilib.gan.losses import LOG4


def _check(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor | None = None) -> None:
    if p.shape != q.shape:
        raise ValueError(f"densities: expected equal shapes, got {tuple(p.shape)} and {tuple(q.shape)}")
    if x is not None and x.shape != p.shape:
        raise ValueError(f"x: expected the grid the densities are evaluated on, shape {tuple(p.shape)}, got {tuple(x.shape)}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("densities: expected non-negative values")


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """D*(x) = real_label * p_data / (p_data + p_g) (Goodfellow et al. 2014, Eq. 2; Salimans et al. 2016 for
    real_label < 1). Where both densities vanish D* is undefined; we return real_label / 2 there."""
    _check(p_data, p_g)
    total = p_data + p_g
    ratio = torch.where(total > 0, p_data / total.clamp_min(torch.finfo(total.dtype).tiny), torch.full_like(total, 0.5))
    return real_label * ratio


def _xlogy_ratio(p: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """p log(p / m) with 0 log 0 = 0."""
    return torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(m.clamp_min(1e-300))), torch.zeros_like(p))


def kl_divergence(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """KL(p || q) = integral p log(p / q) dx, in nats, by the trapezoidal rule."""
    _check(p, q, x)
    return torch.trapezoid(_xlogy_ratio(p, q), x)


def jensen_shannon_divergence(p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """JSD(p || q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2, in nats (0 <= JSD <= log 2)."""
    _check(p, q, x)
    m = 0.5 * (p + q)
    return 0.5 * torch.trapezoid(_xlogy_ratio(p, m), x) + 0.5 * torch.trapezoid(_xlogy_ratio(q, m), x)


def value_by_quadrature(d: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """V(D, G) = integral p_data log D + p_g log(1 - D) dx for a discriminator given by its values ``d`` on x."""
    _check(p_data, p_g, x)
    eps = torch.finfo(d.dtype).tiny
    integrand = torch.where(p_data > 0, p_data * torch.log(d.clamp_min(eps)), torch.zeros_like(d)) + \
        torch.where(p_g > 0, p_g * torch.log((1 - d).clamp_min(eps)), torch.zeros_like(d))
    return torch.trapezoid(integrand, x)


def virtual_training_criterion(p_data: torch.Tensor, p_g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """C(G) = V(D*, G), computed by quadrature with D* plugged in (Goodfellow et al. 2014, Eq. 4)."""
    return value_by_quadrature(optimal_discriminator(p_data, p_g), p_data, p_g, x)


def criterion_from_jsd(jsd: torch.Tensor | float) -> torch.Tensor | float:
    """-log 4 + 2 JSD (Goodfellow et al. 2014, Theorem 1, Eq. 6)."""
    return -LOG4 + 2 * jsd
