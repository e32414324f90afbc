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
# # Chapter 1a — GAN minimax: generation as a two-player game
#
# A generative adversarial network (Goodfellow et al. 2014) trains two networks against each other. The
# **generator** G turns noise z ~ N(0, I) into samples G(z); the **discriminator** D outputs the probability
# D(x) that x is real. They play
#
# $$\min_G \max_D V(D, G) = \mathbb{E}_{x\sim p_\text{data}}[\log D(x)] + \mathbb{E}_{z\sim p_z}[\log(1 - D(G(z)))] \qquad \text{(Goodfellow et al. 2014, Eq. 1)}$$
#
# D maximises V: it is a binary classifier trained with cross-entropy (real = 1, fake = 0), and its loss is
# exactly −V. G minimises V: it wants its samples to be called real.
#
# In this notebook, on toys where every density is known, you will check with numbers:
#
# 1. the **optimal discriminator** D\* = p_data / (p_data + p_g), next to one we train;
# 2. what the game optimises: **C(G) = −log 4 + 2·JSD(p_data ‖ p_g)**, and the equilibrium values;
# 3. why generators are trained with the **non-saturating** loss, and a run where the minimax loss stalls;
# 4. **mode collapse** on a ring of 8 Gaussians, measured (and, over seeds, by a benchmark command);
# 5. three pieces of GAN lore — label smoothing, learning-rate balance, BatchNorm in D vs G — each checked by a
#    run or a computation.
#
# Chapter 1b (`01b_dcgan`) then trains convolutional GANs on MNIST and a caption-driven conditional GAN.
# Everything here runs on a laptop CPU in under two minutes (measured on a 2-core AVX2-only CPU; these tiny MLPs
# run in fp32 on every machine).
#
# **You will:** derive and check D\*, C(G) = −log 4 + 2·JSD and the non-saturating loss; measure mode collapse;
# write the two losses and D\* yourself (Exercises 1a.1-1a.3). **Prerequisites:** probability densities, the
# logistic function and cross-entropy; gradient descent.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.distance import jensenshannon
from tqdm.auto import tqdm

from t2ilib import get_device, seed_everything
from t2ilib.gan import (GAN, LOG4, GANConfig, GANTrainer, criterion_from_jsd, density_on_grid, discriminator_loss,
                        generator_logit_gradient, generator_loss_nonsaturating, generator_loss_saturating,
                        jensen_shannon_divergence, mixture_1d, mlp_discriminator, mlp_generator,
                        optimal_discriminator, sample, sample_ring, value_function, virtual_training_criterion)
from t2ilib.gan.ring import plot_ring_runs, train_ring_gan
from t2ilib.grading import check

seed_everything(0)
print("device for the image models of chapter 1b:", get_device())
print("the toy MLPs here have a few thousand weights: they run fastest on the CPU, so this notebook uses it")

# %% [markdown]
# ## 1. The optimal discriminator
#
# Fix the generator and ask: which D maximises V? Pointwise, D(x) trades p_data(x) log D(x) against
# p_g(x) log(1 − D(x)); setting the derivative to zero gives (Goodfellow et al. 2014, Proposition 1, Eq. 2)
#
# $$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}.$$
#
# **Exercise 1a.3 — the optimal discriminator.** Write D*(x) from the two densities. The function takes plain
# tensors and returns one; the cell after it checks your code against the library's on random inputs and says what
# is wrong. The rest of the notebook uses the library, so it runs either way.

# %% tags=["exercise-1a.3"]
def my_optimal_discriminator(p_data, p_g):
    """Exercise 1a.3: D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise on densities evaluated on a grid."""
    ### BEGIN SOLUTION
    return p_data / (p_data + p_g)
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("1a.3", my_optimal_discriminator)

# %% [markdown]
# Now a trained one. The data is a mixture of two Gaussians and the (frozen) generator is a single Gaussian, so
# both densities are known. We train a small MLP discriminator on *samples only* — it never sees a density — and
# compare.

