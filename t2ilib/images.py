"""Image <-> tensor conventions, in one place.

Inside the course an image is a float tensor of shape ``(C, H, W)`` (or a batch ``(N, C, H, W)``) with values in
``[-1, 1]``: the range a tanh output and a diffusion model's data both live in. On disk and for display images are
``uint8`` in ``[0, 255]``. These two functions are the only converters.
"""

from __future__ import annotations

import numpy as np
import torch


def to_image_range(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float32 ``[-1, 1]`` (``x / 127.5 - 1``)."""
    t = torch.as_tensor(x)
    if t.dtype != torch.uint8:
        raise TypeError(f"to_image_range: expected a uint8 array/tensor in [0, 255], got dtype {t.dtype}")
    return t.float().div(127.5).sub(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float ``[-1, 1]`` -> uint8 ``[0, 255]``, clamping values outside the range (e.g. a model's raw output)."""
    if not torch.is_tensor(x) or not x.is_floating_point():
        raise TypeError(f"to_uint8: expected a floating-point tensor in [-1, 1], got {type(x).__name__} "
                        f"{getattr(x, 'dtype', '')}")
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
