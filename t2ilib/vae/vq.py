"""VQ-VAE: a vector quantiser between a conv encoder and decoder turns an image into a grid of tokens.

van den Oord et al. 2017, "Neural Discrete Representation Learning":
* quantisation (Eq. 1-2): z_q(x) = e_k with k = argmin_j ||z_e(x) - e_j||_2, per grid position;
* straight-through estimator (Sec. 3.2): the decoder's gradient at z_q is copied to z_e unchanged,
  written z_q_st = z_e + sg[z_q - z_e] (sg = stop-gradient, ``.detach()``);
* loss (Eq. 3): L = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2, with beta = 0.25
  (the paper prints "log p"; as a loss to minimise the reconstruction term is the negative log-likelihood):
  the *codebook* term moves the chosen codes towards the encoder outputs, the *commitment* term keeps the
  encoder close to its codes; neither passes gradient to the other side.
Squared norms are averaged over elements here (a constant rescaling of Eq. 3).

Codebook health: *usage* (how many codes are picked), *perplexity* exp(H(p)) of the code frequencies (equal to
the number of codes when all are used equally) and *dead codes* (never picked, so never trained). Dead codes can
be restarted at random encoder outputs (Dhariwal et al. 2020, Jukebox, Sec. 2.2 "random restarts").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from t2ilib.data.loaders import first_tensor
from t2ilib.model_spec import Describable
from t2ilib.vae.conv import ConvDecoder, ConvEncoder


@dataclass
class Quantized:
    z_q: torch.Tensor          # (N, D, h, w) straight-through quantised latents (forward: codes; backward: to z_e)
    indices: torch.Tensor      # (N, h, w) token ids
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor  # already multiplied by beta
    perplexity: torch.Tensor


def perplexity(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """exp(entropy) of the code frequencies in ``indices``: 1 if one code is used, n_codes if all equally."""
    p = torch.bincount(indices.flatten(), minlength=n_codes).float()
    p = p / p.sum()
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


class VectorQuantizer(nn.Module):
    def __init__(self, n_codes: int, code_dim: int, beta: float = 0.25, init_scale: float | None = None):
        super().__init__()
        if not isinstance(n_codes, int) or n_codes < 2:
            raise ValueError(f"n_codes: expected an int >= 2, got {n_codes!r}")
        if not beta >= 0:
            raise ValueError(f"beta: expected >= 0, got {beta!r}")
        self.n_codes, self.code_dim, self.beta = n_codes, code_dim, beta
        self.codebook = nn.Embedding(n_codes, code_dim)
        scale = 1.0 / n_codes if init_scale is None else init_scale  # uniform(-1/K, 1/K), a common default
        nn.init.uniform_(self.codebook.weight, -scale, scale)

    def nearest(self, z_flat: torch.Tensor) -> torch.Tensor:
        """argmin_j ||z - e_j||^2 for (M, D) vectors, via ||z||^2 - 2 z.e + ||e||^2."""
        e = self.codebook.weight
        d = (z_flat ** 2).sum(1, keepdim=True) - 2 * z_flat @ e.T + (e ** 2).sum(1)
        return d.argmin(1)

    def forward(self, z_e: torch.Tensor) -> Quantized:
        if z_e.ndim != 4 or z_e.shape[1] != self.code_dim:
            raise ValueError(f"z_e: expected (N, {self.code_dim}, h, w), got {tuple(z_e.shape)}")
        z_e = z_e.float()
        n, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.nearest(flat.detach())
        z_q = self.codebook(idx).view(n, h, w, d).permute(0, 3, 1, 2)
        codebook_loss = F.mse_loss(z_q, z_e.detach())             # ||sg[z_e] - e||^2
        commitment_loss = self.beta * F.mse_loss(z_e, z_q.detach())  # beta ||z_e - sg[e]||^2
        z_q_st = z_e + (z_q - z_e).detach()                      # straight-through
        indices = idx.view(n, h, w)
        return Quantized(z_q_st, indices, codebook_loss, commitment_loss, perplexity(indices, self.n_codes))

    @torch.no_grad()
    def restart_dead_codes(self, z_e: torch.Tensor, counts: torch.Tensor,
                           generator: torch.Generator | None = None) -> int:
        """Move every code with ``counts == 0`` onto a random encoder output from ``z_e``; returns how many."""
        dead = (counts == 0).nonzero().flatten()
        if len(dead) == 0:
            return 0
        flat = z_e.detach().float().permute(0, 2, 3, 1).reshape(-1, self.code_dim)
        pick = torch.randint(len(flat), (len(dead),), generator=generator).to(flat.device)
        self.codebook.weight[dead.to(flat.device)] = flat[pick]
        return len(dead)


class VQVAE(Describable, nn.Module):
    """images (N, C, H, W) in [-1, 1] <-> tokens (N, H/4, W/4) in [0, n_codes)."""

    def __init__(self, channels: int = 1, n_codes: int = 64, code_dim: int = 16, width: int = 64,
                 beta: float = 0.25, res_blocks: int = 1, init_scale: float | None = None):
        super().__init__()
        self.encoder = ConvEncoder(channels, code_dim, width, res_blocks=res_blocks)
        self.quantizer = VectorQuantizer(n_codes, code_dim, beta, init_scale)
        self.decoder = ConvDecoder(code_dim, channels, width, res_blocks=res_blocks)
        self.channels = channels

    @property
    def vocab_size(self) -> int:
        return self.quantizer.n_codes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Quantized]:
        q = self.quantizer(self.encoder(x))
        return self.decoder(q.z_q), q

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Token grid (N, h, w) of int64 ids."""
        return self.quantizer(self.encoder(images)).indices

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from a token grid (N, h, w)."""
        _check_tokens(tokens, self.vocab_size)
        return self.decoder(self.code_vectors(tokens)).clamp(-1, 1)

    def code_vectors(self, tokens: torch.Tensor) -> torch.Tensor:
        """The codebook vectors of a token grid (N, h, w), as the decoder's input (N, code_dim, h, w)."""
        return self.quantizer.codebook(tokens).permute(0, 3, 1, 2)