# %%
p_data = mixture_1d([-2.0, 2.0], [0.5, 0.5])   # two bumps
p_g = mixture_1d([0.5], [1.2])                  # a frozen generator: one Gaussian
x_grid = torch.linspace(-7, 7, 14001, dtype=torch.float64)
pd_grid, pg_grid = density_on_grid(p_data, x_grid), density_on_grid(p_g, x_grid)
d_star = optimal_discriminator(pd_grid, pg_grid)


def train_discriminator(real_label=1.0, steps=1000, batch=1024, seed=0):
    """Train D to maximise V (i.e. minimise its cross-entropy) against the frozen generator.
    A decaying learning rate lets D settle instead of jittering around the optimum."""
    seed_everything(seed)
    D = mlp_discriminator(in_dim=1, hidden=64)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in tqdm(range(steps), desc=f"train D (real label {real_label})"):
        real, fake = p_data.sample((batch, 1)).float(), p_g.sample((batch, 1)).float()
        loss = discriminator_loss(D(real), D(fake), real_label)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return D


D_trained = train_discriminator()
with torch.no_grad():
    d_trained = torch.sigmoid(D_trained(x_grid.float()[:, None])).double()

mass = (pd_grid + pg_grid) > 0.02  # where samples exist: elsewhere D is never trained, and D* has no data either
err = (d_trained - d_star)[mass].abs()
print(f"max |D_trained - D*| where p_data + p_g > 0.02: {err.max():.3f}   (mean {err.mean():.4f})")
assert err.max() < 0.06 and err.mean() < 0.01

fig, ax = plt.subplots(figsize=(8, 3.2))
ax.plot(x_grid, pd_grid, label="p_data", c="tab:orange")
ax.plot(x_grid, pg_grid, label="p_g", c="tab:blue")
ax.plot(x_grid, d_star, "k-", lw=2, label="D* = p_data / (p_data + p_g)")
ax.plot(x_grid, d_trained, "r--", lw=2, label="trained D (from samples)")
ax.set_xlim(-5, 5), ax.legend(fontsize=8), ax.set_title("the optimal discriminator, and one trained on samples")
plt.show()

# %% [markdown]
# ## 2. What the game optimises: C(G) = −log 4 + 2·JSD
#
# Plug D\* back into V. What is left depends on G only — the *virtual training criterion* (Theorem 1):
#
# $$C(G) = \max_D V(D, G) = -\log 4 + 2\,\mathrm{JSD}(p_\text{data}\,\|\,p_g),\qquad
#   \mathrm{JSD}(p\|q) = \tfrac12 \mathrm{KL}(p\|m) + \tfrac12 \mathrm{KL}(q\|m),\ m = \tfrac{p+q}{2}.$$
#
# So a generator playing against the best discriminator minimises the Jensen–Shannon divergence, and the game is
# won (C = −log 4) exactly when p_g = p_data. We check every piece by quadrature on the grid, check the JSD against
# SciPy, and check that the *trained* D achieves a value V just below C(G) (it can only be worse than D\*).

# %%
jsd = jensen_shannon_divergence(pd_grid, pg_grid, x_grid).item()
dx = (x_grid[1] - x_grid[0]).item()
jsd_scipy = jensenshannon(pd_grid.numpy() * dx, pg_grid.numpy() * dx) ** 2  # scipy returns sqrt(JSD)
c_quad = virtual_training_criterion(pd_grid, pg_grid, x_grid).item()
c_thm = criterion_from_jsd(jsd)
with torch.no_grad():
    xr = p_data.sample((200_000, 1)).float()
    xf = p_g.sample((200_000, 1)).float()
    v_trained = value_function(D_trained(xr), D_trained(xf)).item()
