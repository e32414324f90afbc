"""A latent-variable model whose evidence log p(x) is exact: the linear-Gaussian model (probabilistic PCA).

    p(z) = N(0, I_k),   p(x | z) = N(W z + b, sigma^2 I_d)
    =>  p(x) = N(b, W W^T + sigma^2 I)                            (Tipping & Bishop 1999, Eq. 3-4)
    and the posterior p(z | x) = N(mu_post, Sigma_post) with                (Bishop 2006, PRML Sec. 12.2)
        Sigma_post = (I + W^T W / sigma^2)^-1,  mu_post = Sigma_post W^T (x - b) / sigma^2.

For any Gaussian q(z) = N(m, S) the ELBO is analytic too, because E_q[log p(x|z)] of a Gaussian likelihood under
a Gaussian q only needs the first two moments of z:
    E_q[log p(x|z)] = -d/2 log(2 pi sigma^2) - (||x - W m - b||^2 + tr(W S W^T)) / (2 sigma^2).
So the identity the VAE chapter derives,
    log p(x) = ELBO(q) + KL(q(z) || p(z | x)),
can be checked to float precision: the ELBO is below log p(x) for every q and touches it at the true posterior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from t2ilib.vae.gaussian import LOG_2PI


def _full_gaussian_kl(m1, s1, m2, s2) -> torch.Tensor:
    """KL(N(m1, S1) || N(m2, S2)) for full covariances (the textbook formula)."""
    k = m1.shape[-1]
    s2_inv = torch.linalg.inv(s2)
    diff = (m2 - m1).unsqueeze(-1)
    return 0.5 * (torch.einsum("...ii->...", s2_inv @ s1) + (diff.transpose(-1, -2) @ s2_inv @ diff)[..., 0, 0]
                  - k + torch.logdet(s2) - torch.logdet(s1))


@dataclass
class LinearGaussianModel:
    W: torch.Tensor  # (d, k)
    b: torch.Tensor  # (d,)
    sigma: float

    @classmethod
    def random(cls, d: int = 2, k: int = 1, sigma: float = 0.5, seed: int = 0) -> "LinearGaussianModel":
        g = torch.Generator().manual_seed(seed)
        return cls(torch.randn(d, k, generator=g, dtype=torch.float64),
                   torch.randn(d, generator=g, dtype=torch.float64), float(sigma))

    @property
    def d(self) -> int:
        return self.W.shape[0]

    @property
    def k(self) -> int:
        return self.W.shape[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.k, generator=generator, dtype=self.W.dtype)
        x = z @ self.W.T + self.b + self.sigma * torch.randn(n, self.d, generator=generator, dtype=self.W.dtype)
        return x, z

    def marginal_covariance(self) -> torch.Tensor:
        return self.W @ self.W.T + self.sigma ** 2 * torch.eye(self.d, dtype=self.W.dtype)

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) = log N(x; b, W W^T + sigma^2 I)."""
        return torch.distributions.MultivariateNormal(self.b, self.marginal_covariance()).log_prob(x)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (..., k) and covariance (k, k) of the exact posterior p(z | x)."""
        cov = torch.linalg.inv(torch.eye(self.k, dtype=self.W.dtype) + self.W.T @ self.W / self.sigma ** 2)
        mean = (x - self.b) @ self.W @ cov.T / self.sigma ** 2
        return mean, cov

    def expected_log_likelihood(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """E_{z ~ N(m, S)}[log p(x | z)], analytic (see the module docstring)."""
        resid = x - m @ self.W.T - self.b
        trace = torch.einsum("ij,...jk,ik->...", self.W, S, self.W)
        return (-0.5 * self.d * (LOG_2PI + 2 * math.log(self.sigma))
                - ((resid ** 2).sum(-1) + trace) / (2 * self.sigma ** 2))

    def kl_to_prior(self, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """KL(N(m, S) || N(0, I))."""
        eye = torch.eye(self.k, dtype=self.W.dtype)
        return _full_gaussian_kl(m, S, torch.zeros_like(m), eye)

    def elbo(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """ELBO(q) = E_q[log p(x|z)] - KL(q(z) || p(z)) for q = N(m, S), exactly."""
        return self.expected_log_likelihood(x, m, S) - self.kl_to_prior(m, S)

    def kl_to_posterior(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """KL(q(z) || p(z | x)): the gap between log p(x) and the ELBO."""
        pm, pS = self.posterior(x)
        return _full_gaussian_kl(m, S, pm, pS)
