"""Two unbiased estimators of the gradient of an expectation over a Gaussian, and their variance.

For L(mu, sigma) = E_{z ~ N(mu, sigma^2)}[f(z)] there are two standard single-sample estimators of dL/dmu,
dL/dsigma:

* score function (REINFORCE; Williams 1992; Glynn 1990): grad L = E[f(z) * grad log q(z)], with
      d log q / d mu = (z - mu) / sigma^2,   d log q / d sigma = ((z - mu)^2 - sigma^2) / sigma^3;
  it only needs values of f (f need not be differentiable), but its variance grows with |f|.
* reparameterisation (pathwise; Kingma & Welling 2014, Sec. 2.4): z = mu + sigma * eps, so
      grad L = E[f'(z) * dz/dtheta],   dz/dmu = 1, dz/dsigma = eps,
  which uses the derivative of f and usually has far lower variance -- the reason VAEs train at all.

The pathwise estimate is computed with autograd through ``z``, so it works for any differentiable ``f``; the
score-function estimate uses the analytic score of the Gaussian above.
"""

from __future__ import annotations

from typing import Callable

import torch


def _per_sample_params(mu: float, sigma: float, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, sigma) repeated once per sample as leaf tensors, so autograd returns one gradient per sample."""
    return (torch.full((n,), float(mu), dtype=torch.float64, requires_grad=True),
            torch.full((n,), float(sigma), dtype=torch.float64, requires_grad=True))


def _check(mu, sigma, n):
    if not sigma > 0:
        raise ValueError(f"sigma: expected > 0, got {sigma!r}")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n: expected an int >= 2, got {n!r}")


def reparameterization_gradients(f: Callable[[torch.Tensor], torch.Tensor], mu: float, sigma: float,
                                 n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` independent single-sample pathwise estimates of (dL/dmu, dL/dsigma): shape (n, 2).

    Sample i is z_i = mu + sigma * eps_i; autograd through z_i gives (f'(z_i), f'(z_i) * eps_i).
    """
    _check(mu, sigma, n)
    m, s = _per_sample_params(mu, sigma, n)
    z = m + s * torch.randn(n, generator=generator, dtype=torch.float64)
    f(z).sum().backward()
    return torch.stack([m.grad, s.grad], dim=1)


def score_function_gradients(f: Callable[[torch.Tensor], torch.Tensor], mu: float, sigma: float,
                             n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` independent single-sample score-function estimates f(z) * grad log q(z): shape (n, 2)."""
    _check(mu, sigma, n)
    m, s = torch.tensor(float(mu), dtype=torch.float64), torch.tensor(float(sigma), dtype=torch.float64)
    z = (m + s * torch.randn(n, generator=generator, dtype=torch.float64)).detach()  # no path through z
    with torch.no_grad():
        fz = f(z)
    score_mu = (z - m) / s ** 2                      # d/dmu log N(z; mu, sigma^2)
    score_sigma = ((z - m) ** 2 - s ** 2) / s ** 3   # d/dsigma log N(z; mu, sigma^2)
    return torch.stack([fz * score_mu, fz * score_sigma], dim=1)


def gradient_estimator_stats(estimates: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean, per-sample variance and standard error of the mean of (n, P) gradient estimates."""
    n = estimates.shape[0]
    var = estimates.var(0)
    return {"mean": estimates.mean(0), "variance": var, "stderr": (var / n).sqrt()}