print(f"JSD by quadrature {jsd:.6f}   scipy {jsd_scipy:.6f}   difference {abs(jsd - jsd_scipy):.1e}")
print(f"C(G) by quadrature {c_quad:.6f}   -log 4 + 2 JSD = {c_thm:.6f}   difference {abs(c_quad - c_thm):.1e}")
print(f"V(trained D, G), Monte Carlo on 200k samples: {v_trained:.4f}  (<= C(G) up to sampling error)")
assert abs(jsd - jsd_scipy) < 1e-5 and abs(c_quad - c_thm) < 1e-6
assert -0.02 < c_quad - v_trained < 0.02

# %% [markdown]
# Now let the generator be a Gaussian N(μ, 1.2²) and slide μ: C(G) is the curve G would descend if D were always
# optimal. It never reaches −log 4 here — one Gaussian cannot match two bumps. Look where its minima are.

# %%
mus = torch.linspace(-4, 4, 81)
curve = [virtual_training_criterion(pd_grid, density_on_grid(mixture_1d([m.item()], [1.2]), x_grid), x_grid).item()
         for m in mus]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(mus, curve, label="C(G) for p_g = N(mu, 1.2)")
ax.axhline(-math.log(4), c="k", ls=":", label="-log 4 (p_g = p_data)")
ax.set_xlabel("generator mean mu"), ax.legend(fontsize=8)
plt.show()
best = mus[int(torch.tensor(curve).argmin())].item()
print(f"C(G) at mu = 0 (straddling both modes): {curve[40]:.4f}; minimum {min(curve):.4f} at mu = {best:+.1f}; "
      f"on a mode (mu = 2): {curve[60]:.4f}")
assert min(curve) > -math.log(4) and abs(abs(best) - 1.5) < 0.3 and curve[40] > curve[60] > min(curve)

# %% [markdown]
# The Gaussian that straddles both modes symmetrically (μ = 0) is a local *maximum* of C(G); the minima lean
# towards one bump (μ ≈ ±1.5), and sitting right on one mode (μ = 2) still beats straddling. The Jensen–Shannon
# divergence prefers covering one mode well to covering both thinly — a first hint of the mode collapse of
# section 4.

# %% [markdown]
# **At the equilibrium** p_g = p_data, D\* = ½ everywhere, V = −log 4 and the discriminator's cross-entropy
# (real + fake terms) is log 4 ≈ 1.386 — the number to look for in a GAN's training log.

# %%
# NBVAL_CHECK_OUTPUT
d_eq = optimal_discriminator(pd_grid, pd_grid)
c_eq = virtual_training_criterion(pd_grid, pd_grid, x_grid).item()
half = torch.zeros(4)  # logit 0 <=> D = 1/2
print(f"D* at equilibrium: min {d_eq.min():.3f}, max {d_eq.max():.3f}")
print(f"C(G) at equilibrium: {c_eq:.6f}   -log 4 = {-math.log(4):.6f}")
print(f"discriminator BCE at D = 1/2: {discriminator_loss(half, half).item():.6f}   log 4 = {LOG4:.6f}")
assert torch.allclose(d_eq, torch.full_like(d_eq, 0.5)) and abs(c_eq + math.log(4)) < 1e-9
assert abs(discriminator_loss(half, half).item() - LOG4) < 1e-6

# %% [markdown]
# ### Lore 1 — one-sided label smoothing, shown
#
# A common trick (Salimans et al. 2016, Sec. 3.4) trains D with target 0.9 instead of 1 for real samples. Redo the
# derivation with target α for reals: the optimum becomes **α·D\***. D can no longer become arbitrarily
# confident on real data (its maximum is α), which keeps its logits — and the gradients it sends to G — bounded.
# Only the *real* side is smoothed: smoothing the fakes too would give
# (α p_data + β p_g)/(p_data + p_g), which rewards G for staying where p_data is zero. We train D with α = 0.9:

# %%
D_smooth = train_discriminator(real_label=0.9)
with torch.no_grad():
    d_smooth = torch.sigmoid(D_smooth(x_grid.float()[:, None])).double()
