"""Plotting helpers every notebook uses, so every learner sees the same pictures."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchvision

from t2ilib.images import to_uint8


def _as_uint8(images: torch.Tensor) -> torch.Tensor:
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4:
        raise ValueError(f"images: expected (N, C, H, W) or (C, H, W), got shape {tuple(images.shape)}")
    return images if images.dtype == torch.uint8 else to_uint8(images)


def make_grid(images: torch.Tensor, nrow: int = 8, padding: int = 1) -> np.ndarray:
    """An (H, W, 3) uint8 array tiling the images (float in [-1, 1] or uint8) with torchvision's make_grid."""
    grid = torchvision.utils.make_grid(_as_uint8(images).cpu(), nrow=nrow, padding=padding, pad_value=128)
    return grid.permute(1, 2, 0).numpy()


def show_grid(images: torch.Tensor, nrow: int = 8, title: str | None = None, scale: float = 0.6, ax=None):
    """Show a grid of images; returns the matplotlib figure."""
    grid = make_grid(images, nrow)
    if ax is None:
        h, w = grid.shape[:2]
        fig, ax = plt.subplots(figsize=(max(2.0, scale * w / 28), max(2.0, scale * h / 28)))
    ax.imshow(grid, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax.figure


def show_captioned(images: torch.Tensor, captions: list[str], ncols: int = 6, width: int = 18, size: float = 1.9):
    """Images with their captions underneath (wrapped to ``width`` characters)."""
    images = _as_uint8(images).cpu()
    n = len(images)
    if len(captions) != n:
        raise ValueError(f"captions: expected {n} (one per image), got {len(captions)}")
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * (size + 0.45)), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, img, cap in zip(axes.flat, images, captions):
        ax.imshow(img.permute(1, 2, 0).squeeze(-1), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title("\n".join(textwrap.wrap(cap, width)), fontsize=7.5)
    fig.tight_layout()
    return fig


def smooth(values, alpha: float = 0.05) -> np.ndarray:
    """Exponential moving average of a curve (bias-corrected, so the first values are not pulled to 0)."""
    out, m = [], 0.0
    for i, v in enumerate(values):
        m = (1 - alpha) * m + alpha * v
        out.append(m / (1 - (1 - alpha) ** (i + 1)))
    return np.array(out)


def plot_loss(history, title: str = "training loss", log: bool = True, ax=None, label: str | None = None):
    """Raw and smoothed loss against step for a :class:`t2ilib.train.History`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    ax.plot(history.step, history.loss, alpha=0.25, lw=0.8)
    ax.plot(history.step, smooth(history.loss), lw=1.8, label=label or "smoothed")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    ax.figure.tight_layout()
    return ax.figure


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    """Write a grid of images to a PNG file."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_grid(images, nrow).squeeze()).save(path)
    return path
