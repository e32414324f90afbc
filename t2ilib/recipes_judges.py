"""Recipes for the judges: the digit classifier (MNIST) and the fashion classifier (Fashion-MNIST)."""

from __future__ import annotations

from functools import partial

import torch

from t2ilib.data import epoch_batches, load_dataset
from t2ilib.judges import ImageClassifier, accuracy, classifier_loss
from t2ilib.recipes import Recipe, default_trainer, register
from t2ilib.train import TrainConfig

CLASSIFIER_CONFIG = dict(steps=1500, lr=2e-3, warmup_steps=100, lr_schedule="cosine", weight_decay=1e-4, grad_clip=1.0, log_every=25,
                         checkpoint_every=250)


def train_classifier(dataset: str, model, device, state, max_minutes) -> "Trainer":  # noqa: F821
    x, y = load_dataset(dataset, "train").tensors(device)
    cfg = TrainConfig(**CLASSIFIER_CONFIG, max_minutes=max_minutes)
    trainer = default_trainer(model, classifier_loss, epoch_batches(x, y, batch_size=128, seed=0), cfg, state)
    trainer.fit()
    return trainer


def test_accuracy(dataset: str, model, device) -> dict[str, float]:
    x, y = load_dataset(dataset, "test").tensors(device)
    return {"test_accuracy": round(accuracy(model, x, y), 5), "n_test": len(y)}


for _name, _ds, _desc in (("digit_classifier", "mnist", "MNIST digit judge (small CNN)"),
                          ("fashion_classifier", "fashion_mnist", "Fashion-MNIST judge (small CNN)")):
    register(Recipe(name=_name, description=_desc, build=partial(ImageClassifier, 1, 10),
                    train=partial(train_classifier, _ds), evaluate=partial(test_accuracy, _ds),
                    metric="test_accuracy", tolerance=0.003))
del _name, _ds, _desc

__all__ = ["train_classifier", "test_accuracy", "torch"]