err_s = (d_smooth - optimal_discriminator(pd_grid, pg_grid, 0.9))[mass].abs()
print(f"max D without smoothing {d_trained[mass].max():.3f}, with smoothing {d_smooth[mass].max():.3f}")
print(f"max |D_smooth - 0.9 D*| = {err_s.max():.3f}   (mean {err_s.mean():.4f})")
assert err_s.max() < 0.06 and err_s.mean() < 0.01 and d_smooth[mass].max() < 0.93 < d_trained[mass].max()

# %% [markdown]
# ## 3. The saturating and the non-saturating generator loss
#
# G's minimax loss is log(1 − D(G(z))). Write D = σ(l) with l the discriminator's logit. Then
#
# $$\frac{\partial}{\partial l}\log(1-\sigma(l)) = -\sigma(l) = -D, \qquad
#   \frac{\partial}{\partial l}\big(-\log\sigma(l)\big) = -(1-\sigma(l)) = -(1 - D).$$
#
# Early in training G is bad, D rejects its samples confidently, D(G(z)) ≈ 0 — and the minimax gradient ≈ 0:
# the loss **saturates**. Goodfellow et al. (Sec. 3) instead let G *maximise* log D(G(z)): the same fixed point,
# but a gradient near 1 exactly when G is bad. Both analytic derivatives are checked against autograd:

# %%
logits = torch.linspace(-9, 9, 401, requires_grad=True)
d_vals = torch.sigmoid(logits.detach())
fig, ax = plt.subplots(figsize=(6, 3.2))
for name, fn in (("saturating", generator_loss_saturating), ("nonsaturating", generator_loss_nonsaturating)):
    (grad,) = torch.autograd.grad(fn(logits) * len(logits), logits)  # per-sample derivative
    assert torch.allclose(grad, generator_logit_gradient(d_vals, name), atol=1e-6) and (grad < 0).all()
    ax.plot(d_vals, grad.abs(), label=f"{name}: |dL/dl| = {'D' if name == 'saturating' else '1 - D'}")
ax.set_xlabel("D(G(z))"), ax.set_ylabel("gradient magnitude"), ax.legend(fontsize=8)
ax.set_title("where G starts (D(G(z)) ~ 0), only the non-saturating loss has a gradient")
plt.show()
print("autograd == analytic for both losses; both push D(G(z)) up (negative derivative)")

# %% [markdown]
# **A run where the minimax loss stalls.** Data N(6, 0.5²); G (a small MLP) starts near 0; D is first trained
# for 300 steps against the initial G, so it starts confident — the situation of real training, where D learns
# faster than G. Then we train G with each loss, with plain gradient descent (SGD), which follows the gradient
# as it is, and with Adam, which divides each step by a running gradient scale.

# %%
def data_1d(step):
    return 6.0 + 0.5 * torch.randn(256, 1, generator=torch.Generator().manual_seed(step))


def saturation_run(loss, optimizer, steps=600):
    seed_everything(0)
    G, D = mlp_generator(z_dim=1, out_dim=1, hidden=32), mlp_discriminator(in_dim=1, hidden=32)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    for s in range(300):  # a head start for D
        with torch.no_grad():
            fake = G(torch.randn(256, 1))
        d_loss = discriminator_loss(D(data_1d(10**6 + s)), D(fake))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
    opt_g = torch.optim.SGD(G.parameters(), lr=0.05) if optimizer == "SGD" else None
    means = []
    trainer = GANTrainer(GAN(G, D, z_dim=1), data_1d, GANConfig(steps=steps, lr=1e-3, betas=(0.5, 0.999), loss=loss,
                                                                 sample_every=25),
                         optimizer_g=opt_g, optimizer_d=opt_d, progress=False,
                         sample_fn=lambda t, step: means.append(sample(t.eval_model, 2000, 1).mean().item()))
    trainer.fit()
    return np.array(means), np.array(trainer.history.logs["d_fake"])


