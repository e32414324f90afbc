"""Digit samples graded by the digit judge: the one measurement of a digit generator's sample quality.

:func:`digit_sample_quality` gives judge FID against the MNIST test digits, its reals-vs-reals floor at the same
sample size (FID is biased upwards for small samples, so a perfect sampler would score the floor, not 0), the judge's
mean confidence, and how evenly the samples cover the ten digits. The ``digit_ddpm`` recipe, chapter 5's
steps-vs-quality table and ``python -m t2ilib.eval.samplers`` all use it.
"""

from __future__ import annotations

import math
import time

import torch

from t2ilib.checkpoint import load_pretrained
from t2ilib.data import load_dataset
from t2ilib.eval.metrics import judge_fid, judge_statistics

_REFERENCE: dict[str, tuple] = {}


def _reference_stats(judge) -> tuple[torch.Tensor, torch.Tensor]:
    """Judge-feature statistics of all 4000 MNIST test digits (the FID reference), computed once."""
    if "test" not in _REFERENCE:
        _REFERENCE["test"] = judge_statistics(judge, load_dataset("mnist", "test").tensors("cpu")[0])
    return _REFERENCE["test"]


@torch.no_grad()
def digit_sample_quality(images: torch.Tensor, judge=None) -> dict:
    """Judge FID of digit images (vs the MNIST test set), the judge's mean confidence, and digit coverage.

    ``fid_floor`` is the same distance for the same number of *real* training digits: the best a perfect sampler
    could score at this sample size (FID is biased upwards for small samples).
    """
    judge = judge or load_pretrained("digit_classifier", "cpu")
    images = images.detach().float().cpu().clamp(-1, 1)
    ref = _reference_stats(judge)
    fid = judge_fid(judge, images, ref)
    key = f"floor{len(images)}"
    if key not in _REFERENCE:
        reals = load_dataset("mnist", "train").tensors("cpu")[0]
        idx = torch.randperm(len(reals), generator=torch.Generator().manual_seed(0))[:len(images)]
        _REFERENCE[key] = judge_fid(judge, reals[idx], ref)
    probs = judge.predict(images)  # class probabilities
    counts = torch.bincount(probs.argmax(-1), minlength=10).float()
    freq = counts / counts.sum()
    entropy = -(freq[freq > 0] * freq[freq > 0].log()).sum().item()
    return {"judge_fid": round(fid, 3), "fid_floor": round(_REFERENCE[key], 3),
            "confidence": round(probs.max(-1).values.mean().item(), 4),
            "digit_coverage": round(math.exp(entropy) / 10, 4),  # perplexity of the predicted digits / 10
            "n_samples": len(images)}


def sample_digits(model, n: int, *, sampler: str = "ddim", steps: int = 25, eta: float = 0.0, seed: int = 0,
                  device="cpu", batch: int = 500, precision: str | None = None, progress: bool = False) -> tuple[torch.Tensor, float]:
    """``n`` samples from a digit denoiser (a :class:`t2ilib.diffusion.DiffusionModel`: its own schedule and
    prediction target) and the seconds it took (batches of ``batch``, seeded)."""
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    out = [model.sample((min(batch, n - i), 1, 28, 28), sampler=sampler, steps=steps, eta=eta, generator=g,
                        device=device, precision=precision, progress=progress) for i in range(0, n, batch)]
    return torch.cat(out).cpu(), time.perf_counter() - t0
