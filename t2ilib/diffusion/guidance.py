"""Classifier-free guidance and thresholding of the x_0 estimate.

**Classifier-free guidance** (Ho & Salimans 2022): train one network both with the condition c and without it
(replace c by a "null" condition some fraction of the time), then at sampling time extrapolate from the
unconditional prediction towards the conditional one. Three conventions for the same thing are in use:

* Ho & Salimans 2022, Eq. 6:            eps~ = (1 + w) eps(x, c) - w eps(x),        w = 0: no guidance
* Imagen (Saharia et al. 2022, Eq. 2):   eps~ = w eps(x, c) + (1 - w) eps(x),        w = 1: no guidance
* diffusers ``guidance_scale``:          eps~ = eps(x) + s (eps(x, c) - eps(x)),       s = 1: no guidance

so s = w_Imagen = 1 + w_Ho&Salimans. :func:`classifier_free_guidance` uses the Imagen/diffusers scale.

**Thresholding** (Saharia et al. 2022, Sec. 2.3). Large guidance weights push x0_hat far outside the data range
[-1, 1]. *Static* thresholding clips it to [-1, 1], which at high guidance gives saturated, over-sharp images.
*Dynamic* thresholding picks, per sample, s = the p-th percentile of |x0_hat| (p = 99.5 % in the paper); if s > 1
it clips to [-s, s] and divides by s, pulling saturated pixels inwards instead of piling them up at +-1.
"""

from __future__ import annotations

from typing import Callable

import torch

CONVENTIONS = ("imagen", "diffusers", "ho_salimans")


def guidance_scale(w: float, convention: str = "imagen") -> float:
    """The Imagen/diffusers scale equivalent to weight ``w`` given in ``convention``."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention: expected one of {CONVENTIONS}, got {convention!r}")
    return 1.0 + w if convention == "ho_salimans" else float(w)


def classifier_free_guidance(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """eps(x) + scale * (eps(x, c) - eps(x)) -- the Imagen / diffusers convention (scale 1 = conditional only)."""
    if cond.shape != uncond.shape:
        raise ValueError(f"uncond: expected the shape of cond {tuple(cond.shape)}, got {tuple(uncond.shape)}")
    return uncond + scale * (cond - uncond)


def guided_model(model: Callable, cond: dict, null: dict, scale: float) -> Callable:
    """A ``model(x, t)`` for :func:`t2ilib.diffusion.sample` that applies classifier-free guidance.

    ``cond`` and ``null`` are the keyword arguments of ``model`` for the conditional and the unconditional call
    (e.g. ``{"y": labels}`` and ``{"y": null_labels}``). Both predictions come from one batched forward pass; with
    scale = 1 only the conditional call is made.
    """
    def guided(x, t):
        if scale == 1.0:
            return model(x, t, **cond)
        both = {k: torch.cat([cond[k], null[k]]) for k in cond}
        out = model(torch.cat([x, x]), torch.cat([t, t]), **both)
        c, u = out.chunk(2)
        return classifier_free_guidance(c, u, scale)
    return guided


def drop_condition(condition, p_uncond: float, null, generator: torch.Generator):
    """Condition dropout: each condition becomes ``null`` with probability ``p_uncond``, so one network learns both
    eps(x, c) and eps(x) (Ho & Salimans 2022, Algorithm 1; p_uncond = 0.1-0.2 there).

    ``condition`` is a 1-d tensor of class labels (``null``: the extra "no label" class) or a list of captions
    (``null``: the empty caption ""). The coin flips come from ``generator`` on the CPU, one per condition."""
    if not 0.0 <= p_uncond < 1.0:
        raise ValueError(f"p_uncond: expected a probability in [0, 1), got {p_uncond!r}")
    drop = torch.rand(len(condition), generator=generator) < p_uncond
    if torch.is_tensor(condition):
        if condition.ndim != 1:
            raise ValueError(f"condition: expected a 1-d tensor of labels, got shape {tuple(condition.shape)}")
        return torch.where(drop.to(condition.device), torch.full_like(condition, null), condition)
    if isinstance(condition, str):
        raise ValueError("condition: expected a list of captions, got a single string")
    return [null if d else c for c, d in zip(condition, drop.tolist())]


def static_threshold(x0: torch.Tensor) -> torch.Tensor:
    """Clip x0_hat to the data range [-1, 1]."""
    return x0.clamp(-1, 1)


def dynamic_threshold(x0: torch.Tensor, percentile: float = 0.995) -> torch.Tensor:
    """Imagen's dynamic thresholding (Saharia et al. 2022, Sec. 2.3): per sample, s = max(1, quantile(|x0|, p));
    return clip(x0, -s, s) / s."""
    if not 0.0 < percentile <= 1.0:
        raise ValueError(f"percentile: expected a float in (0, 1], got {percentile!r}")
    flat = x0.reshape(len(x0), -1).abs()
    flat = flat if flat.dtype in (torch.float32, torch.float64) else flat.float()  # quantile needs float32/64
    s = torch.quantile(flat, percentile, dim=1).clamp_min(1.0).to(x0.dtype)
    s = s.reshape(-1, *([1] * (x0.ndim - 1)))
    return torch.maximum(torch.minimum(x0, s), -s) / s