sat = {(loss, opt): saturation_run(loss, opt) for opt in ("SGD", "Adam") for loss in ("saturating", "nonsaturating")}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
for (loss, opt), (means, d_fake) in sat.items():
    ls = "-" if opt == "SGD" else "--"
    axes[0].plot(np.arange(1, len(means) + 1) * 25, means, ls, label=f"{loss}, {opt}")
    axes[1].semilogy(d_fake, ls, label=f"{loss}, {opt}")
axes[0].axhline(6, c="k", ls=":"), axes[0].set_title("mean of G's samples (data mean 6)"), axes[0].legend(fontsize=7)
axes[1].set_title("D(G(z)) during training"), axes[1].set_xlabel("step")
plt.show()
for (loss, opt), (means, d_fake) in sat.items():
    print(f"{loss:>14s}, {opt:4s}: G mean after {25 * len(means)} steps {means[-1]:6.2f}, last D(G(z)) {d_fake[-1]:.2g}")
assert abs(sat["saturating", "SGD"][0][-1]) < 1.0                                 # stalled near its start, 0
assert sat["saturating", "SGD"][1][-1] < 1e-3                                      # ... rejected by D
assert abs(sat["nonsaturating", "SGD"][0][-1] - 6) < 1.5                          # reached the data

# %% [markdown]
# With SGD the minimax generator barely moves — its mean creeps from about −0.1 to 0.3 in 600 steps — because
# D(G(z)), which *is* its gradient, starts at a few 10⁻³ and keeps falling as D gets surer. The non-saturating
# generator, from the same start, overshoots and settles on the data within ~150 steps. Adam rescues even the saturating loss here, because it normalises
# each step by the gradient's running magnitude — a tiny but *consistent* gradient still gives full-size steps.
# That is no reason to rely on it: the tiny gradient is also swamped by noise in anything larger than this toy,
# and GANs since 2014 train G with the non-saturating loss or with a loss built not to saturate in the first place
# (Wasserstein, hinge, least squares).

# %% [markdown]
# **Exercises 1a.1 and 1a.2 — the two players' losses, from logits.** D outputs a logit l with D = σ(l). The
# function takes plain tensors and returns one; the cell after it checks your code against the library's on random
# inputs and says what is wrong. The rest of the notebook uses the library, so it runs either way.

# %% tags=["exercise-1a.1"]
def my_discriminator_loss(real_logits, fake_logits):
    """Exercise 1a.1: the discriminator minimises -V(D, G) = -E[log D(x)] - E[log(1 - D(G(z)))] (batch means).

    real_logits, fake_logits: (N,). Hint: log sigma(l) = F.logsigmoid(l) and log(1 - sigma(l)) = F.logsigmoid(-l)
    stay finite for large |l|, where log(torch.sigmoid(l)) does not.
    """
    ### BEGIN SOLUTION
    return -(F.logsigmoid(real_logits).mean() + F.logsigmoid(-fake_logits).mean())
    ### END SOLUTION


# %% tags=["exercise-1a.2"]
def my_generator_loss_nonsaturating(fake_logits):
    """Exercise 1a.2: the non-saturating generator loss -E[log D(G(z))] (a batch mean). fake_logits: (N,)."""
    ### BEGIN SOLUTION
    return -F.logsigmoid(fake_logits).mean()
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("1a.1", my_discriminator_loss)
check("1a.2", my_generator_loss_nonsaturating)

# %% [markdown]
# ## 4. Mode collapse on a ring of 8 Gaussians
#
# The data: 8 Gaussians (std 0.02) on a circle of radius 2 (Metz et al. 2017). Two numbers measure a generator
# (Srivastava et al. 2017): the fraction of **high-quality** samples (within 3 std of a mode) and the number of
# **modes covered** (modes that receive, among the high-quality samples, at least a fifth of their fair share
# n/8). A generator that puts everything on one mode has perfect quality and covers 1/8 of the data: *mode
# collapse*. Nothing in the game forbids it — for a fixed D, G's best response is to put all its mass where D(x)
# is largest.
#
# Two runs, 3000 steps of Adam on batches of 256 points each, differing only in the learning rates: a
# discriminator that learns faster than the generator (lr 1e-3 vs 3e-4), and both at 1e-3. These runs always use
# fp32, even where the course would pick bf16: bf16's spacing near the ring's radius 2 is 0.016, about the width
# of a mode (std 0.02), so it would round away what we measure (and two tiny MLPs gain no speed from it).

