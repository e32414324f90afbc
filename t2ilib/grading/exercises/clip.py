"""Exercises of chapter 7a (CLIP): the ViT's patches and CLIP's symmetric contrastive loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from t2ilib.grading.core import call, exercise, expect, seeded

# clip_loss and patchify are imported when an exercise is graded: t2ilib.clip imports transformers (4 s), and
# the grading worker, which starts once per submission, imports every exercise module (2 s with torch alone).


@exercise("7a.1", "my_patchify", "a ViT's patches: (N, C, H, W) -> (N, number of patches, C * P * P)")
def _patchify(fn):
    from t2ilib.clip.model import patchify

    x = torch.randn(2, 3, 8, 12, generator=seeded(71))
    p = 4
    n, c, h, w = x.shape
    grid = x.reshape(n, c, h // p, p, w // p, p)
    expect(call(fn, x, p), patchify(x, p), "patches of a 2 x 3 x 8 x 12 batch, P = 4", {
        "each patch must be flattened channel-major (all of channel 0's P x P pixels, then channel 1's, ...), as the "
        "patch embedding's Conv2d weight (D, C, P, P) is laid out": grid.permute(0, 2, 4, 3, 5, 1).reshape(n, 6, -1),
        "patches go in raster order: along the top row left to right, then the next row (you went down the columns "
        "first)": grid.permute(0, 4, 2, 1, 3, 5).reshape(n, 6, -1),
    })
    return ["a 8 x 12 image (not square), P = 4"]


@exercise("7a.2", "my_clip_loss", "CLIP's symmetric InfoNCE loss with a learned, clamped temperature")
def _clip_loss(fn):
    from t2ilib.clip.loss import clip_loss, logit_scale_value

    g = seeded(72)
    images, texts = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    cases = []
    for t in (math.log(1 / 0.07), math.log(300.0)):
        t_ = torch.tensor(t)
        u, v = F.normalize(images, dim=-1), F.normalize(texts, dim=-1)
        s = logit_scale_value(t_)
        logits = s * u @ v.T
        labels = torch.arange(6)
        expect(call(fn, images, texts, t_), clip_loss(u, v, s), f"loss at log-scale t = {t:.3f}", {
            "normalise both embeddings to unit length first (cosine similarity)":
                clip_loss(images, texts, s),
            "the logits are exp(t) times the cosines: t is the log of the scale":
                clip_loss(u, v, t_),
            "clamp the scale exp(t) at 100 (CLIP's guard against instability)":
                clip_loss(u, v, t_.exp()),
            "the loss is symmetric: average the image->text and the text->image cross-entropies":
                F.cross_entropy(logits, labels),
            "divide by the temperature, i.e. MULTIPLY by the scale exp(t)":
                clip_loss(u, v, 1 / s),
        })
        cases.append(f"t = {t:.2f}")
    return cases
