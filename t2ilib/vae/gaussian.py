"""Diagonal Gaussians: the reparameterisation trick, log densities and the closed-form KL of a VAE.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes":
* reparameterisation (Sec. 2.4, Eq. 10 with Sec. 3): z = mu + sigma * eps, eps ~ N(0, I), so a sample is a
  differentiable function of (mu, sigma) and gradients reach the encoder;
* the KL term against the prior N(0, I) in closed form (Appendix B):
      -KL(N(mu, sigma^2) || N(0, 1)) = 1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2).
The general two-Gaussian KL used here, per dimension,
      KL(N(m1, s1^2) || N(m2, s2^2)) = log(s2 / s1) + (s1^2 + (m1 - m2)^2) / (2 s2^2) - 1/2,
reduces to Appendix B for (m2, s2) = (0, 1).
Variances are carried as log-variances (``logvar``), the form an encoder outputs.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """z = mu + exp(logvar / 2) * eps with eps ~ N(0, I): a sample of N(mu, diag(exp(logvar))) that gradients
    flow through (Kingma & Welling 2014, Sec. 2.4)."""
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar: expected the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device) if generator is not None \
        else torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_log_density(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mu, diag(exp(logvar))) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (x - mu) ** 2 / torch.exp(logvar)).sum(-1)


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | float = 0.0,
                logvar_p: torch.Tensor | float = 0.0) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) in nats, summed over the last dimension.

    Per dimension: 1/2 * (logvar_p - logvar_q + (exp(logvar_q) + (mu_q - mu_p)^2) / exp(logvar_p) - 1); with the
    default prior N(0, I) this is Kingma & Welling 2014, Appendix B: -1/2 * sum(1 + logvar - mu^2 - exp(logvar)).
    """
    mu_p = torch.as_tensor(mu_p, dtype=mu_q.dtype, device=mu_q.device)
    logvar_p = torch.as_tensor(logvar_p, dtype=mu_q.dtype, device=mu_q.device)
    per_dim = 0.5 * (logvar_p - logvar_q + (torch.exp(logvar_q) + (mu_q - mu_p) ** 2) / torch.exp(logvar_p) - 1)
    return per_dim.sum(-1)


def gaussian_kl_monte_carlo(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor | float = 0.0,
                            logvar_p: torch.Tensor | float = 0.0, n_samples: int = 100_000,
                            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The same KL as a Monte-Carlo average of log q(z) - log p(z) over z ~ q: ``(estimate, standard error)``."""
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples: expected an int >= 2, got {n_samples!r}")
    mu_p = torch.as_tensor(mu_p, dtype=mu_q.dtype, device=mu_q.device).expand_as(mu_q)
    logvar_p = torch.as_tensor(logvar_p, dtype=mu_q.dtype, device=mu_q.device).expand_as(mu_q)
    z = reparameterize(mu_q.expand(n_samples, *mu_q.shape), logvar_q.expand(n_samples, *mu_q.shape), generator)
    log_ratio = gaussian_log_density(z, mu_q, logvar_q) - gaussian_log_density(z, mu_p, logvar_p)
    return log_ratio.mean(0), log_ratio.std(0) / math.sqrt(n_samples)
