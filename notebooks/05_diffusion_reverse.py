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
# # Chapter 5 — Diffusion, reverse: sampling with DDPM and DDIM
#
# The forward process (chapter 4) turns any image into noise. To generate, run it backwards: start from pure
# noise x_T ~ N(0, I) and take reverse steps x_t → x_{t−1}. Each reverse step imitates the posterior
# q(x_{t−1} | x_t, x_0) — which needs x_0, the very thing we are trying to make. So a network **predicts x_0**
# (through ε) from x_t, and we plug the prediction in. This chapter:
#
# 1. writes the DDPM reverse step (Ho et al. 2020) and the DDIM step (Song, Meng & Ermon 2021) and checks them;
# 2. runs both with an **exact** denoiser on a toy distribution, so we can see the samplers are right before any
#    learning is involved;
# 3. trains a small UNet denoiser on MNIST briefly, then loads the course's shipped denoiser (trained by the
#    `digit_ddpm` recipe for 4000 steps);
# 4. shows numerically that **DDIM with η = 1 is DDPM**, and that η = 0 is deterministic;
# 5. measures **steps vs time vs quality** for both samplers.
#
# **You will:** write and check the DDPM and DDIM steps, sample with an exact denoiser and with a trained UNet,
# watch x̂_0 during sampling, show DDIM η = 1 ≡ DDPM, and trade steps for time and quality with a judge; write x̂_0
# from ε and from v and both steps yourself (Exercises 5.1-5.4, question 5.q1). **Prerequisites:** 4 (the forward
# process and its posterior).

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from t2ilib import get_device, seed_everything
from t2ilib.data import epoch_batches, load_dataset
from t2ilib.diffusion import (NoiseSchedule, ddim_sigma, ddim_step, ddpm_step, diffusion_loss, noised_batches,
                              posterior_mean_variance, q_sample, sample)
from t2ilib.nn import UNet
from t2ilib.checkpoint import load_pretrained
from t2ilib.eval.sample_quality import digit_sample_quality, sample_digits
from t2ilib.grading import check
from t2ilib.train import Trainer, TrainConfig
from t2ilib.viz import plot_loss, show_grid

device = get_device()
seed_everything(0)
print("device:", device)
schedule = NoiseSchedule.cosine(1000)
train_x, _ = load_dataset("mnist", "train").tensors(device)

# %% [markdown]
# ## 1. Two reverse steps
#
# **DDPM** (Ho et al. 2020, Eq. 11 and Algorithm 2). Given the network's ε̂ = ε_θ(x_t, t), estimate
# x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t and sample from the posterior with x̂_0 plugged in:
#
# $$x_{t-1} = \tilde\mu_t(\hat x_0, x_t) + \sigma_t z
#          = \frac{1}{\sqrt{\alpha_t}}\Big(x_t - \frac{\beta_t}{\sqrt{1-\bar\alpha_t}}\,\hat\varepsilon\Big) + \sigma_t z,
#   \qquad \sigma_t^2 = \tilde\beta_t \ (\text{or } \beta_t).$$
#
# **DDIM** (Song et al. 2021, Eq. 12). Keep the same marginals q(x_t | x_0) but a different, non-Markovian
# process; its step from t to any earlier s is
#
# $$x_s = \sqrt{\bar\alpha_s}\,\hat x_0 + \sqrt{1-\bar\alpha_s-\sigma^2}\;\hat\varepsilon + \sigma z, \qquad
#   \sigma^2 = \eta^2\,\frac{1-\bar\alpha_s}{1-\bar\alpha_t}\Big(1-\frac{\bar\alpha_t}{\bar\alpha_s}\Big)\ \ \text{(Eq. 16)}.$$
#
# "Point at x̂_0, then walk back out along the predicted noise direction." With η = 0 there is no fresh noise at all:
# the whole sampler is a deterministic map from x_T to an image. Check that `ddpm_step` is Eq. 11 written in ε form,
# with any fixed ε̂:

# %%
# NBVAL_CHECK_OUTPUT
g = torch.Generator().manual_seed(0)
x_t = torch.randn(4, 1, 28, 28, generator=g, dtype=torch.float64)
eps_hat = torch.randn(4, 1, 28, 28, generator=g, dtype=torch.float64)
for t in (999, 500, 10, 1):
    mean, _ = ddpm_step(schedule, eps_hat, x_t, t, noise=torch.zeros_like(x_t))  # z = 0: the mean
    a_t, abar_t = schedule.alphas[t].item(), schedule.alpha_bar(t).item()
    eq11 = (x_t - (1 - a_t) / math.sqrt(1 - abar_t) * eps_hat) / math.sqrt(a_t)
    err = (mean - eq11).abs().max().item()
    assert err < 1e-9, err
    print(f"t = {t:3d}: posterior mean with x0_hat plugged in = Eq. 11 (max difference < 1e-9)")

