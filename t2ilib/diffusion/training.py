"""Training a denoiser: the simplified DDPM objective (Ho et al. 2020, Eq. 14 / Algorithm 1).

    L_simple = E_{x_0, t ~ U{0..T-1}, eps ~ N(0, I)} || target - f_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2

with target eps, x_0 or v (see :mod:`t2ilib.diffusion.parameterization`). :func:`noised_batches` draws t and eps as a
pure function of the training step, so a resumed run sees exactly the same noise.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from t2ilib.diffusion.forward import q_sample
from t2ilib.diffusion.parameterization import check_prediction, prediction_target
from t2ilib.diffusion.schedules import NoiseSchedule


def noised_batches(batch_at: Callable[[int], tuple], num_steps: int, seed: int = 0) -> Callable[[int], tuple]:
    """Wrap ``batch_at(step) -> (x_0, *rest)`` into ``(x_0, t, eps, *rest)`` with t and eps seeded by the step."""
    def at(step: int) -> tuple:
        x0, *rest = batch_at(step)
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)
        t = torch.randint(0, num_steps, (len(x0),), generator=g)
        eps = torch.randn(x0.shape, generator=g)
        return (x0, t.to(x0.device), eps.to(x0.device, x0.dtype), *rest)
    return at


def diffusion_loss(schedule: NoiseSchedule, prediction: str = "epsilon") -> Callable:
    """``loss_fn(model, (x_0, t, eps, *cond))`` for the course's Trainer: MSE to the target, per element."""
    check_prediction(prediction)

    def loss_fn(model, batch):
        x0, t, eps, *cond = batch
        x_t = q_sample(schedule, x0, t, eps)
        out = model(x_t, t, *cond)
        return F.mse_loss(out.float(), prediction_target(schedule, x0, t, eps, prediction).float())
    return loss_fn
