"""A trained diffusion model that knows how it was trained: network + noise schedule + prediction target.

A denoiser's weights are useless without the schedule they were trained under (which ᾱ_t each t meant) and what the
network outputs (ε, x_0 or v, :mod:`t2ilib.diffusion.parameterization`); diffusers saves both beside the weights
(the scheduler config, ``prediction_type``). Here they are constructor arguments of the model, so they travel in
its spec (:mod:`t2ilib.model_spec`) and in every checkpoint manifest:

    model = Denoiser(UNet(...), schedule="cosine", num_steps=1000, prediction="epsilon")
    model.schedule              # NoiseSchedule.cosine(1000)
    model.sample((16, 1, 28, 28), steps=25)   # the right schedule and prediction, always

:class:`DiffusionModel` is the shared base; the text-conditioned denoiser (:mod:`t2ilib.text.denoiser`) is one too.
"""

from __future__ import annotations

import torch
from torch import nn

from t2ilib.diffusion.parameterization import check_prediction
from t2ilib.diffusion.samplers import sample
from t2ilib.diffusion.schedules import SCHEDULES, NoiseSchedule
from t2ilib.model_spec import Describable


class DiffusionModel(Describable, nn.Module):
    """Base class: ``schedule`` (a name in ``SCHEDULES``) with ``num_steps`` = T, and ``prediction``."""

    def __init__(self, schedule: str = "cosine", num_steps: int = 1000, prediction: str = "epsilon"):
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {schedule!r}")
        if not (isinstance(num_steps, int) and num_steps >= 1):
            raise ValueError(f"num_steps: expected an int >= 1, got {num_steps!r}")
        self.schedule_name, self.num_steps = schedule, num_steps
        self.prediction = check_prediction(prediction)
        self._schedule: NoiseSchedule | None = None

    @property
    def schedule(self) -> NoiseSchedule:
        """The noise schedule this model was trained with (float64, CPU; ``.to(device)`` it where needed)."""
        if self._schedule is None:
            self._schedule = NoiseSchedule.from_name(self.schedule_name, self.num_steps)
        return self._schedule

    @property
    def diffusion(self) -> dict:
        """How the model was trained, as recorded in its spec: schedule name, T and prediction target."""
        return {"schedule": self.schedule_name, "num_steps": self.num_steps, "prediction": self.prediction}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def sample(self, shape: tuple[int, ...], *, model=None, **kwargs):
        """:func:`t2ilib.diffusion.sample` with this model's schedule and prediction target. ``model`` replaces the
        network call (e.g. a guided wrapper of this model); other keyword arguments go to the sampler."""
        kwargs.setdefault("device", self.device)
        return sample(model or self, self.schedule.to(kwargs["device"]), shape, prediction=self.prediction, **kwargs)


class Denoiser(DiffusionModel):
    """``net(x_t, t, **cond)`` -> the ``prediction`` target, under ``schedule``: e.g. an unconditional UNet."""

    def __init__(self, net: nn.Module, schedule: str = "cosine", num_steps: int = 1000, prediction: str = "epsilon"):
        super().__init__(schedule, num_steps, prediction)
        self.net = net

    def forward(self, x: torch.Tensor, t, **cond) -> torch.Tensor:
        return self.net(x, t, **cond)