# %% [markdown]
# **Exercises 5.1-5.4 — write the reverse steps yourself** (plain tensors in and out; each check cell compares your
# function with the library's and explains what is wrong). Code timesteps run 0..T−1; the last DDPM step is t = 0
# (the paper's t = 1), where no noise is added.

# %% tags=["exercise-5.1"]
def my_x0_from_eps(x_t, eps, abar_t):
    """Exercise 5.1: invert x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps for x_0.

    x_t, eps: (N, C, H, W); abar_t: (N,).
    """
    ### BEGIN SOLUTION
    a = abar_t.view(-1, 1, 1, 1)
    return (x_t - (1 - a).sqrt() * eps) / a.sqrt()
    ### END SOLUTION


# %% tags=["exercise-5.2"]
def my_ddpm_step(eps_hat, x_t, t, betas, z):
    """Exercise 5.2: one DDPM step (Algorithm 2 of Ho et al. 2020, with sigma_t^2 = beta_t):

    x_{t-1} = (x_t - beta_t / sqrt(1 - abar_t) eps_hat) / sqrt(alpha_t) + sigma_t z, and no noise at t = 0.
    eps_hat, x_t, z: (N, C, H, W); t: (N,) integer timesteps; betas: (T,).
    """
    ### BEGIN SOLUTION
    abar = torch.cumprod(1 - betas, dim=0)
    beta, abar_t = betas[t].view(-1, 1, 1, 1), abar[t].view(-1, 1, 1, 1)
    mean = (x_t - beta / (1 - abar_t).sqrt() * eps_hat) / (1 - beta).sqrt()
    noisy = (t > 0).to(x_t.dtype).view(-1, 1, 1, 1)
    return mean + noisy * beta.sqrt() * z
    ### END SOLUTION


# %% tags=["exercise-5.3"]
def my_ddim_step(eps_hat, x_t, abar_t, abar_s):
    """Exercise 5.3: one deterministic DDIM step from t to an earlier s (Song et al. 2021, Eq. 12 with eta = 0):

    x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s) eps_hat, with x0_hat from eps_hat as in 5.1.
    eps_hat, x_t: (N, C, H, W); abar_t, abar_s: (N,).
    """
    ### BEGIN SOLUTION
    a_t, a_s = abar_t.view(-1, 1, 1, 1), abar_s.view(-1, 1, 1, 1)
    x0_hat = (x_t - (1 - a_t).sqrt() * eps_hat) / a_t.sqrt()
    return a_s.sqrt() * x0_hat + (1 - a_s).sqrt() * eps_hat
    ### END SOLUTION


# %% tags=["exercise-5.4"]
def my_x0_from_v(x_t, v, abar_t):
    """Exercise 5.4: x_0 from a v-prediction, v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0 (Salimans & Ho 2022).

    Hint: write x_t and v as a rotation of (x_0, eps). x_t, v: (N, C, H, W); abar_t: (N,).
    """
    ### BEGIN SOLUTION
    a = abar_t.view(-1, 1, 1, 1)
    return a.sqrt() * x_t - (1 - a).sqrt() * v
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
for exercise_id, fn in [("5.1", my_x0_from_eps), ("5.2", my_ddpm_step), ("5.3", my_ddim_step), ("5.4", my_x0_from_v)]:
    check(exercise_id, fn)

# %% [markdown]
# **Question 5.q1.** Near pure noise, at ᾱ_t = 0.01, the network's ε̂ is off by 0.1 in some pixel. By how much is
# x̂_0 off in that pixel? (A number; it explains the speckle in early x̂_0 in section 3.)

# %% tags=["exercise-5.q1"]
answer_5_q1 = 0.995  ### SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
check("5.q1", answer_5_q1)

# %% [markdown]
# ## 2. The samplers with a perfect denoiser
#
# Before training anything: if the data were eight points on a ring, the best possible x_0-prediction is the
# posterior mean E[x_0 | x_t] = Σ_i w_i x^(i), with w = softmax over i of −‖x_t − √ᾱ_t x^(i)‖² / (2(1−ᾱ_t)) —
# no network needed. A correct sampler driven by this exact denoiser must put its samples on the eight points,
# an eighth on each.

