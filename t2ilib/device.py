"""One device helper and one seeding helper for the whole course.

Every notebook and recipe calls :func:`get_device` instead of hard-coding a CUDA device, so the same code runs on a
laptop CPU, an Apple GPU (MPS) or an NVIDIA GPU.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

_VALID = ("auto", "cpu", "cuda", "mps")


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: cuda > mps > cpu.

    ``prefer`` (or the environment variable ``T2I_DEVICE``) forces one of ``"cpu"``, ``"cuda"``, ``"mps"``;
    ``"auto"`` or ``None`` picks the best available one.
    """
    choice = prefer if prefer is not None else os.environ.get("T2I_DEVICE", "auto")
    choice = str(choice).lower()
    if choice not in _VALID:
        raise ValueError(f"device: expected one of {_VALID}, got {prefer!r}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: 'cuda' was requested but torch.cuda.is_available() is False")
    if choice == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device: 'mps' was requested but torch.backends.mps.is_available() is False")
    return torch.device(choice)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded the same way."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)

