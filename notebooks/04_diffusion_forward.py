# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 4 — Diffusion, forward: destroying an image on purpose
#
# A diffusion model (Sohl-Dickstein et al. 2015; Ho, Jain & Abbeel 2020, "DDPM") learns to generate by learning
# to *undo* a fixed, boring process: add a little Gaussian noise, T = 1000 times, until nothing of the image is
# left. This chapter is about that **forward process** — there is nothing to learn in it, but everything the
# learned reverse process (next chapter) does is defined by it:
#
# 1. the one-step process and its **closed form** q(x_t | x_0), checked against iterating the steps;
# 2. **noise schedules** (linear, cosine) compared through ᾱ_t and the signal-to-noise ratio;
# 3. the **posterior** q(x_{t−1} | x_t, x_0) — the target every reverse step imitates — derived and checked;
# 4. what the network should predict: the noise ε, the clean image x_0, or the velocity v, and how to convert.
#
# Every formula is implemented in `t2ilib.diffusion` (docstrings cite the paper and equation) and tested against
# the `diffusers` library's schedulers in `tests/test_diffusion.py`.
#
# **Indexing.** Papers number steps 1..T; code (here and in `diffusers`) numbers them 0..T−1: code timestep
# `t` is paper step t+1, and `alphas_cumprod[t]` is ᾱ after that step. The clean image sits "before step 0"
# (ᾱ = 1; `schedule.alpha_bar(-1)`).
#
# **You will:** derive q(x_t | x_0) in closed form and check it against simulated chains, compare noise schedules by
# log SNR, derive the posterior q(x_{t−1} | x_t, x_0), and relate ε-, x_0- and v-prediction; write ᾱ, q_sample and
# the posterior yourself (Exercises 4.1-4.3, question 4.q1). **Prerequisites:** Gaussians (sums, conditioning); 2
# helps (latent-variable models).

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from t2ilib import get_device, seed_everything
from t2ilib.data import load_dataset
from t2ilib.diffusion import (NoiseSchedule, cosine_alpha_bar, eps_from_v, eps_from_x0, posterior_mean_variance,
                              q_sample, q_step, velocity, x0_and_eps, x0_from_eps, x0_from_v)
from t2ilib.grading import check
from t2ilib.viz import show_grid

device = get_device()
seed_everything(0)
print("device:", device)
digits, labels = load_dataset("mnist", "test").tensors("cpu")
print("images:", tuple(digits.shape), "in", (digits.min().item(), digits.max().item()))

# %% [markdown]
# ## 1. One step, and all steps at once
#
# One forward step shrinks the image a little and adds a little noise (Ho et al. 2020, Eq. 2):
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\big(\sqrt{1-\beta_t}\,x_{t-1},\ \beta_t I\big).$$
#
# Shrinking by √(1−β_t) keeps the total variance at 1 for unit-variance data. Because a sum of Gaussians is
# Gaussian, t steps compose into one (Eq. 4), with α_t = 1 − β_t and ᾱ_t = ∏_{s≤t} α_s:
#
# $$q(x_t \mid x_0) = \mathcal N\big(\sqrt{\bar\alpha_t}\,x_0,\ (1-\bar\alpha_t) I\big), \qquad
#   x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\varepsilon,\ \ \varepsilon \sim \mathcal N(0, I).$$
#
# *Why:* if x_{t−1} = √ᾱ_{t−1} x_0 + √(1−ᾱ_{t−1}) ε₁, one more step gives mean √(α_t ᾱ_{t−1}) x_0 = √ᾱ_t x_0 and
# noise variance α_t(1−ᾱ_{t−1}) + β_t = 1 − ᾱ_t. Training never has to simulate the chain: it jumps to any t
# in one shot (`q_sample`).

# %% [markdown]
# **Exercises 4.1 and 4.2 — write it yourself.** Each exercise is a function with plain tensors in and out; the cell
# after it checks your code against the library's on random inputs and says what is wrong. (The rest of the notebook
# uses the library's `q_sample`, so it runs whether or not you have done them.)

# %% tags=["exercise-4.1"]
def my_alpha_bar_from_betas(betas):
    """Exercise 4.1: abar_t = prod_{s <= t} (1 - beta_s) for every t = 0..T-1 (code index 0 is the first step).

    betas: (T,). Returns (T,). Hint: torch.cumprod.
    """
    ### BEGIN SOLUTION
    return torch.cumprod(1 - betas, dim=0)
    ### END SOLUTION


# %% tags=["exercise-4.2"]
def my_q_sample(x0, noise, abar_t):
    """Exercise 4.2: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et al. 2020, Eq. 4).

    x0, noise: (N, C, H, W); abar_t: (N,), one value per image. Hint: reshape abar_t to (N, 1, 1, 1).
    """
    ### BEGIN SOLUTION
    a = abar_t.view(-1, 1, 1, 1)
    return a.sqrt() * x0 + (1 - a).sqrt() * noise
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("4.1", my_alpha_bar_from_betas)
check("4.2", my_q_sample)

# %% [markdown]
# Now check the closed form by statistics — run the 1000-step chain 10 000 times on one digit (every 4th pixel, to
# keep it quick) and compare each pixel's mean and variance at several t with the closed form:

# %%
schedule = NoiseSchedule.linear(1000)
x0 = digits[0].flatten()[::4]
n_chains = 10_000
g = torch.Generator().manual_seed(0)
x = x0.expand(n_chains, *x0.shape).clone()
checkpoints = {99: None, 499: None, 999: None}
for t in range(1000):
    x = q_step(schedule, x, t, torch.randn(x.shape, generator=g))
    if t in checkpoints:
        checkpoints[t] = (x.mean(0), x.var(0))

print(f"{'t':>4} {'abar_t':>9} {'max |mean - sqrt(abar) x0|':>28} {'max |var - (1 - abar)|':>24} {'(in standard errors)':>22}")
worst = 0.0
for t, (mean, var) in checkpoints.items():
    abar = schedule.alpha_bar(t).item()
    se_mean = math.sqrt((1 - abar) / n_chains)
    se_var = (1 - abar) * math.sqrt(2 / (n_chains - 1))
    dm = (mean - math.sqrt(abar) * x0).abs().max().item()
    dv = (var - (1 - abar)).abs().max().item()
    worst = max(worst, dm / se_mean, dv / se_var)
    print(f"{t:4d} {abar:9.5f} {dm:28.4f} {dv:24.4f} {dm / se_mean:10.1f} / {dv / se_var:.1f}")
# 196 pixels x 3 timesteps x 2 statistics: the largest of ~1200 standard-normal deviations is ~4
assert worst < 5.5, worst
print(f"largest deviation over all pixels and timesteps: {worst:.2f} standard errors -- the closed form holds")


# %% [markdown]
# ## 2. Noise schedules: linear vs cosine
#
# * **linear** (Ho et al. 2020, Sec. 4): β rises linearly from 10⁻⁴ to 0.02 over T = 1000 steps.
# * **cosine** (Nichol & Dhariwal 2021, Eq. 17): choose ᾱ directly, ᾱ_t = f(t)/f(0) with
#   f(t) = cos²(((t/T + s)/(1 + s)) · π/2), s = 0.008; then β_t = 1 − ᾱ_t/ᾱ_{t−1}, clipped at 0.999 so the last
#   step stays finite.
#
# The quantity that matters is the **signal-to-noise ratio** SNR(t) = ᾱ_t / (1 − ᾱ_t) (Kingma et al. 2021): the
# power of the surviving image over the power of the noise.

# %%
# NBVAL_CHECK_OUTPUT
schedules = {"linear": NoiseSchedule.linear(1000), "cosine": NoiseSchedule.cosine(1000)}
cos = schedules["cosine"]
t = torch.arange(1000)
eq17 = cosine_alpha_bar((t + 1).double() / 1000)
assert torch.allclose(cos.alphas_cumprod[:900], eq17[:900], rtol=1e-12)  # the clip only acts at the very end
print("cosine: alphabar_t = f(t)/f(0) (Eq. 17) up to t = 899: max diff",
      f"{(cos.alphas_cumprod[:900] - eq17[:900]).abs().max().item():.0e}; betas clipped at {cos.betas.max().item():.3f}")
for name, s in schedules.items():
    snr = s.snr(t)
    half = int((s.alphas_cumprod < 0.5).nonzero()[0])
    print(f"{name:6s}: alphabar at t=0 {s.alpha_bar(0).item():.6f}, at t=999 {s.alpha_bar(999).item():.2e};"
          f" SNR falls from {snr[0].item():.0f} to {snr[-1].item():.1e}; half the signal power is gone at t = {half}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 3.6))
for name, s in schedules.items():
    axes[0].plot(s.betas, label=name)
    axes[1].plot(s.alphas_cumprod, label=name)
    axes[2].plot(torch.log(s.snr(t)), label=name)
axes[0].set(title=r"$\beta_t$", xlabel="t", yscale="log")
axes[1].set(title=r"$\bar\alpha_t$ (signal kept)", xlabel="t")
axes[2].set(title=r"log SNR$(t) = \log \bar\alpha_t / (1 - \bar\alpha_t)$", xlabel="t")
for a in axes:
    a.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the middle plot: under the linear schedule ᾱ is below 0.05 from t = 542 on (cosine: from t = 855) — the
# last ~45 % of the linear steps turn almost-noise into slightly-more-noise. The cosine schedule
# spends its steps more evenly (log SNR falls almost linearly in the middle), which is why Nichol & Dhariwal
# found it better for small images like ours. Seen on real digits:

# %%
ts = [0, 50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 999]
noise = torch.randn((1, 1, 28, 28), generator=torch.Generator().manual_seed(1))
fig, axes = plt.subplots(2, 1, figsize=(14, 3.2))
for ax, (name, s) in zip(axes, schedules.items()):
    row = torch.cat([q_sample(s, digits[:1], tt, noise) for tt in ts])
    show_grid(row.clamp(-1, 1), nrow=len(ts), ax=ax, title=f"{name}: t = " + ", ".join(map(str, ts)))
plt.tight_layout()
plt.show()

# %% [markdown]
# **Question 4.q1.** At a timestep where ᾱ_t = 0.2, what is the signal-to-noise ratio? (A number.)

# %% tags=["exercise-4.q1"]
answer_4_q1 = 0.25  ### SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
check("4.q1", answer_4_q1)

# %% [markdown]
# Scrub t yourself (the same noise ε for every t, so you watch one image dissolve):

# %%
import ipywidgets as widgets

grid_x0 = digits[:8]
grid_eps = torch.randn(grid_x0.shape, generator=torch.Generator().manual_seed(2))


def show_noised(t=250, schedule_name="cosine"):
    s = schedules[schedule_name]
    xt = q_sample(s, grid_x0, t, grid_eps)
    show_grid(xt.clamp(-1, 1), nrow=8, scale=1.2,
              title=f"{schedule_name}, t = {t}: alphabar = {s.alpha_bar(t).item():.3f}, SNR = {s.snr(t).item():.3g}")
    plt.show()


widgets.interact(show_noised, t=widgets.IntSlider(value=250, min=0, max=999, step=1),
                 schedule_name=widgets.ToggleButtons(options=["cosine", "linear"]));

# %% [markdown]
# ## 3. The posterior q(x_{t−1} | x_t, x_0)
#
# The reverse process will have to go from x_t to x_{t−1}. Given x_0 that step is a Gaussian we can write down
# exactly (Ho et al. 2020, Eq. 6–7):
#
# $$q(x_{t-1} \mid x_t, x_0) = \mathcal N(\tilde\mu_t, \tilde\beta_t I), \quad
#   \tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1-\bar\alpha_t}\,x_0
#              + \frac{\sqrt{\alpha_t}\,(1-\bar\alpha_{t-1})}{1-\bar\alpha_t}\,x_t, \quad
#   \tilde\beta_t = \frac{1-\bar\alpha_{t-1}}{1-\bar\alpha_t}\,\beta_t .$$
#
# *Derivation.* Given x_0, the pair (x_{t−1}, x_t) is jointly Gaussian: x_{t−1} has mean √ᾱ_{t−1} x_0 and variance
# 1 − ᾱ_{t−1}; x_t = √α_t x_{t−1} + √β_t ε, so Cov(x_{t−1}, x_t) = √α_t (1 − ᾱ_{t−1}) and Var(x_t) = 1 − ᾱ_t.
# Conditioning a Gaussian: mean = √ᾱ_{t−1} x_0 + Cov/Var · (x_t − √ᾱ_t x_0), variance = (1 − ᾱ_{t−1}) − Cov²/Var.
# Expanding gives μ̃_t and β̃_t above. The same holds for any earlier step s < t with α_t → ᾱ_t/ᾱ_s — what samplers
# that skip steps need (`posterior_mean_variance(schedule, x0, x_t, t, s)`).
#
# Check it twice: against the conditioning formula, and by simulation — draw many (x_{t−1}, x_t) pairs for a fixed
# x_0, keep those whose x_t lands in a narrow window, and compare the mean and variance of their x_{t−1}.

# %%
s = schedules["cosine"]
x0_scalar = torch.tensor([0.6])
g = torch.Generator().manual_seed(3)
print(f"{'t':>4} {'x_t':>6} {'mu~ (Eq. 7)':>12} {'simulated':>10} {'beta~ (Eq. 7)':>14} {'simulated':>10} {'kept':>7}")
for t_, xt_value in [(50, 0.7), (300, 0.2), (700, -0.5)]:
    n = 4_000_000
    x_prev = q_sample(s, x0_scalar.expand(n), t_ - 1, torch.randn(n, generator=g))
    x_t = q_step(s, x_prev, t_, torch.randn(n, generator=g))
    keep = (x_t - xt_value).abs() < 0.005
    mean, var = posterior_mean_variance(s, x0_scalar, torch.tensor([xt_value]), t_)
    a_t, a_p = s.alpha_bar(t_).item(), s.alpha_bar(t_ - 1).item()
    cov = math.sqrt(a_t / a_p) * (1 - a_p)  # conditioning formula, written out independently
    assert abs(mean.item() - (math.sqrt(a_p) * 0.6 + cov / (1 - a_t) * (xt_value - math.sqrt(a_t) * 0.6))) < 1e-6
    assert abs(var.item() - ((1 - a_p) - cov ** 2 / (1 - a_t))) < 1e-9
    sim_mean, sim_var, k = x_prev[keep].mean().item(), x_prev[keep].var().item(), int(keep.sum())
    assert abs(sim_mean - mean.item()) < 5 * math.sqrt(var.item() / k) + 1e-3, (sim_mean, mean.item())
    assert abs(sim_var / var.item() - 1) < 0.1, (sim_var, var.item())
    print(f"{t_:4d} {xt_value:6.2f} {mean.item():12.5f} {sim_mean:10.5f} {var.item():14.3e} {sim_var:10.3e} {k:7d}")

# %% [markdown]
# **Exercise 4.3 — the posterior.** Write μ̃_t and β̃_t from the betas. Mind the timestep convention: code index t
# runs 0..T−1, and ᾱ_{t−1} at t = 0 is ᾱ_{−1} = 1 (nothing has been noised yet).

# %% tags=["exercise-4.3"]
def my_posterior_mean_variance(betas, x0, x_t, t):
    """Exercise 4.3: mean and variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, Eq. 6-7).

    mu~_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0 + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t
    beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t
    betas: (T,); x0, x_t: (N, C, H, W); t: (N,) integer timesteps in 0..T-1.
    Returns (mean (N, C, H, W), variance (N,)). Hint: build abar_prev = [1, abar_0, ..., abar_{T-2}] first.
    """
    ### BEGIN SOLUTION
    abar = torch.cumprod(1 - betas, dim=0)
    abar_prev = torch.cat([torch.ones(1, dtype=abar.dtype), abar[:-1]])
    a_t, a_prev, beta = abar[t], abar_prev[t], betas[t]
    coef_x0 = (a_prev.sqrt() * beta / (1 - a_t)).view(-1, 1, 1, 1)
    coef_xt = ((1 - beta).sqrt() * (1 - a_prev) / (1 - a_t)).view(-1, 1, 1, 1)
    return coef_x0 * x0 + coef_xt * x_t, (1 - a_prev) / (1 - a_t) * beta
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("4.3", my_posterior_mean_variance)

# %% [markdown]
# Note how small β̃_t is compared to the variance of x_{t−1} itself: once we know both x_0 and x_t, x_{t−1} is
# almost determined. The reverse process does not know x_0 — it has to *predict* it from x_t. That prediction is
# the neural network.
#
# ## 4. What should the network predict? ε, x_0 or v
#
# From x_t = a·x_0 + b·ε with a = √ᾱ_t, b = √(1−ᾱ_t), a² + b² = 1, a network output can mean three things:
#
# | predict | recover x_0 | recover ε |
# |---|---|---|
# | ε (Ho et al. 2020, Eq. 11) | x_0 = (x_t − b ε)/a | ε |
# | x_0 | x_0 | ε = (x_t − a x_0)/b |
# | v = a ε − b x_0 (Salimans & Ho 2022, Sec. 4) | x_0 = a x_t − b v | ε = b x_t + a v |
#
# They carry the same information; they differ in how an *error* in the output propagates. Round trips first:

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(4)
x0b = digits[:16].double()
epsb = torch.randn(x0b.shape, generator=g, dtype=torch.float64)
tb = torch.randint(0, 1000, (16,), generator=g)
xtb = q_sample(s, x0b, tb, epsb)
vb = velocity(s, x0b, tb, epsb)
checks = {
    "x0 from eps": (x0_from_eps(s, xtb, tb, epsb), x0b),
    "eps from x0": (eps_from_x0(s, xtb, tb, x0b), epsb),
    "x0 from v": (x0_from_v(s, xtb, tb, vb), x0b),
    "eps from v": (eps_from_v(s, xtb, tb, vb), epsb),
}
for name, (got, want) in checks.items():
    err = (got - want).abs().max().item()
    assert err < 1e-8, (name, err)
    print(f"{name:12s} max error {'< 1e-8' if err < 1e-8 else err}")
for pred, out in [("epsilon", epsb), ("sample", x0b), ("v_prediction", vb)]:
    a, b = x0_and_eps(s, xtb, tb, out, pred)
    assert torch.allclose(a, x0b, atol=1e-8) and torch.allclose(b, epsb, atol=1e-8)
print("x0_and_eps recovers (x0, eps) from each of the three outputs")

# %% [markdown]
# Now the error story. If the network's output is off by δ (unit size), how large is the error in the x_0 it
# implies? From the table: predicting ε, x_0 is off by (b/a)·δ = δ/√SNR — enormous at high noise; predicting x_0,
# the implied ε is off by (a/b)·δ = √SNR·δ — enormous at low noise; predicting v, x_0 is off by b·δ and ε by a·δ,
# both at most δ. That is why v-prediction behaves well at both ends (and why it is the choice for distillation and
# for schedules that reach zero SNR); ε-prediction, the DDPM default we use, is fine in between.

# %%
fig, ax = plt.subplots(figsize=(7, 3.6))
ab = schedules["cosine"].alphas_cumprod
a_, b_ = ab.sqrt(), (1 - ab).sqrt()
ax.plot(b_ / a_, label=r"x$_0$ error, predicting $\varepsilon$: $b/a$")
ax.plot(a_ / b_, label=r"$\varepsilon$ error, predicting x$_0$: $a/b$")
ax.plot(b_, "--", label=r"x$_0$ error, predicting v: $b$")
ax.plot(a_, "--", label=r"$\varepsilon$ error, predicting v: $a$")
ax.set(yscale="log", xlabel="t (cosine schedule)", ylabel="error amplification", ylim=(1e-2, 1e3))
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. The training objective, in one line
#
# Everything is in place for the next chapter. Training a denoiser is (Ho et al. 2020, Algorithm 1):
# pick an image x_0, a step t uniformly, noise ε; form x_t with `q_sample`; regress the network's output on ε
# (or x_0, or v) with a squared error. `t2ilib.diffusion.diffusion_loss` is exactly that. Here is one batch of
# what the network sees during training — every image at its own random t:

# %%
g = torch.Generator().manual_seed(5)
tb = torch.randint(0, 1000, (16,), generator=g)
xtb = q_sample(schedules["cosine"], digits[16:32], tb, torch.randn((16, 1, 28, 28), generator=g))
show_grid(xtb.clamp(-1, 1), nrow=16, scale=1.0, title="training inputs x_t, t = " + ", ".join(map(str, tb.tolist())))
plt.show()

# %% [markdown]
# ## Summary
#
# * q(x_t | x_0) = N(√ᾱ_t x_0, (1−ᾱ_t) I) in closed form — checked against 10 000 simulated chains.
# * Schedules are best compared by log SNR: cosine spreads the destruction evenly; linear wastes its last steps.
# * The posterior q(x_{t−1} | x_t, x_0) is Gaussian with μ̃_t, β̃_t of Eq. 7 — checked by conditioning and simulation.
# * ε-, x_0- and v-prediction are interchangeable in exact arithmetic; they differ in how errors are amplified.
#
# **Exercises.** (1) Using `q_sample` alone, estimate ᾱ_t from noised images (hint: regress x_t on x_0). (2) Plot
# log SNR for `NoiseSchedule.linear(1000, beta_end=0.01)`: where does it lose its signal? (3) Show that 1 − ᾱ_T is
# not exactly 1 for either schedule, and compute how much of x_0 survives at t = 999 — Lin et al. (2024) argue this
# "non-zero terminal SNR" matters for very bright or dark images.
#
# **Check yourself.** (1) Why can training jump to any t without running the chain? (2) What is ᾱ_{t−1} at t = 0 in
# code, and why? (3) Which prediction target amplifies a network error most at high noise?
