"""DCGAN (Radford et al. 2016) for 28 x 28 images, optionally class-conditional.

Architecture guidelines of Radford et al. (Sec. 3): strided (transposed) convolutions instead of pooling,
BatchNorm in both G and D except G's output layer and D's input layer, ReLU in G with tanh output, LeakyReLU(0.2)
in D, no fully connected hidden layers. Here D's BatchNorm is off by default (``batchnorm=False``): our loop
feeds D separate real and fake batches, and chapter 1a shows on a toy what batch statistics then do to D.

Conditioning (``n_classes``):
* generator: the label's embedding is concatenated to z (the conditional GAN of Mirza & Osindero 2014);
* discriminator: the *projection* discriminator of Miyato & Koyama 2018 (Eq. 3),
  logit(x, y) = psi(phi(x)) + embed(y) . phi(x), which learns class-conditional GANs far more reliably than
  concatenating the label to the input.

Shapes: G: (N, z_dim) [+ (N,) labels] -> (N, C, 28, 28) in [-1, 1];  D: (N, C, 28, 28) [+ labels] -> (N,) logits.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from t2ilib.model_spec import Describable


def _check_labels(labels, n_classes, n):
    if n_classes is None:
        if labels is not None:
            raise ValueError("labels: this model is unconditional (n_classes=None); call it without labels")
        return
    if labels is None:
        raise ValueError(f"labels: this model is conditional; pass (N,) class indices in [0, {n_classes})")
    if labels.shape != (n,) or labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels: expected ({n},) integer class indices, got {tuple(labels.shape)} {labels.dtype}")


class DCGANGenerator(Describable, nn.Module):
    def __init__(self, z_dim: int = 64, width: int = 64, out_channels: int = 1, n_classes: int | None = None,
                 batchnorm: bool = True):
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())  # noqa: E731
        self.embed = nn.Embedding(n_classes, z_dim) if n_classes else None
        in_dim = 2 * z_dim if n_classes else z_dim
        w = width
        self.project = nn.Linear(in_dim, 2 * w * 7 * 7)
        self.net = nn.Sequential(
            nn.Unflatten(1, (2 * w, 7, 7)), norm(2 * w), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), norm(w), nn.ReLU(),            # 7 -> 14
            nn.ConvTranspose2d(w, w // 2, 4, 2, 1), norm(w // 2), nn.ReLU(),      # 14 -> 28
            nn.Conv2d(w // 2, out_channels, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z: expected shape (N, {self.z_dim}), got {tuple(z.shape)}")
        _check_labels(labels, self.n_classes, z.shape[0])
        h = torch.cat([z, self.embed(labels)], 1) if self.embed is not None else z
        return self.net(self.project(h))


class DCGANDiscriminator(Describable, nn.Module):
    def __init__(self, width: int = 64, in_channels: int = 1, n_classes: int | None = None,
                 batchnorm: bool = False, spectral_norm: bool = False):
        super().__init__()
        self.n_classes = n_classes
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())  # noqa: E731
        w = width
        self.features = nn.Sequential(
            wrap(nn.Conv2d(in_channels, w, 4, 2, 1)), nn.LeakyReLU(0.2),                # 28 -> 14
            wrap(nn.Conv2d(w, 2 * w, 4, 2, 1)), norm(2 * w), nn.LeakyReLU(0.2),          # 14 -> 7
            wrap(nn.Conv2d(2 * w, 4 * w, 3, 2, 1)), norm(4 * w), nn.LeakyReLU(0.2),      # 7 -> 4
            nn.Flatten())
        feat = 4 * w * 4 * 4
        self.head = wrap(nn.Linear(feat, 1))
        self.embed = wrap(nn.Embedding(n_classes, feat)) if n_classes else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[-2:] != (28, 28):
            raise ValueError(f"x: expected images (N, C, 28, 28) in [-1, 1], got shape {tuple(x.shape)}")
        _check_labels(labels, self.n_classes, x.shape[0])
        phi = self.features(x)
        logit = self.head(phi).squeeze(1)
        if self.embed is not None:
            logit = logit + (self.embed(labels) * phi).sum(1)  # projection (Miyato & Koyama 2018, Eq. 3)
        return logit
