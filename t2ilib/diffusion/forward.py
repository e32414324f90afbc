"""The forward (noising) process and its posterior (Ho et al. 2020, Sec. 2).

One step:            q(x_t | x_{t-1}) = N(sqrt(alpha_t) x_{t-1}, beta_t I)                       (Eq. 2)
In closed form:      q(x_t | x_0)     = N(sqrt(abar_t) x_0, (1 - abar_t) I)                        (Eq. 4)
                     so x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, eps ~ N(0, I).
The posterior:       q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I) with                               (Eq. 6-7)
                     mu~_t    = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
                     beta~_t  = (1 - abar_{t-1}) / (1 - abar_t) beta_t.

:func:`posterior_mean_variance` also takes a coarser previous step s < t (what a sampler that skips steps needs):
replace alpha_t by alpha_{t|s} = abar_t / abar_s and beta_t by 1 - alpha_{t|s} (Kingma et al. 2021, Eq. 3-4).
Timesteps follow the code convention of :mod:`t2ilib.diffusion.schedules` (0..T-1; s = -1 is the clean image).
"""

from __future__ import annotations

import torch

from t2ilib.diffusion.schedules import NoiseSchedule


def expand_like(coef: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-sample (N,) or scalar coefficient, shaped (N, 1, 1, ...) to broadcast over ``x``, in ``x``'s dtype."""
    coef = coef.to(x.device, x.dtype if x.is_floating_point() else torch.float32)
    return coef.reshape(-1, *([1] * (x.ndim - 1))) if coef.ndim else coef


def _timesteps(t, x: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=torch.long)
    if t.ndim > 1 or (t.ndim == 1 and len(t) not in (1, len(x))):
        raise ValueError(f"t: expected an int or one timestep per sample ({len(x)}), got shape {tuple(t.shape)}")
    return t


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps: a draw from q(x_t | x_0) in one shot (Ho et al., Eq. 4)."""
    if noise.shape != x0.shape:
        raise ValueError(f"noise: expected the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
    abar = expand_like(schedule.alpha_bar(_timesteps(t, x0)), x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def q_step(schedule: NoiseSchedule, x_prev: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
    """One forward step x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) eps (Ho et al., Eq. 2)."""
    t = _timesteps(t, x_prev).to(schedule.betas.device)
    beta = expand_like(schedule.betas[t], x_prev)
    return (1 - beta).sqrt() * x_prev + beta.sqrt() * noise


def posterior_mean_variance(schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t, s=None):
    """Mean and variance of q(x_s | x_t, x_0) for s < t (default s = t - 1; s = -1 means the clean image).

    Returns ``(mean, variance)``; ``variance`` is per sample, shaped to broadcast over ``x_t``. At s = -1 the
    posterior is a point mass on x_0 (variance 0).
    """
    t = _timesteps(t, x_t)
    s = t - 1 if s is None else _timesteps(s, x_t)
    if bool((s >= t).any()):
        raise ValueError("s: expected the previous timestep to be smaller than t")
    a_t, a_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
    alpha_ts = a_t / a_s
    beta_ts = 1 - alpha_ts
    coef_x0 = expand_like(a_s.sqrt() * beta_ts / (1 - a_t), x_t)
    coef_xt = expand_like(alpha_ts.sqrt() * (1 - a_s) / (1 - a_t), x_t)
    variance = expand_like((1 - a_s) / (1 - a_t) * beta_ts, x_t)
    return coef_x0 * x0 + coef_xt * x_t, variance
