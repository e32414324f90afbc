"""Deterministic, resumable batching: the batch of training step ``k`` depends only on ``(seed, k)``."""

from __future__ import annotations

from typing import Callable

import torch


def epoch_batches(*tensors: torch.Tensor, batch_size: int, seed: int = 0) -> Callable[[int], tuple]:
    """Return ``batch_at(step)``: shuffled mini-batches of in-memory tensors, a fresh permutation per epoch.

    Because a batch is a pure function of the step, a resumed run sees exactly the batches it would have seen.
    The last incomplete batch of each epoch is dropped.
    """
    if not tensors:
        raise ValueError("epoch_batches: expected at least one tensor")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"epoch_batches: tensors differ in length: {[len(t) for t in tensors]}")
    if not isinstance(batch_size, int) or not 0 < batch_size <= n:
        raise ValueError(f"batch_size: expected an int in 1..{n} (the dataset size), got {batch_size!r}")
    per_epoch = n // batch_size
    cache: dict[int, torch.Tensor] = {}

    def batch_at(step: int) -> tuple:
        epoch, i = divmod(step, per_epoch)
        if epoch not in cache:
            cache.clear()
            g = torch.Generator().manual_seed(seed * 100_003 + epoch)
            cache[epoch] = torch.randperm(n, generator=g)
        idx = cache[epoch][i * batch_size:(i + 1) * batch_size].to(tensors[0].device)
        return tuple(t[idx] for t in tensors)

    return batch_at


def first_tensor(batch) -> torch.Tensor:
    """The images of a batch given as a tensor or as a tuple ``(images, ...)`` (what ``epoch_batches`` yields)."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch
