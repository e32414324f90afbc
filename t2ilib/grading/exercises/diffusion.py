"""Exercises of chapters 4 (forward process), 5 (reverse process), 6b (guidance), 6c (text) and 6d (thresholding).

Timesteps follow the course's code convention: t = 0..T-1, and abar_{-1} = 1 (the clean image).
"""

from __future__ import annotations

import torch

from t2ilib.diffusion.forward import posterior_mean_variance, q_sample
from t2ilib.diffusion.guidance import classifier_free_guidance, dynamic_threshold
from t2ilib.diffusion.parameterization import velocity, x0_from_eps, x0_from_v
from t2ilib.diffusion.samplers import ddim_step, ddpm_step
from t2ilib.diffusion.schedules import NoiseSchedule
from t2ilib.grading.core import Mistake, call, exercise, expect, seeded
from t2ilib.nn.attention import masked_attention



def _batch(seed: int, schedule: NoiseSchedule, t: list[int]):
    g = seeded(seed)
    x0 = torch.randn(len(t), 3, 4, 4, generator=g).clamp(-1, 1)
    noise = torch.randn(len(t), 3, 4, 4, generator=g)
    return x0, noise, torch.tensor(t)


def _col(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


SCHEDULE = NoiseSchedule.linear(1000)


# ------------------------------------------------------------------------------------------------- chapter 4
@exercise("4.1", "my_alpha_bar_from_betas", "abar_t = prod_{s <= t} (1 - beta_s)")
def _alpha_bar(fn):
    betas = SCHEDULE.betas
    want = SCHEDULE.alphas_cumprod
    alphas = 1 - betas
    expect(call(fn, betas), want, "abar for the linear schedule", {
        "abar is a PRODUCT of alphas = 1 - beta, not 1 - the sum of betas (that is only its first-order "
        "approximation)": 1 - betas.cumsum(0),
        "the product runs over alpha_s = 1 - beta_s, not over beta_s": betas.cumprod(0),
        "abar_t = prod (1 - beta_s); 1 - prod beta_s is something else": 1 - betas.cumprod(0),
        "off by one: abar_0 = 1 - beta_0 already includes the first step": torch.cat([torch.ones(1), alphas.cumprod(0)[:-1]]),
    })
    return ["1000-step linear schedule"]


@exercise("4.2", "my_q_sample", "x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps")
def _q_sample(fn):
    x0, noise, t = _batch(10, SCHEDULE, [0, 10, 250, 500, 999])
    ab = SCHEDULE.alpha_bar(t)
    a = _col(ab)
    want = q_sample(SCHEDULE, x0, t, noise)
    expect(call(fn, x0, noise, ab), want, "x_t for t = 0, 10, 250, 500, 999", {
        "missing square roots: the coefficients are sqrt(abar_t) and sqrt(1 - abar_t) (standard deviations, "
        "not variances)": a * x0 + (1 - a) * noise,
        "the noise is scaled by its standard deviation sqrt(1 - abar_t), not by the variance 1 - abar_t":
            a.sqrt() * x0 + (1 - a) * noise,
        "x_0 and the noise are swapped: x_0 keeps sqrt(abar_t), the noise gets sqrt(1 - abar_t)":
            (1 - a).sqrt() * x0 + a.sqrt() * noise,
    })
    return ["5 timesteps from 0 to 999 (one per sample)"]


@exercise("4.3", "my_posterior_mean_variance", "the posterior q(x_{t-1} | x_t, x_0): mean and variance")
def _posterior(fn):
    betas = SCHEDULE.betas
    x0, noise, t = _batch(11, SCHEDULE, [0, 1, 300, 700, 999])
    x_t = q_sample(SCHEDULE, x0, t, noise)
    mean, var = posterior_mean_variance(SCHEDULE, x0, x_t, t)
    out = call(fn, betas, x0, x_t, t)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise Mistake("return (mean, variance)")
    got_mean, got_var = out
    ab = SCHEDULE.alphas_cumprod
    a_t, alpha, beta = ab[t], 1 - betas[t], betas[t]

    def wrong(a_prev):
        m = _col(a_prev.sqrt() * beta / (1 - a_t)) * x0 + _col(alpha.sqrt() * (1 - a_prev) / (1 - a_t)) * x_t
        return m, (1 - a_prev) / (1 - a_t) * beta

    wraps, same, shifted = wrong(ab[t - 1]), wrong(a_t), wrong(ab[(t + 1).clamp(max=999)])
    flat_var = var.flatten()
    if isinstance(got_var, torch.Tensor) and got_var.numel() == len(t):
        got_var = got_var.flatten()
    expect(got_var, flat_var, "variance beta~_t (one per sample)", {
        "at t = 0 the previous abar is abar_{-1} = 1 (the clean image); alpha_bar[t - 1] wraps around to the LAST "
        "entry in Python": wraps[1],
        "abar_t where abar_{t-1} belongs: beta~_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t": same[1],
        "off by one: abar_{t-1} is the entry before t, not after": shifted[1],
        "this is beta_t itself (the 'large' choice in DDPM's sampler); the posterior's variance is "
        "beta~_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t": beta,
    })
    expect(got_mean, mean, "mean mu~_t", {
        "at t = 0 the previous abar is abar_{-1} = 1 (the clean image); alpha_bar[t - 1] wraps around to the LAST "
        "entry in Python": wraps[0],
        "abar_t where abar_{t-1} belongs in the mean's coefficients": same[0],
        "off by one: abar_{t-1} is the entry before t, not after": shifted[0],
        "missing square roots: the coefficients are sqrt(abar_{t-1}) beta_t / (1 - abar_t) and "
        "sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t)":
            _col(torch.cat([torch.ones(1), ab])[t] * beta / (1 - a_t)) * x0
            + _col(alpha * (1 - torch.cat([torch.ones(1), ab])[t]) / (1 - a_t)) * x_t,
    })
    return ["mean and variance at t = 0, 1, 300, 700, 999"]


# ------------------------------------------------------------------------------------------------- chapter 5
@exercise("5.1", "my_x0_from_eps", "x_0 from a noise prediction: (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)")
def _x0_from_eps(fn):
    x0, noise, t = _batch(12, SCHEDULE, [5, 100, 500, 900])
    x_t = q_sample(SCHEDULE, x0, t, noise)
    ab = SCHEDULE.alpha_bar(t)
    a = _col(ab)
    want = x0_from_eps(SCHEDULE, x_t, t, noise)
    expect(call(fn, x_t, noise, ab), want, "x_0 estimate", {
        "missing square roots: invert x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps": (x_t - (1 - a) * noise) / a,
        "divide by sqrt(abar_t), do not multiply": (x_t - (1 - a).sqrt() * noise) * a.sqrt(),
        "the noise term is subtracted with sqrt(1 - abar_t), not sqrt(abar_t)": (x_t - a.sqrt() * noise) / a.sqrt(),
    })
    expect(want, x0, "round trip (reference)")
    return ["recovers x_0 exactly from the true noise at t = 5 ... 900"]


@exercise("5.2", "my_ddpm_step", "one DDPM step (Ho et al. 2020, Algorithm 2, sigma_t^2 = beta_t)")
def _ddpm_step(fn):
    x0, noise, t = _batch(13, SCHEDULE, [0, 1, 50, 500, 999])
    z = torch.randn(x0.shape, generator=seeded(14))
    x_t = q_sample(SCHEDULE, x0, t, noise)
    eps_hat = noise + 0.1 * torch.randn(x0.shape, generator=seeded(15))  # an imperfect prediction
    want, _ = ddpm_step(SCHEDULE, eps_hat, x_t, t, variance="large", noise=z)
    betas = SCHEDULE.betas
    alpha, beta, ab = _col(1 - betas[t]), _col(betas[t]), _col(SCHEDULE.alpha_bar(t))
    mean = (x_t - beta / (1 - ab).sqrt() * eps_hat) / alpha.sqrt()
    keep = _col((t > 0).float())
    expect(call(fn, eps_hat, x_t, t, betas, z), want, "x_{t-1}", {
        "no noise is added at the last step (t = 0 in code, t = 1 in the paper): return the mean there":
            mean + beta.sqrt() * z,
        "sigma_t = sqrt(beta_t) is a standard deviation; you scaled the noise by the variance beta_t":
            mean + keep * beta * z,
        "1 / sqrt(alpha_t) uses this step's alpha_t = 1 - beta_t, not abar_t":
            (x_t - beta / (1 - ab).sqrt() * eps_hat) / ab.sqrt() + keep * beta.sqrt() * z,
        "the noise prediction is scaled by beta_t / sqrt(1 - abar_t): the square root is missing":
            (x_t - beta / (1 - ab) * eps_hat) / alpha.sqrt() + keep * beta.sqrt() * z,
        "the noise prediction is SUBTRACTED: x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t) + sigma z":
            (x_t + beta / (1 - ab).sqrt() * eps_hat) / alpha.sqrt() + keep * beta.sqrt() * z,
    })
    return ["t = 0 (no noise), 1, 50, 500, 999; agrees with the posterior-mean form"]


@exercise("5.3", "my_ddim_step", "one deterministic DDIM step t -> s (Song et al. 2021, Eq. 12, eta = 0)")
def _ddim_step(fn):
    x0, noise, t = _batch(16, SCHEDULE, [999, 700, 300, 40])
    s = torch.tensor([959, 500, 100, -1])
    x_t = q_sample(SCHEDULE, x0, t, noise)
    eps_hat = noise + 0.1 * torch.randn(x0.shape, generator=seeded(17))
    want, _ = ddim_step(SCHEDULE, eps_hat, x_t, t, s)
    a_t, a_s = _col(SCHEDULE.alpha_bar(t)), _col(SCHEDULE.alpha_bar(s))
    x0_hat = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
    expect(call(fn, eps_hat, x_t, SCHEDULE.alpha_bar(t), SCHEDULE.alpha_bar(s)), want, "x_s", {
        "you re-noised with abar_t where abar_s belongs (your step does not move)":
            a_t.sqrt() * x0_hat + (1 - a_t).sqrt() * eps_hat,
        "missing square roots: x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps_hat":
            a_s * x0_hat + (1 - a_s) * eps_hat,
        "x0_hat divides by sqrt(abar_t), not abar_t":
            a_s.sqrt() * (x_t - (1 - a_t).sqrt() * eps_hat) / a_t + (1 - a_s).sqrt() * eps_hat,
    })
    return ["steps 999->959, 700->500, 300->100, 40->clean (abar_s = 1 returns x0_hat)"]


@exercise("5.4", "my_x0_from_v", "x_0 from a v-prediction: sqrt(abar_t) x_t - sqrt(1 - abar_t) v")
def _x0_from_v(fn):
    x0, noise, t = _batch(18, SCHEDULE, [5, 100, 500, 900])
    x_t = q_sample(SCHEDULE, x0, t, noise)
    v = velocity(SCHEDULE, x0, t, noise)
    ab = SCHEDULE.alpha_bar(t)
    a = _col(ab)
    want = x0_from_v(SCHEDULE, x_t, t, v)
    expect(call(fn, x_t, v, ab), want, "x_0 estimate", {
        "the coefficients are swapped: x_0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v": (1 - a).sqrt() * x_t - a.sqrt() * v,
        "v = sqrt(abar) eps - sqrt(1 - abar) x_0, so x_0 = sqrt(abar) x_t MINUS sqrt(1 - abar) v":
            a.sqrt() * x_t + (1 - a).sqrt() * v,
    })
    return ["recovers x_0 exactly from the true v at t = 5 ... 900"]


# ------------------------------------------------------------------------------------------------ chapter 6b
@exercise("6b.1", "my_classifier_free_guidance", "classifier-free guidance at scale s (Imagen / diffusers convention)")
def _cfg(fn):
    g = seeded(19)
    cond, uncond = torch.randn(4, 3, 4, 4, generator=g), torch.randn(4, 3, 4, 4, generator=g)
    for s in (3.0, 1.0, 0.0):
        expect(call(fn, cond, uncond, s), classifier_free_guidance(cond, uncond, s), f"guided output at s = {s:g}", {
            "you extrapolate from the conditional prediction; the Imagen convention starts from the unconditional "
            "one: uncond + s (cond - uncond), so s = 1 is the plain conditional model":
                cond + s * (cond - uncond),
            "the difference points from unconditional TO conditional: uncond + s (cond - uncond)":
                uncond + s * (uncond - cond),
        })
    return ["s = 3", "s = 1 gives the conditional prediction", "s = 0 the unconditional one"]


@exercise("6b.2", "my_drop_labels", "condition dropout: replace a label by the null label with probability p")
def _drop(fn):
    g = seeded(20)
    labels, u = torch.randint(0, 10, (1000,), generator=g), torch.rand(1000, generator=g)
    null, p = 10, 0.1
    want = torch.where(u < p, torch.full_like(labels, null), labels)
    got = call(fn, labels, u, p, null)
    if isinstance(got, torch.Tensor) and got.shape == labels.shape:
        if torch.equal(got, torch.where(u > p, torch.full_like(labels, null), labels)):
            raise Mistake(f"you drop where u > p: that drops {int((u > p).sum())} of 1000 labels (a fraction 1 - p), "
                          f"not p = {p}")
        if torch.equal(got, torch.full_like(labels, null)) or torch.equal(got, labels):
            raise Mistake("all labels or none were replaced: compare u with p element by element")
    expect(got, want, "labels after dropout (u < p -> null)")
    if int((got == null).sum()) != int((u < p).sum()):
        raise Mistake("the number of dropped labels is wrong")
    return ["1000 labels, p = 0.1"]


@exercise("6b.3", "my_implied_classifier_gradient", "the classifier implied by guidance: grad_x log p(c | x_t)")
def _implied(fn):
    g = seeded(21)
    eps_c, eps_u = torch.randn(4, 3, 4, 4, generator=g), torch.randn(4, 3, 4, 4, generator=g)
    ab = torch.tensor([0.9, 0.5, 0.1, 0.01])
    sigma = _col((1 - ab).sqrt())
    want = -(eps_c - eps_u) / sigma  # eps = -sigma_t * score, and log p(c | x) = log p(x | c) - log p(x) + const
    expect(call(fn, eps_c, eps_u, ab), want, "grad log p(c | x_t)", {
        "eps = -sqrt(1 - abar_t) * score: divide the difference by sqrt(1 - abar_t), do not multiply":
            -(eps_c - eps_u) * sigma,
        "missing square root: the noise's standard deviation is sqrt(1 - abar_t)": -(eps_c - eps_u) / _col(1 - ab),
    })
    return ["4 noise levels"]


# ---------------------------------------------------------------------------------------------- chapters 6c/6d
@exercise("6c.1", "my_masked_cross_attention", "cross-attention with padded caption tokens masked out")
def _masked_attention(fn):
    g = seeded(22)
    q, k, v = torch.randn(2, 1, 6, 8, generator=g), torch.randn(2, 1, 5, 8, generator=g), torch.randn(2, 1, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    want, weights = masked_attention(q, k, v, mask)
    logits = q @ k.transpose(-2, -1) / 8 ** 0.5
    soft = torch.softmax(logits, -1)
    after = soft * mask[:, None, None, :]
    expect(call(fn, q, k, v, mask), want, "attention output", {
        "the logits are scaled by 1/sqrt(d) before the softmax": torch.softmax(
            (q @ k.transpose(-2, -1)).masked_fill(~mask[:, None, None, :], float("-inf")), -1) @ v,
        "zeroing padded weights AFTER the softmax leaves rows that no longer sum to 1: mask the logits with -inf "
        "before it": after @ v,
        "the mask is inverted: True marks real tokens, padding is False": torch.softmax(
            logits.masked_fill(mask[:, None, None, :], float("-inf")), -1).nan_to_num() @ v,
        "the softmax runs over the keys (the caption's tokens, last dimension), not the queries": torch.softmax(
            logits.masked_fill(~mask[:, None, None, :], float("-inf")), -2).nan_to_num() @ v,
        "the padding is not masked at all": soft @ v,
    })
    return ["a padded and an unpadded caption"]


@exercise("6c.2", "my_v_target", "the v-prediction target v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0")
def _v_target(fn):
    x0, noise, t = _batch(23, SCHEDULE, [5, 100, 500, 900])
    ab = SCHEDULE.alpha_bar(t)
    a = _col(ab)
    expect(call(fn, x0, noise, ab), velocity(SCHEDULE, x0, t, noise), "v", {
        "the coefficients are swapped: v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0": (1 - a).sqrt() * noise - a.sqrt() * x0,
        "missing square roots": a * noise - (1 - a) * x0,
    })
    return ["t = 5 ... 900"]


@exercise("6c.3", "my_x0_error_weights", "how the eps and v losses weigh an error in x_hat_0")
def _weights(fn):
    ab = torch.tensor([0.024, 0.2, 0.5, 0.97])
    out = call(fn, ab)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise Mistake("return two tensors: (weight in the eps loss, weight in the v loss)")
    w_eps, w_v = out
    expect(w_eps, ab / (1 - ab), "eps-loss weight on ||x0_hat - x0||^2", {
        "invert it: x0_hat - x0 = -sqrt(1 - abar)/sqrt(abar) (eps_hat - eps), so ||eps err||^2 = abar / (1 - abar) "
        "||x0 err||^2": (1 - ab) / ab,
        "the weight multiplies SQUARED errors: abar / (1 - abar), not its square root": (ab / (1 - ab)).sqrt(),
    })
    expect(w_v, 1 / (1 - ab), "v-loss weight on ||x0_hat - x0||^2", {
        "x0_hat - x0 = -sqrt(1 - abar) (v_hat - v), so ||v err||^2 = ||x0 err||^2 / (1 - abar)": 1 - ab,
        "the weight multiplies SQUARED errors: 1 / (1 - abar), not its square root": 1 / (1 - ab).sqrt(),
    })
    return ["abar from 0.024 (t = 900, cosine) to 0.97"]


@exercise("6d.1", "my_dynamic_threshold", "Imagen's dynamic thresholding")
def _dynamic(fn):
    g = seeded(24)
    x0 = torch.randn(4, 3, 8, 8, generator=g) * torch.tensor([0.3, 1.0, 3.0, 10.0]).view(-1, 1, 1, 1)
    p = 0.995
    want = dynamic_threshold(x0, p)
    flat = x0.flatten(1).abs()
    s_each = torch.quantile(flat, p, dim=1)
    s_batch = torch.quantile(flat.flatten(), p).clamp_min(1)
    expect(call(fn, x0, p), want, "thresholded x0", {
        "s is a per-SAMPLE percentile; you took one percentile over the whole batch":
            x0.clamp(-s_batch, s_batch) / s_batch,
        "s = max(1, percentile): when the percentile is below 1 nothing is divided (otherwise a dim image would be "
        "brightened)": torch.maximum(torch.minimum(x0, _col(s_each)), -_col(s_each)) / _col(s_each),
        "after clipping to [-s, s], divide by s so the values land in [-1, 1]":
            torch.maximum(torch.minimum(x0, _col(s_each.clamp_min(1))), -_col(s_each.clamp_min(1))),
        "the percentile is of |x0| (absolute values), not of x0": (lambda s: torch.maximum(
            torch.minimum(x0, s), -s) / s)(_col(torch.quantile(x0.flatten(1), p, dim=1).clamp_min(1))),
    })
    return ["4 samples at scales 0.3 to 10 (the first is left alone)"]
