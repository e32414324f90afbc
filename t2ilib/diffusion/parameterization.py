"""What the network predicts: the noise eps, the clean image x_0, or the velocity v -- and how to convert.

With x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps (write a = sqrt(abar), b = sqrt(1 - abar), a^2 + b^2 = 1):

* eps-prediction (Ho et al. 2020, Eq. 11-12):   x_0 = (x_t - b eps) / a
* x0-prediction:                                eps = (x_t - a x_0) / b
* v-prediction (Salimans & Ho 2022, "Progressive Distillation", Sec. 4 and Appendix D):
      v = a eps - b x_0,      x_0 = a x_t - b v,      eps = b x_t + a v.

All three carry the same information at 0 < abar < 1; they differ in what the loss weights and in how the
errors behave at the ends of the schedule (x_0 from eps divides by a ~ 0 at high noise; eps from x_0 divides by
b ~ 0 at low noise; v does neither).
"""

from __future__ import annotations

import torch

from t2ilib.diffusion.forward import _timesteps, expand_like
from t2ilib.diffusion.schedules import NoiseSchedule

PREDICTIONS = ("epsilon", "sample", "v_prediction")  # the diffusers names: eps, x_0 and v


def check_prediction(prediction: str) -> str:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction: expected one of {PREDICTIONS}, got {prediction!r}")
    return prediction


def _ab(schedule: NoiseSchedule, t, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    abar = expand_like(schedule.alpha_bar(_timesteps(t, x)), x)
    return abar.sqrt(), (1 - abar).sqrt()


def x0_from_eps(schedule, x_t, t, eps):
    a, b = _ab(schedule, t, x_t)
    return (x_t - b * eps) / a


def eps_from_x0(schedule, x_t, t, x0):
    a, b = _ab(schedule, t, x_t)
    return (x_t - a * x0) / b


def velocity(schedule, x0, t, eps):
    """The v-prediction target v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho 2022, Eq. in Sec. 4)."""
    a, b = _ab(schedule, t, x0)
    return a * eps - b * x0


def x0_from_v(schedule, x_t, t, v):
    a, b = _ab(schedule, t, x_t)
    return a * x_t - b * v


def eps_from_v(schedule, x_t, t, v):
    a, b = _ab(schedule, t, x_t)
    return b * x_t + a * v


def x0_and_eps(schedule, x_t, t, output, prediction: str = "epsilon") -> tuple[torch.Tensor, torch.Tensor]:
    """Both x_0 and eps implied by a network ``output`` of the given ``prediction`` type."""
    check_prediction(prediction)
    if prediction == "epsilon":
        return x0_from_eps(schedule, x_t, t, output), output
    if prediction == "sample":
        return output, eps_from_x0(schedule, x_t, t, output)
    return x0_from_v(schedule, x_t, t, output), eps_from_v(schedule, x_t, t, output)


def prediction_target(schedule, x0, t, eps, prediction: str = "epsilon") -> torch.Tensor:
    """What a network of this ``prediction`` type is trained to output for (x_0, t, eps)."""
    check_prediction(prediction)
    if prediction == "epsilon":
        return eps
    if prediction == "sample":
        return x0
    return velocity(schedule, x0, t, eps)