# %%
ring = torch.stack([torch.cos(torch.arange(8) * math.pi / 4), torch.sin(torch.arange(8) * math.pi / 4)], 1)


def exact_x0(x, t):
    abar = schedule.alpha_bar(t).to(x.dtype)[:, None, None]
    logits = -((x[:, None, :] - abar.sqrt() * ring[None].to(x.dtype)) ** 2).sum(-1) / (2 * (1 - abar[:, :, 0]))
    return torch.softmax(logits, 1) @ ring.to(x.dtype)


runs = {"DDPM, 1000 steps": dict(sampler="ddpm", steps=1000), "DDIM η=0, 50 steps": dict(sampler="ddim", steps=50),
        "DDIM η=0, 10 steps": dict(sampler="ddim", steps=10)}
fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, (name, kw) in zip(axes, runs.items()):
    pts = sample(exact_x0, schedule, (4000, 2), prediction="sample", clip_x0=False, progress=False,
                 generator=torch.Generator().manual_seed(1), **kw)
    dist, nearest = torch.cdist(pts, ring).min(1)
    share = torch.bincount(nearest, minlength=8).float() / len(pts)
    ax.scatter(*pts.T, s=2, alpha=0.3)
    ax.scatter(*ring.T, c="r", marker="x")
    ax.set(title=f"{name}\nmedian distance {dist.median():.3f}", aspect="equal")
    print(f"{name:20s} median distance to a point {dist.median().item():.4f}; share per point "
          f"{share.min().item():.3f}..{share.max().item():.3f} (1/8 = 0.125)")
    assert dist.median() < 0.05 and (share - 0.125).abs().max() < 0.02
plt.tight_layout()
plt.show()

# %% [markdown]
# Both samplers land on the data with the right proportions. With only 10 DDIM steps a few samples are left
# between two neighbouring points: a big step commits to a point late, from a blurry x̂_0 — so even with an exact
# denoiser the number of steps matters a little. With a learned denoiser errors also accumulate over the steps.
#
# ## 3. Training a denoiser on MNIST
#
# The network is a UNet (`t2ilib.nn.UNet`: ResBlocks that read a sinusoidal time embedding, self-attention at 7×7,
# skip connections). The shipped denoiser has channels 32/64/64 (1.1 M parameters); to keep this live run short we
# train a copy at half the width (channels 16/32/32, a quarter of the parameters). The objective is Ho et al.'s
# L_simple: ‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)‖² with t uniform. A short run, 40 steps of batch 8, with an EMA of
# the weights for sampling (the printed time is this run's; a 2-core AVX2-only laptop-class CPU is several times
# slower than one with native bf16):

# %%
seed_everything(0)
unet = UNet(in_channels=1, channels=(16, 32, 32)).to(device)
print(f"UNet: {sum(p.numel() for p in unet.parameters()):,} parameters")
cfg = TrainConfig(steps=40, lr=2e-3, warmup_steps=10, grad_clip=1.0, ema_decay=0.9, log_every=10)
trainer = Trainer(unet, diffusion_loss(schedule.to(device)), noised_batches(epoch_batches(train_x, batch_size=8), 1000),
                  cfg)
t0 = time.perf_counter()
history = trainer.fit()
print(f"{trainer.step} steps in {time.perf_counter() - t0:.0f} s; loss {history.loss[0]:.3f} -> "
      f"{np.mean(history.loss[-20:]):.3f} (mean of the last 20)")
assert np.mean(history.loss[-20:]) < 0.5 * history.loss[0]

# %%
quick_samples = sample(trainer.eval_model, schedule.to(device), (16, 1, 28, 28), steps=20, device=device,
                       generator=torch.Generator().manual_seed(0), progress=False)
fig, axes = plt.subplots(1, 2, figsize=(13, 2.6), gridspec_kw=dict(width_ratios=[1, 2.2]))
plot_loss(history, ax=axes[0])
show_grid(quick_samples, nrow=16, ax=axes[1], title=f"after {trainer.step} steps: DDIM, 20 steps")
plt.tight_layout()
plt.show()

