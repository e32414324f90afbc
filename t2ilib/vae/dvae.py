"""DALL-E's discrete VAE (dVAE): a grid of categorical latents trained with the Gumbel-softmax relaxation.

Ramesh et al. 2021, "Zero-Shot Text-to-Image Generation", Sec. 2.1 and Appendix A: the encoder outputs, at every
grid position, logits over a codebook of K tokens; q(z | x) is that categorical, the prior is uniform, and the
ELBO  E_q[log p(x | z)] - beta KL(q(z | x) || U(K))  is maximised. Sampling a categorical is not differentiable,
so training replaces the one-hot sample by its Gumbel-softmax relaxation (Jang et al. 2017, Eq. 2; Maddison et
al. 2017):
    y = softmax((logits + g) / tau),  g_k = -log(-log u_k),  u_k ~ U(0, 1),
which tends to a one-hot sample as the temperature tau -> 0 (at any tau, argmax(logits + g) is an exact
sample of softmax(logits): the Gumbel-max trick). DALL-E anneals tau from 1 to 1/16 and raises beta from 0 to 6.6
early in training (Appendix A.2). The decoder reads the (relaxed) one-hot through a learned embedding of the K
tokens. To *tokenise* an image, DALL-E takes the argmax of the encoder logits (no noise) -- so a model trained
only at high tau, which learned to decode soft mixtures, decodes hard tokens badly: annealing closes that gap.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from t2ilib.data.loaders import first_tensor
from t2ilib.model_spec import Describable
from t2ilib.vae.conv import ConvDecoder, ConvEncoder
from t2ilib.vae.vq import _check_tokens, perplexity


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool = False, dim: int = 1,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Relaxed one-hot sample softmax((logits + Gumbel noise) / tau) along ``dim`` (Jang et al. 2017, Eq. 2).

    ``hard=True`` returns the exact one-hot of the argmax in the forward pass with the relaxed gradient
    (straight-through Gumbel-softmax, Jang et al. 2017 Sec. 2.2).
    """
    if not tau > 0:
        raise ValueError(f"tau: expected a temperature > 0, got {tau!r}")
    u = torch.rand(logits.shape, generator=generator, device="cpu").to(logits.device) if generator is not None \
        else torch.rand_like(logits, dtype=torch.float32)
    g = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))
    y = F.softmax((logits.float() + g) / tau, dim=dim)
    if hard:
        one_hot = F.one_hot(y.argmax(dim), y.shape[dim]).movedim(-1, dim).to(y.dtype)
        y = one_hot + y - y.detach()
    return y


def kl_to_uniform(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """KL(softmax(logits) || Uniform(K)) = log K - H(q), per grid position, summed over positions, per image."""
    log_q = F.log_softmax(logits.float(), dim=dim)
    kl = (log_q.exp() * log_q).sum(dim) + math.log(logits.shape[dim])
    return kl.flatten(1).sum(1)


def cosine_anneal(step: int, total: int, start: float, end: float) -> float:
    """start -> end along a half cosine over ``total`` steps, then constant at ``end``."""
    if total <= 0 or step >= total:
        return end
    return end + (start - end) * 0.5 * (1 + math.cos(math.pi * step / total))


class DiscreteVAE(Describable, nn.Module):
    """images (N, C, H, W) in [-1, 1] <-> tokens (N, H/2^d, W/2^d) in [0, vocab_size)."""

    def __init__(self, channels: int = 3, vocab_size: int = 256, embed_dim: int = 32, width: int = 64,
                 downsamples: int = 2, res_blocks: int = 1):
        super().__init__()
        self.encoder = ConvEncoder(channels, vocab_size, width, downsamples, res_blocks)
        self.embedding = nn.Conv2d(vocab_size, embed_dim, 1, bias=False)  # one-hot (K) -> code vector (D)
        self.decoder = ConvDecoder(embed_dim, channels, width, downsamples, res_blocks)
        self.vocab_size, self.channels, self.downsamples = vocab_size, channels, downsamples

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder logits (N, K, h, w) of q(z | x)."""
        return self.encoder(x)

    def decode_soft(self, one_hot: torch.Tensor) -> torch.Tensor:
        """Decode a (relaxed) one-hot grid (N, K, h, w)."""
        return self.decoder(self.embedding(one_hot))

    def forward(self, x: torch.Tensor, tau: float, hard: bool = False,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(x)
        return self.decode_soft(gumbel_softmax(logits, tau, hard, 1, generator)), logits

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Token grid (N, h, w): the argmax of the encoder logits (as DALL-E tokenises its images)."""
        return self.logits(images).argmax(1)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from a token grid (N, h, w)."""
        _check_tokens(tokens, self.vocab_size)
        one_hot = F.one_hot(tokens.long(), self.vocab_size).permute(0, 3, 1, 2).float()
        return self.decode_soft(one_hot).clamp(-1, 1)


def annealed_batches(batch_at, steps: int, tau_start: float = 1.0, tau_end: float = 1 / 16,
                     kl_weight: float = 0.0, anneal_steps: int | None = None, kl_warmup: int | None = None):
    """Wrap ``batch_at(step) -> (x, ...)`` into ``(x, tau, kl_weight)`` following DALL-E's schedules.

    tau follows a cosine from ``tau_start`` to ``tau_end`` over ``anneal_steps`` (default: all ``steps``); the KL
    weight rises along a cosine from 0 to ``kl_weight`` over ``kl_warmup`` steps (default: a tenth of ``steps``).
    Pass ``tau_end == tau_start`` for a run without annealing, ``kl_warmup=0`` for a constant KL weight. (At the
    course's scale, a KL weight that starts at 0 lets the encoder collapse onto a single code within ~50 steps --
    every logit saturates and no gradient reaches the others -- so the shipped recipe keeps it constant.)
    """
    anneal = steps if anneal_steps is None else anneal_steps
    warm = max(1, steps // 10) if kl_warmup is None else kl_warmup

    def wrapped(step: int):
        x = first_tensor(batch_at(step))
        return x, cosine_anneal(step, anneal, tau_start, tau_end), cosine_anneal(step, warm, 0.0, kl_weight)

    return wrapped


def dvae_loss(model: DiscreteVAE, batch):
    """MSE reconstruction + kl_weight * KL(q || U(K)) per pixel value; batch = (x, tau, kl_weight).

    The reconstruction is the negative log-likelihood of a fixed-variance Gaussian up to scale and a constant;
    the KL (nats per image) is divided by the number of pixel values so both terms are per-dimension.
    """
    x, tau, kl_weight = batch
    recon, logits = model(x, tau)
    rec = F.mse_loss(recon.float(), x.float())
    kl = kl_to_uniform(logits).mean() / x[0].numel()
    tokens = logits.detach().argmax(1)
    return rec + kl_weight * kl, {"reconstruction": rec.detach(), "kl": kl.detach(), "tau": torch.tensor(tau),
                                  "perplexity": perplexity(tokens, model.vocab_size)}