def _check_tokens(tokens: torch.Tensor, vocab_size: int) -> None:
    if tokens.ndim != 3 or tokens.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"tokens: expected an integer grid (N, h, w), got {tokens.dtype} {tuple(tokens.shape)}")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise ValueError(f"tokens: expected ids in [0, {vocab_size}), got min {int(tokens.min())} "
                         f"max {int(tokens.max())}")


def vqvae_loss(model: VQVAE, batch):
    """VQ-VAE objective (van den Oord et al. 2017, Eq. 3) with an MSE (fixed-variance Gaussian) reconstruction.

    ``batch`` is the images or a tuple whose first element is the images.
    """
    loss, logs, _ = _vq_objective(model, first_tensor(batch))
    return loss, logs


def _vq_objective(model: VQVAE, x: torch.Tensor) -> tuple[torch.Tensor, dict, Quantized]:
    recon, q = model(x)
    rec = F.mse_loss(recon.float(), x.float())
    loss = rec + q.codebook_loss + q.commitment_loss
    return loss, {"reconstruction": rec.detach(), "codebook": q.codebook_loss.detach(),
                  "commitment": q.commitment_loss.detach(), "perplexity": q.perplexity}, q


class RestartingVQLoss:
    """:func:`vqvae_loss` that also restarts dead codes (Jukebox, Sec. 2.2), for the course's training loop.

    ``batch`` is ``(images, step)``. The loss counts which codes the batches of the last ``every`` steps picked; at
    every multiple of ``every`` before step ``until`` it moves the codes none of them picked onto encoder outputs of
    the current batch (a generator seeded by the step picks which), then starts counting again. After a resume the
    first window is incomplete, so that restart is skipped (``until`` lets the codebook settle before training ends).
    """

    def __init__(self, every: int = 100, until: int | None = None):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every: expected an int >= 1, got {every!r}")
        self.every, self.until = every, until
        self.counts: torch.Tensor | None = None
        self.window_start: int | None = None
        self.restarted = 0

    def __call__(self, model: VQVAE, batch) -> tuple[torch.Tensor, dict]:
        x, step = batch
        if step % self.every == 0 or self.counts is None:
            complete = self.counts is not None and self.window_start == step - self.every
            if complete and step > 0 and (self.until is None or step < self.until):
                with torch.no_grad():
                    z_e = model.encoder(x)
                self.restarted = model.quantizer.restart_dead_codes(z_e, self.counts,
                                                                    torch.Generator().manual_seed(step))
            # a window starts at a multiple of `every`; one begun elsewhere (a resume) never counts as complete
            self.window_start = step if step % self.every == 0 else None
            self.counts = torch.zeros(model.vocab_size, dtype=torch.long, device=x.device)
        loss, logs, q = _vq_objective(model, x)
        self.counts += torch.bincount(q.indices.flatten(), minlength=model.vocab_size)
        return loss, {**logs, "restarted": torch.tensor(float(self.restarted))}


def freeze_tokens(model: VQVAE) -> VQVAE:
    """Freeze the encoder and the codebook, so that every image keeps its tokens; only the decoder still learns.

    This is how Stability AI improved the autoencoder of Stable Diffusion (Rombach et al. 2022) after the diffusion
    model had been trained on its latents: the "ft-EMA" / "ft-MSE" VAEs released in 2022 fine-tuned the decoder alone.
    A model trained on the tokens stays valid; it only gets a better painter of them."""
    for p in list(model.encoder.parameters()) + list(model.quantizer.parameters()):
        p.requires_grad_(False)
    return model


def decoder_loss(model: VQVAE, batch):
    """Mean squared error of the decoder's image from the *frozen* tokens: ``|| D(e_{q(E(x))}) - x ||^2``.

    The codebook and commitment terms of :func:`vqvae_loss` have nothing left to train (see :func:`freeze_tokens`).
    ``batch`` is the images or a tuple whose first element is the images."""
    x = first_tensor(batch)
    with torch.no_grad():
        z_q = model.code_vectors(model.encode(x))
    recon = model.decoder(z_q)
    rec = F.mse_loss(recon.float(), x.float())
    return rec, {"reconstruction": rec.detach()}