# %% [markdown]
# The loss falls fast, and the samples already look like white ink on a mostly dark background — but 40 small
# steps are not enough for digits. The shipped `digit_ddpm` denoiser is the full-width UNet trained by its recipe for 4000
# steps of batch 128 (`python -m t2ilib train digit_ddpm`: 28 minutes in bf16 on a 2-core CPU with native bf16, as
# its manifest records; expect several times that in fp32 on an AVX2-only CPU). Load it and watch DDPM's ancestral
# sampling: the top rows are x_t, the bottom rows the network's current guess x̂_0. To keep it quick we take 100
# ancestral steps, each from t to s = t − 10 (a draw from chapter 4's posterior q(x_s | x_t, x̂_0), which exists for
# any s < t); the full chain of 1000 one-step moves costs ten times as much.

# %%
ddpm = load_pretrained("digit_ddpm", device)  # the checkpoint records how it was trained: schedule, T, prediction
print("digit_ddpm was trained with", ddpm.diffusion)
assert ddpm.diffusion == {"schedule": "cosine", "num_steps": 1000, "prediction": "epsilon"}  # this notebook's schedule
ship_schedule = ddpm.schedule.to(device)
t0 = time.perf_counter()
final, xs, x0s, ts = sample(ddpm, ship_schedule, (4, 1, 28, 28), sampler="ddpm", steps=100, device=device,
                            generator=torch.Generator().manual_seed(3), return_trajectory=True, progress=False)
print(f"DDPM, 100 steps, 4 images: {time.perf_counter() - t0:.1f} s")
for i in (0, 30, 70):  # how much of x0_hat sits at the clip (+-1): sample() clips x0_hat to [-1, 1] by default
    print(f"step t = {ts[i].item():3d}: sqrt(abar_t) = {ship_schedule.alpha_bar(ts[i]).sqrt().item():.2g}, "
          f"x0_hat pixels at +-1: {(x0s[i].abs() >= 1).float().mean().item():.0%}")
show_at = [0, 10, 20, 30, 40, 50, 70, 99]  # indices into the 100 steps
fig, axes = plt.subplots(2, 1, figsize=(14, 4.6))
show_grid(torch.cat([xs[i + 1][:2] for i in show_at]).clamp(-1, 1), nrow=16, ax=axes[0],
          title="x_t after step t = " + ", ".join(str(ts[i].item()) for i in show_at))
show_grid(torch.cat([x0s[i][:2] for i in show_at]), nrow=16, ax=axes[1], title="x0_hat at the same steps")
plt.tight_layout()
plt.show()
show_grid(final, nrow=4, title="DDPM samples from the shipped denoiser")
plt.show()

# %% [markdown]
# The guess x̂_0 starts as salt-and-pepper speckle, not as a blurry digit: at the first step √ᾱ_t is tiny
# (printed above), so x̂_0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t multiplies the network's small errors in ε̂ by 1/√ᾱ_t
# (Question 5.q1), and `sample` clips x̂_0 to [−1, 1] at every step — so at the first step every pixel sits at
# ±1 (printed; later the share at ±1 is mostly the digits' own black background). A blurry digit appears by
# t ≈ 900. (Clipping is `sample`'s default, `clip_x0=True`; Algorithm 2 of Ho et al. has no clip in its
# equations, while their released code clips x̂_0 when it samples through it, as here. Chapter 6d looks at
# clipping more closely.) Then x̂_0 may change its mind between digits while the noise is still strong, settles
# on one digit before the halfway point (the cosine schedule's SNR reaches 1 at t ≈ 500), and the remaining steps
# mostly remove the noise from x_t around a digit that no longer changes.
#
# ## 4. DDIM with η = 1 *is* DDPM; η = 0 is deterministic
#
# With η = 1, Eq. 16 gives σ² = (1−ᾱ_s)/(1−ᾱ_t) · (1 − ᾱ_t/ᾱ_s) = β̃, the DDPM posterior variance. And the mean
# √ᾱ_s x̂_0 + √(1−ᾱ_s−β̃) ε̂, after substituting ε̂ = (x_t − √ᾱ_t x̂_0)/√(1−ᾱ_t), is exactly μ̃_t(x̂_0, x_t) of
# Eq. 7 (both are linear in x̂_0 and x_t; compare the coefficients). So one DDIM step with η = 1 and one DDPM step
# with the same noise z produce the same x_s. First the coefficients, then whole sampling runs:

