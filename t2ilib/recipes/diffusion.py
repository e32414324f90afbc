"""Recipe for the diffusion chapters' shipped denoiser.

* ``digit_ddpm`` -- an unconditional UNet denoiser (1.1 M parameters, eps-prediction, cosine schedule, T = 1000) on
  the course's 16 000 MNIST training digits at 28 px. Graded by the Frechet distance, on the digit judge's features,
  between 500 DDIM samples (25 steps) and the MNIST test digits -- lower is better.

Its samples are graded by :func:`t2ilib.eval.sample_quality.digit_sample_quality`, the same measurement as the
chapter's steps-vs-quality table and ``python -m t2ilib.eval.samplers``.
"""

from __future__ import annotations

from t2ilib.data import epoch_batches, load_dataset
from t2ilib.diffusion import Denoiser, diffusion_loss, noised_batches
from t2ilib.eval.sample_quality import digit_sample_quality, sample_digits
from t2ilib.nn import UNet
from t2ilib.recipes import Recipe, register

DIGIT_DDPM = dict(schedule="cosine", num_steps=1000, prediction="epsilon", batch=128)
DIGIT_DENOISER_TRAINING = dict(steps=4000, lr=1e-3, warmup_steps=100, lr_schedule="cosine", grad_clip=1.0,
                               ema_decay=0.999, log_every=50, checkpoint_every=250)  # also the captioned digit model's
EVAL = dict(n=500, sampler="ddim", steps=25, eta=0.0, seed=0)
QUICK = dict(n=100, steps=10)  # the test suite's re-measurement: the same seed, fewer samples and DDIM steps


def build_digit_ddpm() -> Denoiser:
    return Denoiser(UNet(in_channels=1, channels=(32, 64, 64), num_res_blocks=1, attention_levels=(2,)),
                    schedule=DIGIT_DDPM["schedule"], num_steps=DIGIT_DDPM["num_steps"],
                    prediction=DIGIT_DDPM["prediction"])


def denoising_loss(model, device):
    """The diffusion objective under the model's own schedule and prediction target (every denoiser recipe)."""
    return diffusion_loss(model.schedule.to(device), model.prediction)


def digit_ddpm_batches(model, device):
    x, _ = load_dataset("mnist", "train").tensors(device)
    return noised_batches(epoch_batches(x, batch_size=DIGIT_DDPM["batch"]), model.num_steps)


def evaluate_digit_ddpm(model, device, n: int = EVAL["n"], steps: int = EVAL["steps"]) -> dict:
    model.eval()
    images, seconds = sample_digits(model, n, sampler=EVAL["sampler"], steps=steps, eta=EVAL["eta"],
                                    seed=EVAL["seed"], device=device)
    return {**digit_sample_quality(images), "sampler": f"{EVAL['sampler']} {steps} steps, eta {EVAL['eta']}",
            "sample_seconds": round(seconds, 1)}


register(Recipe(name="digit_ddpm", description="unconditional UNet denoiser on MNIST (eps-prediction, cosine, T=1000)",
                build=build_digit_ddpm, config=DIGIT_DENOISER_TRAINING, loss=denoising_loss,
                batches=digit_ddpm_batches, evaluate=evaluate_digit_ddpm,
                metric="judge_fid", tolerance=1.0, higher_is_better=False, quick=QUICK,
                requires=("digit_classifier",)))
