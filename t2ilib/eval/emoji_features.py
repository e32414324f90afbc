"""A feature space for emoji, trained by the course: a small convolutional autoencoder.

No pretrained image network exists offline, so judging "does this picture look like the emoji of a strawberry?"
needs a feature space the course trains itself. The autoencoder squeezes a 32 px emoji through a
``code_channels`` x 4 x 4 code and rebuilds it; the flattened code is the feature vector. It is trained on the
*training* emoji only (:func:`t2ilib.imagen.open_vocabulary.emoji_split`), so the held-out emoji are as new to the
feature space as their names are to the generators; :func:`reconstruction_psnr` on them shows the code still
describes them. A reconstruction code keeps colour and layout, not meaning: two different red round fruits are
close in it, a red apple and a green apple less so. That is the right bias for asking whether a generated image
looks like a particular real emoji, and the reason the open-vocabulary measurement ranks the real emoji against
*all* others (:mod:`t2ilib.eval.open_vocabulary`) and reports a shuffled-name baseline beside it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t2ilib.eval.judges import random_shift
from t2ilib.eval.metrics import psnr
from t2ilib.model_spec import Describable
from t2ilib.train import evaluating
from t2ilib.vae.conv import ConvDecoder, ConvEncoder


class EmojiAutoencoder(Describable, nn.Module):
    """(N, 3, 32, 32) images in [-1, 1] -> a (N, code_channels, 4, 4) code -> images; ``features`` flattens the
    code into (N, code_channels * 16) vectors."""

    def __init__(self, width: int = 64, code_channels: int = 16, downsamples: int = 3, res_blocks: int = 1):
        super().__init__()
        self.encoder = ConvEncoder(3, code_channels, width, downsamples, res_blocks)
        self.decoder = ConvDecoder(code_channels, 3, width, downsamples, res_blocks)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images)).tanh()

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """(N, D) float32 feature vectors of images in [-1, 1] (computed in eval mode, ``batch`` at a time)."""
        if images.ndim != 4 or images.shape[1:] != (3, 32, 32):
            raise ValueError(f"images: expected (N, 3, 32, 32) in [-1, 1], got {tuple(images.shape)}")
        device = next(self.parameters()).device
        with evaluating(self):
            return torch.cat([self.encode(images[i:i + batch].to(device)).flatten(1).float().cpu()
                              for i in range(0, len(images), batch)])


def autoencoder_loss(model: EmojiAutoencoder, batch: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Mean squared reconstruction error (the images are in [-1, 1])."""
    loss = F.mse_loss(model(batch), batch)
    return loss, {}


def augmented_emoji(images: torch.Tensor, device, batch: int = 64, seed: int = 0, max_shift: int = 2):
    """Step -> a batch of ``images`` (uint8, N x 3 x 32 x 32) in [-1, 1], each epoch in a fresh order, randomly
    shifted by up to ``max_shift`` pixels (the gap filled with white) and mirrored half the time."""
    x = images.float().div(127.5).sub(1)
    per_epoch = len(x) // batch

    def at(step: int):
        epoch, k = divmod(step, per_epoch)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        b = x[order[k * batch:(k + 1) * batch]]
        g = torch.Generator().manual_seed(seed * 7_000_003 + step + 11)
        flip = torch.rand(len(b), generator=g) < 0.5
        b = torch.where(flip[:, None, None, None], b.flip(-1), b)
        b = -random_shift(-b, max_shift, g)  # random_shift pads with -1 (black): negated, the gap is white
        return b.to(device)
    return at


@torch.no_grad()
def reconstruction_psnr(model: EmojiAutoencoder, images: torch.Tensor) -> float:
    """PSNR (dB, peak-to-peak range 2) of the autoencoder's reconstructions of uint8 ``images``."""
    x = images.float().div(127.5).sub(1)
    device = next(model.parameters()).device
    with evaluating(model):
        rec = torch.cat([model(x[i:i + 256].to(device)).float().cpu() for i in range(0, len(x), 256)])
    return psnr(rec, x)