# %%
# NBVAL_CHECK_OUTPUT
for t, s in [(999, 979), (500, 480), (40, 20), (20, 0)]:
    sig2 = ddim_sigma(schedule, t, s, 1.0) ** 2
    zero = torch.zeros(1, dtype=torch.float64)
    _, beta_tilde = posterior_mean_variance(schedule, zero, zero, t, s)
    a_t, a_s = schedule.alpha_bar(t), schedule.alpha_bar(s)
    # mean coefficients: DDIM (after substituting eps_hat) vs DDPM's Eq. 7
    c_xt_ddim = (1 - a_s - sig2).sqrt() / (1 - a_t).sqrt()
    c_x0_ddim = a_s.sqrt() - c_xt_ddim * a_t.sqrt()
    c_x0_ddpm = a_s.sqrt() * (1 - a_t / a_s) / (1 - a_t)
    c_xt_ddpm = (a_t / a_s).sqrt() * (1 - a_s) / (1 - a_t)
    diffs = [abs(sig2 - beta_tilde).item(), abs(c_x0_ddim - c_x0_ddpm).item(), abs(c_xt_ddim - c_xt_ddpm).item()]
    assert max(diffs) < 1e-12, diffs
    print(f"t {t:3d} -> s {s:3d}: sigma^2(eta=1) = beta~ = {sig2.item():.3e}; x0 and x_t coefficients agree (< 1e-12)")

# %%
x_T = torch.randn((8, 1, 28, 28), generator=torch.Generator().manual_seed(7))
runs = {}
for name, kw, seed in [("DDPM", dict(sampler="ddpm"), 11), ("DDIM eta=1", dict(sampler="ddim", eta=1.0), 11),
                       ("DDIM eta=0", dict(sampler="ddim", eta=0.0), 11),
                       ("DDIM eta=0, other seed", dict(sampler="ddim", eta=0.0), 12)]:
    # fp32 whatever the precision policy: this checks an identity of the samplers' maths; under bf16 autocast the
    # network's 8-bit mantissa would round the two samplers' (slightly different) inputs differently
    runs[name] = sample(ddpm, ship_schedule, x_T.shape, steps=10, x_T=x_T, device=device, precision="fp32",
                        generator=torch.Generator().manual_seed(seed), progress=False, **kw).cpu()
d_same = (runs["DDPM"] - runs["DDIM eta=1"]).abs().max().item()
d_det = (runs["DDIM eta=0"] - runs["DDIM eta=0, other seed"]).abs().max().item()
d_diff = (runs["DDPM"] - runs["DDIM eta=0"]).abs().mean().item()
print(f"10 steps, same x_T and noise seed: max |DDPM - DDIM(eta=1)| = {d_same:.1e}")
print(f"DDIM eta=0 with two different noise seeds: max difference = {d_det:.1e} (it uses no noise)")
print(f"DDPM vs DDIM eta=0 from the same x_T: mean |difference| = {d_diff:.2f} (different images)")
assert d_same < 1e-2 and d_det == 0 and d_diff > 0.05  # rounding is ~1e-3 here; a wrong variance gives ~1
fig, axes = plt.subplots(1, 3, figsize=(15, 1.8))
for ax, name in zip(axes, ["DDPM", "DDIM eta=1", "DDIM eta=0"]):
    show_grid(runs[name], nrow=8, ax=ax, title=f"{name}, 10 steps, same x_T")
plt.tight_layout()
plt.show()

# %% [markdown]
# (In float32 the two runs differ by rounding only — of order 10⁻³ with these ten large steps, less with more and
# smaller ones — while a sampler with the wrong variance would differ by order 1. `tests/test_diffusion.py` checks
# the identity in float64 to 10⁻¹⁰, and checks every step against the `diffusers` schedulers.)
#
# ## 5. Steps vs time vs quality
#
# The number of network evaluations is the cost of sampling. How few can we get away with? Quality is measured
# with the course's digit judge (`t2ilib.eval.metrics`): the Fréchet distance between judge features of samples and of
# the MNIST test digits (FID on domain features — no Inception network exists offline, so the numbers are
# comparable within this course only), next to its **floor**: the same distance for the same number of *real*
# training digits. Also the judge's mean confidence and how evenly the samples cover the ten digits (1 = uniform).
# 40 samples per row here, to keep the notebook quick: FID from 40 samples is noisy and biased upwards (the floor
# itself is large and noisy at this size), so read the rows against each other. `python -m t2ilib.diffusion.benchmark
# samplers --n 300` measures 300 per row, DDPM up to 1000 steps included, and the README has its table. Every row
# starts from the same x_T (the same seed).

