"""Noise schedules: how much signal survives after t forward steps.

The forward process adds Gaussian noise in T small steps with variances beta_1..beta_T (Ho et al. 2020,
"Denoising Diffusion Probabilistic Models", Eq. 2). Everything else follows from the betas:

    alpha_t = 1 - beta_t,       alphabar_t = prod_{s <= t} alpha_s,      SNR(t) = alphabar_t / (1 - alphabar_t).

* linear (Ho et al. 2020, Sec. 4): beta rises linearly from 1e-4 to 0.02 over T = 1000 steps.
* cosine (Nichol & Dhariwal 2021, "Improved DDPM", Eq. 17): alphabar_t = f(t) / f(0) with
  f(t) = cos^2(((t/T + s) / (1 + s)) * pi/2), s = 0.008; the betas 1 - alphabar_t / alphabar_{t-1} are clipped at
  0.999 so that the last step is not singular.

**Indexing convention** (the same as ``diffusers``): code timestep ``t`` runs from 0 to T-1 and means paper step t+1.
``alphas_cumprod[t]`` is alphabar of paper step t+1; "before step 0" is the clean image, alphabar = 1 (see
:meth:`NoiseSchedule.alpha_bar`, which maps t = -1 to 1).
"""

from __future__ import annotations

import math

import numpy as np
import torch

SCHEDULES = ("linear", "cosine")
SPACINGS = ("leading", "trailing", "linspace")


def linear_betas(num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """beta_t rising linearly from ``beta_start`` to ``beta_end`` (Ho et al. 2020, Sec. 4), float64."""
    return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)


def cosine_alpha_bar(u: torch.Tensor | float, s: float = 0.008) -> torch.Tensor:
    """f(u) / f(0) with f(u) = cos^2(((u + s) / (1 + s)) pi / 2), u = t / T in [0, 1] (Nichol & Dhariwal, Eq. 17)."""
    u = torch.as_tensor(u, dtype=torch.float64)
    f = lambda v: torch.cos((v + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    return f(u) / f(torch.zeros((), dtype=torch.float64))


def cosine_betas(num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """beta_t = min(1 - alphabar(t) / alphabar(t - 1), max_beta) for the cosine alphabar (Nichol & Dhariwal, Sec. 3.2)."""
    u = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    abar = cosine_alpha_bar(u, s)
    return (1 - abar[1:] / abar[:-1]).clamp(max=max_beta)


def _check_int(name: str, value, low: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")


class NoiseSchedule:
    """The betas and everything derived from them, in float64, on one device.

    ``NoiseSchedule.linear(1000)``, ``NoiseSchedule.cosine(1000)`` or ``NoiseSchedule.from_name("cosine")``.
    Index the tensors with integer timesteps (a Python int or a LongTensor) in 0..T-1.
    """

    def __init__(self, betas: torch.Tensor, name: str = "custom"):
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) < 1 or not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError(f"betas: expected a 1-d tensor of values in (0, 1), got shape {tuple(betas.shape)}")
        self.name = name
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)

    @classmethod
    def linear(cls, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> "NoiseSchedule":
        _check_int("num_steps", num_steps, 1)
        return cls(linear_betas(num_steps, beta_start, beta_end), "linear")

    @classmethod
    def cosine(cls, num_steps: int = 1000, s: float = 0.008, max_beta: float = 0.999) -> "NoiseSchedule":
        _check_int("num_steps", num_steps, 1)
        return cls(cosine_betas(num_steps, s, max_beta), "cosine")

    @classmethod
    def from_name(cls, name: str, num_steps: int = 1000) -> "NoiseSchedule":
        if name not in SCHEDULES:
            raise ValueError(f"schedule: expected one of {SCHEDULES}, got {name!r}")
        return getattr(cls, name)(num_steps)

    @property
    def num_steps(self) -> int:
        return len(self.betas)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.name!r}, T={self.num_steps})"

    def to(self, device) -> "NoiseSchedule":
        device = torch.device(device)
        dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
        out = NoiseSchedule.__new__(NoiseSchedule)
        out.name = self.name
        for k in ("betas", "alphas", "alphas_cumprod"):
            setattr(out, k, getattr(self, k).to(device, dtype))
        return out

    def alpha_bar(self, t: torch.Tensor | int) -> torch.Tensor:
        """alphabar at code timestep ``t``; t = -1 (before the first step) gives exactly 1."""
        t = torch.as_tensor(t, device=self.alphas_cumprod.device, dtype=torch.long)
        if bool(((t < -1) | (t >= self.num_steps)).any()):
            raise ValueError(f"t: expected timesteps in -1..{self.num_steps - 1}, got {t.min().item()}..{t.max().item()}")
        padded = torch.cat([self.alphas_cumprod.new_ones(1), self.alphas_cumprod])
        return padded[t + 1]

    def snr(self, t: torch.Tensor | int) -> torch.Tensor:
        """Signal-to-noise ratio alphabar_t / (1 - alphabar_t) (Kingma et al. 2021, "Variational Diffusion Models", Eq. 1)."""
        abar = self.alpha_bar(t)
        return abar / (1 - abar)

    def timesteps(self, num_inference_steps: int, spacing: str = "leading") -> torch.Tensor:
        """The decreasing code timesteps a sampler visits when it uses ``num_inference_steps`` of the T steps.

        Spacings as in ``diffusers`` (Lin et al. 2024, "Common Diffusion Noise Schedules ...", Table 2):
        * ``leading``:  0, k, 2k, ... with k = T // n (never visits the noisiest step T-1 unless n = T);
        * ``trailing``: round(T, T - T/n, ...) - 1, always starting at the noisiest step T-1;
        * ``linspace``: n evenly spaced steps from 0 to T-1, rounded.
        """
        _check_int("num_inference_steps", num_inference_steps, 1)
        T = self.num_steps
        if num_inference_steps > T:
            raise ValueError(f"num_inference_steps: expected at most T={T}, got {num_inference_steps}")
        if spacing == "leading":
            ts = np.arange(num_inference_steps) * (T // num_inference_steps)
        elif spacing == "trailing":
            ts = np.round(np.arange(T, 0, -T / num_inference_steps)).astype(np.int64) - 1
        elif spacing == "linspace":
            ts = np.linspace(0, T - 1, num_inference_steps).round()
        else:
            raise ValueError(f"spacing: expected one of {SPACINGS}, got {spacing!r}")
        ts = np.sort(ts.astype(np.int64))[::-1].copy()
        return torch.from_numpy(ts)
