"""Recipe for the diffusion chapters' shipped denoiser, and how its samples are measured.

* ``digit_ddpm`` -- an unconditional UNet denoiser (1.1 M parameters, eps-prediction, cosine schedule, T = 1000) on
  the course's 16 000 MNIST training digits at 28 px. Graded by the Frechet distance, on the digit judge's features,
  between 500 DDIM samples (25 steps) and the MNIST test digits -- lower is better.

:func:`digit_sample_quality` is the one measurement used by the recipe, the chapter's steps-vs-quality table and
``python -m t2ilib.diffusion.benchmark``: judge FID, its reals-vs-reals floor at the same sample size, the judge's
mean confidence, and how evenly the samples cover the ten digits.
"""

from __future__ import annotations

import math
import time

import torch

from t2ilib.data import epoch_batches, load_dataset
from t2ilib.diffusion import NoiseSchedule, diffusion_loss, noised_batches, sample
from t2ilib.metrics import judge_fid, judge_statistics
from t2ilib.recipes import Recipe, default_trainer, load_pretrained, register
from t2ilib.train import TrainConfig
from t2ilib.nn import UNet

DIGIT_DDPM = dict(schedule="cosine", num_steps=1000, prediction="epsilon", batch=128)
DIGIT_DDPM_CONFIG = dict(steps=4000, lr=1e-3, warmup_steps=100, lr_schedule="cosine", grad_clip=1.0, ema_decay=0.999,
                         log_every=50, checkpoint_every=250)
EVAL = dict(n=500, sampler="ddim", steps=25, eta=0.0, seed=0)


def digit_schedule() -> NoiseSchedule:
    return NoiseSchedule.from_name(DIGIT_DDPM["schedule"], DIGIT_DDPM["num_steps"])


def build_digit_ddpm() -> UNet:
    return UNet(in_channels=1, channels=(32, 64, 64), num_res_blocks=1, attention_levels=(2,))


def train_digit_ddpm(model, device, state, max_minutes):
    x, _ = load_dataset("mnist", "train").tensors(device)
    cfg = TrainConfig(**DIGIT_DDPM_CONFIG, max_minutes=max_minutes)
    batches = noised_batches(epoch_batches(x, batch_size=DIGIT_DDPM["batch"]), DIGIT_DDPM["num_steps"])
    trainer = default_trainer(model, diffusion_loss(digit_schedule().to(device), DIGIT_DDPM["prediction"]), batches,
                              cfg, state)
    trainer.fit()
    return trainer


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
    """``n`` samples from a digit denoiser and the seconds it took (batches of ``batch``, seeded)."""
    schedule = digit_schedule().to(device)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    out = [sample(model, schedule, (min(batch, n - i), 1, 28, 28), sampler=sampler, steps=steps, eta=eta,
                  generator=g, device=device, precision=precision, progress=progress) for i in range(0, n, batch)]
    return torch.cat(out).cpu(), time.perf_counter() - t0


def evaluate_digit_ddpm(model, device, n: int = EVAL["n"]) -> dict:
    model.eval()
    images, seconds = sample_digits(model, n, sampler=EVAL["sampler"], steps=EVAL["steps"], eta=EVAL["eta"],
                                    seed=EVAL["seed"], device=device)
    return {**digit_sample_quality(images), "sampler": f"{EVAL['sampler']} {EVAL['steps']} steps, eta {EVAL['eta']}",
            "sample_seconds": round(seconds, 1)}


register(Recipe(name="digit_ddpm", description="unconditional UNet denoiser on MNIST (eps-prediction, cosine, T=1000)",
                build=build_digit_ddpm, train=train_digit_ddpm, evaluate=evaluate_digit_ddpm,
                metric="judge_fid", tolerance=1.0, higher_is_better=False, quick=dict(n=200)))