# %%
collapse = train_ring_gan("D faster: lr_g 3e-4, lr_d 1e-3", lr_g=3e-4, lr_d=1e-3)
balanced = train_ring_gan("balanced: lr 1e-3 both", lr_g=1e-3, lr_d=1e-3)
plot_ring_runs([collapse, balanced])
plt.show()
for run in (collapse, balanced):
    print(f"{run.name:32s} modes covered over training {[c['modes_covered'] for c in run.coverage]}, "
          f"final high-quality fraction {run.final['high_quality']:.2f}, samples per mode {run.final['counts']}, "
          f"D accuracy (last 100 steps) {np.mean(run.trainer.history.logs['d_accuracy'][-100:]):.2f}")
assert collapse.final["modes_covered"] <= 3 and collapse.final["high_quality"] > 0.6
assert balanced.final["modes_covered"] >= collapse.final["modes_covered"] + 3

# %% [markdown]
# The fast discriminator drives G onto two modes with high quality (0.88; the rest lie on the bridge between
# them) — collapse — and stays ahead of it (it classifies 87 % of samples correctly). With equal learning rates G
# covers all 8 modes by step 3000, but half its samples lie on the lines between neighbouring modes (quality
# 0.49), and D is closer to guessing (accuracy 0.68). One seed proves little, and each run takes half a minute here, so
# the other settings of this section are measured by a benchmark: `python -m t2ilib.gan.benchmark` trains every
# setting below with this same code for three seeds (3000 steps each; the README lists its table). There, the
# fast discriminator collapses onto exactly 2 modes in all three seeds (quality 0.91); the balanced runs cover
# 6.7 modes on average (5–8). The remedies proposed in the literature, added to the fast discriminator: minibatch
# standard deviation (Karras et al. 2018) reaches 3.3 modes and PacGAN packing (Lin et al. 2018) 4.3 (at quality
# 0.27) within 3000 steps, while spectral normalisation (Miyato et al. 2018) mostly slows learning down
# (1.3 modes, quality 0.14).
#
# ### Lore 2 — learning-rate balance, and Lore 3 — BatchNorm in D vs G
#
# We have seen a discriminator that is too fast. A discriminator that is too *slow* is worse: with G's lr 10× D's,
# G chases a D that tells it nothing useful, and the benchmark's runs cover 0 modes in all three seeds (quality
# 0.01). Label smoothing, lore 1, on the ring: with the balanced learning rates it covers 6.0 modes on average
# (4–8) at a higher quality (0.64 against 0.47) — the spread over seeds is as large as the difference.
#
# BatchNorm: DCGAN puts it in G and D, but in D it is a trap when real and fake samples come in separate batches
# (as in our loop). In training mode a BatchNorm layer standardises each feature with the *batch's own* mean and
# variance. Write D's first layer as h = Wx + b and feed it a batch that is an affine copy of the real one,
# x' = a·x + c (a > 0): then h' = a·(Wx) + (Wc + b), and standardising removes both the scale a and the shift:
# BN(h') = BN(h), up to BatchNorm's ε. Every later layer sees the same input, so D gives the shifted, shrunk copy
# exactly the scores of the real batch — *whatever its weights*. A generator that puts a small ring in the wrong
# place gets no signal to move it. We check it on three randomly initialised discriminators, and check that
# one mixed batch (real and fake normalised together) breaks the invariance:

# %%
real = sample_ring(256, generator=torch.Generator().manual_seed(0))
fake = 0.25 * real + torch.tensor([1.0, -0.5])  # the ring shrunk to a quarter and moved off-centre


