"""Recipe for the shipped class-conditional DCGAN on MNIST (``digit_gan``).

Quality is measured with the digit judge: *class fidelity* (the fraction of samples generated for digit k that
the judge reads as k) and *judge FID* (Frechet distance on the judge's features between samples and the MNIST
test set; see :mod:`t2ilib.eval.metrics`). The checkpoint holds the EMA generator only.
"""

from __future__ import annotations

import torch

from t2ilib.data import epoch_batches, load_dataset
from t2ilib.gan import GAN, DCGANDiscriminator, DCGANGenerator, GANConfig, GANTrainer, sample
from t2ilib.eval.metrics import class_fidelity, judge_fid
from t2ilib.checkpoint import load_pretrained
from t2ilib.recipes import Recipe, register

Z_DIM, WIDTH = 64, 64
DIGIT_GAN_CONFIG = dict(steps=6000, lr=2e-4, betas=(0.5, 0.999), ema_decay=0.999, log_every=50,
                        checkpoint_every=500, batch_size=64)


def build_digit_generator() -> DCGANGenerator:
    return DCGANGenerator(z_dim=Z_DIM, width=WIDTH, n_classes=10)


def build_digit_gan() -> GAN:
    return GAN(build_digit_generator(), DCGANDiscriminator(width=WIDTH, n_classes=10), z_dim=Z_DIM)


def train_digit_gan(gan: GAN, device, state, max_minutes) -> GANTrainer:
    cfg = dict(DIGIT_GAN_CONFIG)
    batch_size = cfg.pop("batch_size")
    x, y = load_dataset("mnist", "train").tensors(device)
    trainer = GANTrainer(gan, epoch_batches(x, y, batch_size=batch_size, seed=0),
                         GANConfig(**cfg, max_minutes=max_minutes), checkpoint_path=state, resume=state is not None)
    trainer.fit()
    return trainer


def evaluate_digit_generator(generator: torch.nn.Module, device, per_class: int = 500, seed: int = 0) -> dict:
    """Class fidelity and judge FID of ``per_class`` samples per digit (fixed noise: deterministic)."""
    labels = torch.arange(10).repeat_interleave(per_class)
    images = torch.cat([sample(generator, 1000, Z_DIM, labels[i:i + 1000], seed=seed + i, device=device).cpu()
                        for i in range(0, len(labels), 1000)])
    judge = load_pretrained("digit_classifier", device)
    test_images, _ = load_dataset("mnist", "test").tensors("cpu")
    return {"class_fidelity": round(class_fidelity(judge, images, labels), 4),
            "judge_fid": round(judge_fid(judge, images, test_images), 3), "n_samples": len(labels)}


register(Recipe(name="digit_gan", description="class-conditional DCGAN on MNIST (EMA generator)",
                build=build_digit_gan, train=train_digit_gan, evaluate=evaluate_digit_generator,
                metric="class_fidelity", tolerance=0.01, build_pretrained=build_digit_generator,
                quick=dict(per_class=100), requires=("digit_classifier",)))
