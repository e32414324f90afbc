"""Judges: classifiers that tell what a (generated) image shows, so quality is measured, not eyeballed.

:class:`ImageClassifier` is a small CNN (about 0.1 M parameters). Trained on MNIST it is the *digit judge*
(the fraction of generated "sevens" it reads as 7 is a prompt-fidelity score); trained on Fashion-MNIST it is the
*fashion judge*. Its penultimate features also serve as domain features for FID later in the course, since no
pretrained Inception network exists offline.

Any input resolution is accepted: images are resized to the judge's native 28 x 28 before classification.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from t2ilib.model_spec import Describable
from t2ilib.train import evaluating


class ImageClassifier(Describable, nn.Module):
    def __init__(self, in_channels: int = 1, n_classes: int = 10, width: int = 32, resolution: int = 28):
        super().__init__()
        self.resolution = resolution
        w = width
        block = lambda i, o: [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]  # noqa: E731
        self.body = nn.Sequential(*block(in_channels, w), *block(w, w), nn.MaxPool2d(2),
                                  *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
                                  *block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * w, n_classes))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"images: expected a batch (N, C, H, W) in [-1, 1], got shape {tuple(x.shape)}")
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", antialias=True,
                              align_corners=False)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, 4 * width): the domain features for FID."""
        return self.body(self._prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Class probabilities (N, n_classes) for images in [-1, 1], in eval mode."""
        dev = next(self.parameters()).device
        with evaluating(self):
            return torch.cat([F.softmax(self(x[i:i + batch_size].to(dev)).float(), -1)
                              for i in range(0, len(x), batch_size)])


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (zero-padded with the background value -1)."""
    n, _, h, w = x.shape
    p = max_shift
    padded = F.pad(x, (p, p, p, p), value=-1.0)
    dx = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * p + 1, (n,), generator=generator)
    rows = (dy.view(n, 1) + torch.arange(h)).to(x.device)  # (n, h)
    cols = (dx.view(n, 1) + torch.arange(w)).to(x.device)  # (n, w)
    idx_n = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def classifier_loss(model: nn.Module, batch) -> tuple[torch.Tensor, dict]:
    x, y = batch
    logits = model(random_shift(x, 2))
    loss = F.cross_entropy(logits, y)
    return loss, {"accuracy": (logits.argmax(-1) == y).float().mean()}


def accuracy(model: ImageClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((model.predict(images).argmax(-1).cpu() == labels.cpu()).float().mean())
