"""Exponential moving average (EMA) of model weights.

theta_ema <- d * theta_ema + (1 - d) * theta, with the decay ramped up as d_k = min(d, (1 + k) / (10 + k)) so
the average is not dominated by the random initial weights early on. Sampling from the EMA weights is what
makes small diffusion models look good (Ho et al. 2020, Appendix B; Song & Ermon 2020, Sec. 3.5).
"""

from __future__ import annotations

import copy

import torch


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay: expected a float in (0, 1), got {decay!r}")
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.updates = 0

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = self.current_decay()
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)
        self.updates += 1
