"""Recipes for the judges: the digit classifier (MNIST), the fashion classifier (Fashion-MNIST), the
shapes-world attribute probe and the emoji feature space."""

from __future__ import annotations

from functools import partial

import torch

from t2ilib.data import epoch_batches, load_dataset, load_emoji
from t2ilib.data.shapes import ShapesWorld
from t2ilib.eval.emoji_features import EmojiAutoencoder, augmented_emoji, autoencoder_loss, reconstruction_psnr
from t2ilib.eval.judges import ImageClassifier, accuracy, classifier_loss
from t2ilib.eval.open_vocabulary import emoji_pool, target_ranks
from t2ilib.eval.shapes_probe import ShapesProbe, attribute_accuracy, probe_loss, targets
from t2ilib.imagen.open_vocabulary import emoji_split
from t2ilib.recipes import Recipe, register

CLASSIFIER_CONFIG = dict(steps=1500, lr=2e-3, warmup_steps=100, lr_schedule="cosine", weight_decay=1e-4, grad_clip=1.0,
                         log_every=25, checkpoint_every=250)


def classifier_batches(dataset: str, model, device):
    return epoch_batches(*load_dataset(dataset, "train").tensors(device), batch_size=128, seed=0)


def test_accuracy(dataset: str, model, device) -> dict[str, float]:
    x, y = load_dataset(dataset, "test").tensors(device)
    return {"test_accuracy": round(accuracy(model, x, y), 5), "n_test": len(y)}


for _name, _ds, _desc in (("digit_classifier", "mnist", "MNIST digit judge (small CNN)"),
                          ("fashion_classifier", "fashion_mnist", "Fashion-MNIST judge (small CNN)")):
    register(Recipe(name=_name, description=_desc, build=partial(ImageClassifier, 1, 10),
                    config=CLASSIFIER_CONFIG, loss=lambda model, device: classifier_loss,
                    batches=partial(classifier_batches, _ds), evaluate=partial(test_accuracy, _ds),
                    metric="test_accuracy", tolerance=0.003))
del _name, _ds, _desc


# ------------------------------------------------------------------------------------------- shapes probe
PROBE_CONFIG = dict(steps=2000, lr=2e-3, warmup_steps=100, lr_schedule="cosine", weight_decay=1e-4, grad_clip=1.0,
                    log_every=25, checkpoint_every=250)
PROBE_BATCH = (96, 32)  # scenes per step from the "train" and the "held_out" streams
PROBE_EVAL = dict(n=2000, seed=202)


def probe_batches(device, seed: int = 101):
    """Step -> (images, targets): fresh renders every step, with a little pixel noise so the probe also reads
    imperfect (generated) images."""
    worlds = [ShapesWorld(10**8, 32, seed, split) for split in ("train", "held_out")]

    def at(step: int):
        parts = [w.batch(step * n, n) for w, n in zip(worlds, PROBE_BATCH)]
        x = torch.cat([p.images for p in parts])
        g = torch.Generator().manual_seed(seed * 7919 + step)
        sigma = torch.rand(len(x), 1, 1, 1, generator=g) * 0.15
        x = (x + sigma * torch.randn(x.shape, generator=g)).clamp(-1, 1)
        y = targets([a for p in parts for a in p.attributes])
        return x.to(device), {k: v.to(device) for k, v in y.items()}
    return at


def probe_accuracy(model, device) -> dict:
    """Per-attribute accuracy on fresh renders of the test split and of the held-out (colour, shape) pairs."""
    out = {}
    for split in ("test", "held_out"):
        b = ShapesWorld(PROBE_EVAL["n"], 32, PROBE_EVAL["seed"], split).batch(0, PROBE_EVAL["n"])
        acc = attribute_accuracy(model, b.images, b.attributes)
        out[split] = {k: round(v, 5) for k, v in acc.items()}
        out[f"{split}_min_accuracy"] = round(min(acc.values()), 5)
    out["min_accuracy"] = min(out["test_min_accuracy"], out["held_out_min_accuracy"])
    out["n_per_split"] = PROBE_EVAL["n"]
    return out


register(Recipe(name="shapes_probe", description="shapes-world attribute probe (CNN, one head per attribute)",
                build=ShapesProbe, config=PROBE_CONFIG, loss=lambda model, device: probe_loss,
                batches=lambda model, device: probe_batches(device), evaluate=probe_accuracy, metric="min_accuracy",
                tolerance=0.003))


# ------------------------------------------------------------------------------------------- emoji features
AUTOENCODER_CONFIG = dict(steps=3000, lr=2e-3, warmup_steps=100, lr_schedule="cosine", grad_clip=1.0, log_every=25,
                          checkpoint_every=500)


def _emoji_split_images():
    images = load_emoji(32).images
    train, held = emoji_split()
    return images[train], images[held]


def autoencoder_batches(model, device):
    return augmented_emoji(_emoji_split_images()[0], device, batch=64)


def autoencoder_quality(model, device) -> dict:
    """Reconstruction PSNR on the training emoji and on the held-out ones (never seen in training), and how often an
    emoji moved by one pixel is still nearest to itself among all emoji (one per name) in the feature space."""
    train, held = _emoji_split_images()
    real, _ = emoji_pool()
    x = real.float().div(127.5).sub(1)
    f = model.features(x)
    moved = model.features(torch.roll(x, shifts=1, dims=-1))
    centre = f.mean(0)
    ranks = target_ranks(moved - centre, f - centre, torch.arange(len(x)))
    return {"psnr_train": round(reconstruction_psnr(model, train), 3),
            "psnr_held_out": round(reconstruction_psnr(model, held), 3),
            "moved_one_pixel_top1": round(float((ranks == 1).float().mean()), 4), "pool": len(x)}


register(Recipe(name="emoji_features", description="emoji feature space: a convolutional autoencoder, 32 px -> 16 x 4 "
                                                   "x 4 code, trained on the training emoji only",
                build=EmojiAutoencoder, config=AUTOENCODER_CONFIG, loss=lambda model, device: autoencoder_loss,
                batches=autoencoder_batches, evaluate=autoencoder_quality, metric="psnr_held_out", tolerance=0.3))