def logit_gap(D, a, b):
    """max over the batch of |D(a_i) - D(b_i)|, logits."""
    return (D(a) - D(b)).abs().max().item()


for seed in range(3):
    seed_everything(seed)
    D_bn, D_plain = mlp_discriminator(batchnorm=True), mlp_discriminator()  # training mode, as in the GAN loop
    with torch.no_grad():
        gap_plain, gap_bn = logit_gap(D_plain, real, fake), logit_gap(D_bn, real, fake)
        mixed = D_bn(torch.cat([real, fake]))
        gap_mixed = (mixed[:256] - mixed[256:]).abs().max().item()
        for m in D_bn.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.eps = 1e-12  # (torch requires eps > 0) negligible: invariance up to float32 rounding
        gap_bn_exact = logit_gap(D_bn, real, fake)
    print(f"D seed {seed}: max |D(real) - D(fake)| (logits): no BatchNorm {gap_plain:.2f}; BatchNorm, separate batches "
          f"{gap_bn:.1e} (with eps = 1e-12: {gap_bn_exact:.1e}); BatchNorm, one mixed batch {gap_mixed:.2f}")
    assert gap_plain > 0.05 and gap_mixed > 0.05 and gap_bn < 3e-3 and gap_bn_exact < 1e-4

# %% [markdown]
# Separate batches: the logits agree to a few 10⁻⁴ — the effect of BatchNorm's ε = 10⁻⁵ added to the shrunk
# copy's variance — and to float32 rounding with a negligible ε. Without BatchNorm, or with one mixed batch, they
# differ by tenths to units. In the benchmark, BatchNorm in D trains nothing (0 modes in all three seeds), while in
# G it does not stop G from learning — there it only normalises G's own activations: 3.0 modes on average with one
# torch thread, 5.7 with two (the balanced runs without it: 6.7). That spread is itself a lesson: with two threads
# BatchNorm's sums are added in another order, and the game amplifies the rounding difference (seed 0: 4 modes
# against 7). How far does this carry? The failure is a toy-scale finding: Radford et al.'s DCGAN puts BatchNorm
# in D as well and trains on images, where a fake batch differs from a real one in far more than a shift and scale
# of D's first features. What the toy shows in general is the mechanism — batch statistics hide from D whatever a
# per-feature shift and scale can explain — and the safe choices that follow: mixed batches, or no batch
# statistics in D (layer normalisation, or spectral normalisation of the weights).
#
# | lore | what the runs show |
# |---|---|
# | one-sided label smoothing | the optimum becomes 0.9·D\* (checked above); on the ring (benchmark) about the same coverage at a higher quality, within the spread over seeds |
# | learning-rate balance | D too fast: collapse onto ~2 modes; D too slow: G learns nothing; balanced: coverage |
# | BatchNorm | in D with separate real/fake batches, an affine copy of the data scores exactly like the data (checked above), and nothing is generated (0 modes in all seeds of the benchmark). In G it does not stop learning (3.0–5.7 modes in the benchmark, depending on the thread count, vs 6.7 without); DCGAN uses it in both networks on images: the D failure is a toy-scale finding, its mechanism is general. Safe in D: mixed batches, or a norm without batch statistics |
#
# **What to take away.** The discriminator estimates a density ratio; the game, with an optimal D, minimises a
# Jensen–Shannon divergence; the generator needs the non-saturating loss to learn from a confident D; and nothing
# in the objective forces G to cover every mode — that has to be measured. Next: `01b_dcgan` — convolutional GANs
# on MNIST, a generator you steer with a caption, and a digit judge that grades it.
#
# **Check yourself.** (1) At the equilibrium p_g = p_data, what is D\* and what is C(G)? (2) Why does the minimax
# generator loss stop giving gradient when D is confident? (3) Which number measures mode collapse on the ring, and
# why is one seed not enough to compare two settings?
