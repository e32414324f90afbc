"""A convolutional VAE with a Bernoulli decoder, and the numbers to judge it: ELBO, bits per dimension, IWAE.

Model (Kingma & Welling 2014): p(z) = N(0, I), p(x | z) = prod_i Bernoulli(x_i; sigmoid(decoder(z)_i)),
q(z | x) = N(mu(x), diag(exp(logvar(x)))). Training maximises the ELBO (their Eq. 3 / Eq. 10)
    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)) <= log p(x),
estimated with one reparameterised sample; ``beta`` weights the KL term (Higgins et al. 2017, beta-VAE Eq. 4).

The data are binarised MNIST pixels: a Bernoulli likelihood is then a true probability of the data, and
-log p(x) / (D ln 2) is an honest *bits per dimension*. Training binarises afresh every step (dynamic
binarisation); evaluation uses one fixed binarisation. The importance-weighted bound of Burda et al. 2016 (Eq. 8)
    L_K(x) = E[log (1/K) sum_k p(x, z_k) / q(z_k | x)],   ELBO = L_1 <= L_K <= log p(x),
gives a tighter estimate of log p(x) from the same model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from t2ilib.data import load_dataset
from t2ilib.data.loaders import first_tensor
from t2ilib.model_spec import Describable
from t2ilib.vae.conv import ConvDecoder, ConvEncoder
from t2ilib.vae.gaussian import gaussian_kl, gaussian_log_density, reparameterize


def binarize(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images in [-1, 1] -> {0., 1.}: each pixel is 1 with probability (x + 1) / 2."""
    p = ((images + 1) / 2).clamp(0, 1)
    u = torch.rand(p.shape, generator=generator, device="cpu").to(p.device) if generator is not None \
        else torch.rand_like(p)
    return (u < p).to(images.dtype)


def binarized_batches(images: torch.Tensor, batch_size: int, seed: int = 0):
    """``batch_at(step)`` of freshly binarised images; the binarisation of step k is a function of (seed, k)."""
    from t2ilib.data import epoch_batches

    inner = epoch_batches(images, batch_size=batch_size, seed=seed)

    def batch_at(step: int) -> torch.Tensor:
        (x,) = inner(step)
        return binarize(x, torch.Generator().manual_seed(seed * 1_000_003 + step))

    return batch_at


def binarized_test_digits(n: int | None = None, device="cpu") -> torch.Tensor:
    """The MNIST test images binarised once, with a fixed seed: the evaluation set of the digit VAE (its recipe and
    chapter 2 measure on exactly these)."""
    x, _ = load_dataset("mnist", "test").tensors("cpu")
    x = binarize(x[:n] if n else x, torch.Generator().manual_seed(1234))
    return x.to(device)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) = sum_i [x_i log sigmoid(l_i) + (1 - x_i) log(1 - sigmoid(l_i))], per image (nats)."""
    return -F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none").flatten(1).sum(1)


def bits_per_dim(nll_nats: torch.Tensor | float, dims: int) -> float:
    """Negative log-likelihood in nats per image -> bits per pixel: nll / (D ln 2)."""
    nll = nll_nats.detach() if torch.is_tensor(nll_nats) else nll_nats
    return float(nll) / (dims * math.log(2))


class ConvVAE(Describable, nn.Module):
    """28 x 28 x 1 images -> z in R^latent_dim -> Bernoulli logits for 28 x 28 x 1 pixels."""

    def __init__(self, latent_dim: int = 16, width: int = 32, image_size: int = 28, channels: int = 1):
        super().__init__()
        if not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim: expected an int >= 1, got {latent_dim!r}")
        if image_size % 4:
            raise ValueError(f"image_size: expected a multiple of 4, got {image_size!r}")
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        s = image_size // 4
        self.grid = (width, s, s)
        self.encoder = ConvEncoder(channels, width, width)
        self.to_stats = nn.Linear(width * s * s, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim, width * s * s)
        self.decoder = ConvDecoder(width, channels, width)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | x), each (N, latent_dim)."""
        h = self.encoder(x).flatten(1)
        mu, logvar = self.to_stats(h).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (N, C, H, W) of p(x | z)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z: expected (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(self.from_latent(z).view(-1, *self.grid))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, generator)
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Images in [-1, 1] showing the decoder's mean, sigmoid(logits), for z ~ N(0, temperature^2 I)."""
        device = next(self.parameters()).device
        z = temperature * torch.randn(n, self.latent_dim, generator=generator).to(device)
        return self.mean_image(self.decode(z))

    @staticmethod
    def mean_image(logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float()) * 2 - 1


def elbo_terms(model: ConvVAE, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Per-image reconstruction log-likelihood E_q[log p(x|z)] (one sample), KL(q || p) and ELBO, in nats."""
    logits, mu, logvar = model(x, generator)
    rec = bernoulli_log_likelihood(logits, x)
    kl = gaussian_kl(mu.float(), logvar.float())
    return {"reconstruction": rec, "kl": kl, "elbo": rec - kl}


def vae_loss(model: ConvVAE, batch, beta: float = 1.0):
    """Negative (beta-)ELBO per image, averaged over the batch; logs distortion and rate (nats).

    ``batch`` is binarised images or a tuple whose first element is them.
    """
    x = first_tensor(batch)
    t = elbo_terms(model, x)
    loss = (-t["reconstruction"] + beta * t["kl"]).mean()
    return loss, {"distortion": -t["reconstruction"].mean().detach(), "rate": t["kl"].mean().detach()}


@torch.no_grad()
def importance_weighted_bound(model: ConvVAE, x: torch.Tensor, k: int = 64,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """L_K(x) = log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x), z_k ~ q(z | x) (Burda et al. 2016, Eq. 8)."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected an int >= 1, got {k!r}")
    mu, logvar = model.encode(x)
    log_w = []
    for _ in range(k):
        z = reparameterize(mu, logvar, generator)
        log_pxz = bernoulli_log_likelihood(model.decode(z), x)
        log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = gaussian_log_density(z, mu, logvar)
        log_w.append(log_pxz + log_pz - log_qz)
    return torch.logsumexp(torch.stack(log_w), 0) - math.log(k)