# %%
rows = [("ddim", 5, 0.0), ("ddim", 10, 0.0), ("ddim", 20, 0.0), ("ddpm", 20, 0.0)]
table = []
for sampler, steps, eta in rows:
    images, seconds = sample_digits(ddpm, 40, sampler=sampler, steps=steps, eta=eta, seed=0, device=device)
    q = digit_sample_quality(images)
    name = f"{sampler} eta={eta:g}" if sampler == "ddim" else "ddpm"
    table.append((name, steps, seconds, q, images))
    print(f"{name:12s} {steps:4d} steps {seconds:6.1f} s   judge FID {q['judge_fid']:6.2f} (floor {q['fid_floor']:.2f})"
          f"   confidence {q['confidence']:.3f}   coverage {q['digit_coverage']:.3f}")
fids = {(n, s): q["judge_fid"] for n, s, _, q, _ in table}
assert fids[("ddim eta=0", 20)] < fids[("ddim eta=0", 10)] < fids[("ddim eta=0", 5)]  # more steps, better samples

# %%
fig, axes = plt.subplots(1, len(table), figsize=(16, 3.4))
for ax, (name, steps, seconds, q, images) in zip(axes, table):  # the first 16 samples of each row
    show_grid(images[:16], nrow=4, ax=ax, title=f"{name}, {steps} steps\nFID {q['judge_fid']:.1f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# What to read from it (one run, 40 samples per row; the README has the benchmark script's table with 300 per row):
#
# * DDIM with η = 0 improves steadily with more steps — here the judge FID falls from 5 to 10 to 20 steps while
#   the time grows roughly in proportion to the steps. The benchmark continues the curve: 25 → 50 → 100 steps give
#   1.93 → 1.50 → 1.40, so past 50 steps more steps buy little. And it is deterministic: the three DDIM grids start from the same
#   x_T and most cells show the same digit at 5, 10 and 20 steps — x_T acts as a latent code. Where a cell changes,
#   the coarse few-step path ended on a different digit than the finer one.
# * The stochastic sampler (DDPM, i.e. DDIM with η = 1) draws different digits from the same x_T (fourth grid). It
#   scored better than DDIM η = 0 at 20 steps here, but at 40 samples a gap of a few FID units is within the noise.
#   The benchmark finds the same order at 50 steps (judge FID 1.18 vs 1.50, 300 samples, one run: a gap near its
#   noise level), and with 250 steps DDPM reaches the reals floor. Song et al. (2021, Table 1) found the opposite on
#   CIFAR-10 and CelebA with Inception FID — η = 0 best at small step counts. Which sampler wins depends on the
#   model and the metric; measure, don't assume. A plausible reason here: fresh noise lets later steps correct the
#   errors of an imperfect denoiser, which a deterministic sampler carries along (Karras et al. 2022 discuss this
#   trade-off).
# * The judge FID is a coarse, digit-level measure (it sees the judge's features, not pixels), and a noisy one for
#   small samples: differences of a few tenths near the floor are within the noise of 300 samples, differences of a
#   few units within the noise of 40 (where even the floor, from 40 real digits, is far above the 300-sample one).
#
# ## Summary
#
# * Reverse step = posterior of chapter 4 with the network's x̂_0 plugged in (DDPM), or DDIM's step that reuses
#   the predicted noise direction; with an exact denoiser and enough steps both sample the data distribution.
# * DDIM η = 1 is DDPM (σ² = β̃ and identical means); η = 0 is a deterministic map from noise to image.
# * Steps trade time for quality: 25–50 DDIM steps, or 50–250 DDPM steps, for this model.
#
# **Exercises.** (1) Train the short-run model with `diffusion_loss(schedule, "v_prediction")` and sample with
# `prediction="v_prediction"`: compare the loss curves. (2) DDIM with η = 0 is deterministic, so x_T is a latent
# code: interpolate between two x_T (use spherical interpolation — why?) and decode both ends and the middle. (3)
# Run `sample(..., spacing="leading")` with 10 steps and compare with `"trailing"`: which one starts from pure
# noise, and does it matter here?
#
# **Check yourself.** (1) What noise does DDPM add at its last step, and why? (2) Why is DDIM with η = 0 a
# deterministic map, and what does that make x_T? (3) Why is x̂_0 speckled at the first step, and what does clipping
# do to it?
