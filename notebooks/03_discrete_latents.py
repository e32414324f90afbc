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
# # Chapter 3 — Discrete latents: images as grids of tokens (VQ-VAE and DALL-E's dVAE)
#
# A language model writes text one token at a time. DALL-E (Ramesh et al. 2021) generates images the same way —
# but a 256 × 256 RGB image is 196 608 numbers, far too many to write one by one. So DALL-E works in two
# stages:
#
# 1. a **discrete VAE** (dVAE) compresses each image into a 32 × 32 grid of tokens from a vocabulary of 8192;
# 2. a **transformer** learns the joint distribution of caption tokens followed by image tokens, and
#    generates an image's tokens after the caption's; the dVAE decoder turns them back into pixels.
#
# This chapter builds stage 1 in miniature. Two ways to make a VAE's code discrete:
#
# * **VQ-VAE** (van den Oord et al. 2017): snap each encoder output vector to its nearest codebook vector; copy
#   gradients straight through the snap; add a codebook loss and a commitment loss.
# * **dVAE** (Ramesh et al. 2021): the encoder outputs a categorical distribution per grid position; training
#   uses the **Gumbel-softmax** relaxation with an annealed temperature; tokenising takes the argmax.
#
# Both are trained here on MNIST for a few hundred steps. Then we load the course's shipped tokenizers for the
# shapes world — a dVAE and a VQ-VAE, the one the DALL-E chapter builds on — and look at images as token grids.
#
# **You will:** quantise vectors to a codebook and pass gradients through with the straight-through estimator, see
# dead codes and revive them, relax categorical sampling with Gumbel-softmax, and turn images into token grids
# (DALL-E's dVAE); write the nearest-code lookup, the straight-through estimator, VQ-VAE's two losses and a
# Gumbel-softmax sample yourself (Exercises 3.1-3.4). **Prerequisites:** 2 (VAEs, the ELBO); softmax and categorical
# distributions.

# %%
import textwrap
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from t2ilib import get_device, seed_everything
from t2ilib.data import ShapesWorld, epoch_batches, load_dataset
from t2ilib.eval.metrics import psnr
from t2ilib.eval.shapes_probe import caption_matches
from t2ilib.checkpoint import load_pretrained
from t2ilib.train import Trainer, TrainConfig
from t2ilib.vae import (VQVAE, DiscreteVAE, VectorQuantizer, annealed_batches, dvae_loss, gumbel_softmax,
                        perplexity, vqvae_loss)
from t2ilib.grading import check
from t2ilib.viz import show_grid

device = get_device()
seed_everything(0)
print("device:", device)
train_x, _ = load_dataset("mnist", "train").tensors(device)
test_x, _ = load_dataset("mnist", "test").tensors(device)

# %% [markdown]
# ## 1. Vector quantisation and the straight-through estimator
#
# The encoder maps a 28 × 28 digit to a 7 × 7 grid of vectors z_e ∈ R^D. The quantiser replaces each by its
# nearest codebook entry (van den Oord et al. 2017, Eq. 1–2):
#
# $$k = \arg\min_j \lVert z_e - e_j \rVert_2, \qquad z_q = e_k .$$
#
# argmin has no useful gradient, so the **straight-through estimator** copies the decoder's gradient at z_q
# onto z_e: in code `z_q_st = z_e + (z_q - z_e).detach()` — the forward value is z_q, the backward pass sees the
# identity. The codebook then gets no gradient from the reconstruction, so Eq. 3 adds two terms (sg = stop
# gradient):
#
# $$L = -\log p(x \mid z_q) + \underbrace{\lVert \mathrm{sg}[z_e] - e \rVert^2}_{\text{codebook: moves } e}
#       + \beta \underbrace{\lVert z_e - \mathrm{sg}[e] \rVert^2}_{\text{commitment: moves } z_e}, \qquad \beta = 0.25 .$$
#
# Each gradient should land exactly where the equation says. Checked on a tiny quantiser:

# %%
# NBVAL_CHECK_OUTPUT
torch.manual_seed(0)
vq = VectorQuantizer(n_codes=4, code_dim=3, beta=0.25, init_scale=1.0)
z_e = torch.randn(2, 3, 2, 2, requires_grad=True)
q = vq(z_e)
e = vq.codebook.weight[q.indices].permute(0, 3, 1, 2).detach()
w = torch.randn_like(z_e)
g_dec = torch.autograd.grad((w * q.z_q).sum(), z_e, retain_graph=True)[0]
g_dec_cb = torch.autograd.grad((w * q.z_q).sum(), vq.codebook.weight, retain_graph=True, allow_unused=True)[0]
g_cb_ze = torch.autograd.grad(q.codebook_loss, z_e, retain_graph=True, allow_unused=True)[0]
g_cm_e = torch.autograd.grad(q.commitment_loss, vq.codebook.weight, retain_graph=True, allow_unused=True)[0]
g_cm = torch.autograd.grad(q.commitment_loss, z_e)[0]
print("forward value of z_q_st equals the chosen codes:", torch.allclose(q.z_q.detach(), e))
print("straight-through: decoder gradient reaches z_e unchanged:", torch.allclose(g_dec, w))
print("reconstruction gradient reaching the codebook:", g_dec_cb)
print("codebook-loss gradient reaching the encoder:", g_cb_ze)
print("commitment-loss gradient reaching the codebook:", g_cm_e)
print("commitment gradient = 2 beta (z_e - e) / n:", torch.allclose(g_cm, 2 * 0.25 * (z_e.detach() - e) / z_e.numel()))
assert torch.allclose(q.z_q.detach(), e) and torch.allclose(g_dec, w) and g_dec_cb is None and g_cb_ze is None and g_cm_e is None
assert torch.allclose(g_cm, 2 * 0.25 * (z_e.detach() - e) / z_e.numel())

# %% [markdown]
# **Exercises 3.1-3.3 — vector quantisation by hand.** The function takes plain tensors and returns one; the cell
# after it checks your code against the library's on random inputs and says what is wrong. The rest of the notebook
# uses the library, so it runs either way.

# %% tags=["exercise-3.1"]
def my_nearest_code(z, codebook):
    """Exercise 3.1: for each row of z (N, D), the index of the nearest codebook row (K, D) in Euclidean distance.

    Returns (N,) integer indices. Hint: ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2, or torch.cdist.
    """
    ### BEGIN SOLUTION
    return torch.cdist(z, codebook).argmin(dim=1)
    ### END SOLUTION


# %% tags=["exercise-3.2"]
def my_straight_through(z_e, z_q):
    """Exercise 3.2: a tensor whose VALUE is z_q and whose GRADIENT goes to z_e unchanged (van den Oord et al. 2017)."""
    ### BEGIN SOLUTION
    return z_e + (z_q - z_e).detach()
    ### END SOLUTION


# %% tags=["exercise-3.3"]
def my_vq_losses(z_e, z_q, beta):
    """Exercise 3.3: (codebook loss, commitment loss) = (||sg[z_e] - z_q||^2, beta ||z_e - sg[z_q]||^2), each a mean.

    sg = stop-gradient (.detach()): the codebook loss moves only the codes, the commitment loss only the encoder.
    """
    ### BEGIN SOLUTION
    return F.mse_loss(z_q, z_e.detach()), beta * F.mse_loss(z_e, z_q.detach())
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
for exercise_id, fn in [("3.1", my_nearest_code), ("3.2", my_straight_through), ("3.3", my_vq_losses)]:
    check(exercise_id, fn)

# %% [markdown]
# ## 2. A VQ-VAE on MNIST — and the dead-code problem
#
# 64 codes of dimension 16, a 7 × 7 grid: every digit becomes 49 tokens, i.e. 49 × log₂ 64 = 294 bits.
# The codebook starts as the common default, uniform in ±1/K: all codes sit in a tiny ball near the origin,
# while encoder outputs spread out. Only the codes that happen to be nearest to some encoder output are ever
# selected — and only selected codes receive a codebook gradient. The rest are **dead codes**.
#
# Two runs of 300 steps (batches of 32 digits), same seed: plain VQ-VAE, and one that **restarts dead codes** at
# random current encoder outputs (the remedy of Dhariwal et al. 2020, Jukebox) every 50 steps during the first
# half of training — steps 50, 100 and 150 — so the decoder has the second half to learn what the moved codes
# mean. Watch codebook usage and **perplexity** exp(H(code frequencies)) — the effective number of codes in use —
# on the first 1000 test digits.

# %%
def train_vqvae(restart_every=None, steps=300, seed=0):
    seed_everything(seed)
    model = VQVAE(channels=1, n_codes=64, code_dim=16, width=32).to(device)
    usage = {"step": [], "perplexity": [], "codes_used": []}
    probe = test_x[:1000]

    def on_sample(trainer, step):
        tokens = model.encode(probe)
        usage["step"].append(step)
        usage["perplexity"].append(perplexity(tokens, 64).item())
        usage["codes_used"].append(int(tokens.unique().numel()))
        if restart_every and step % restart_every == 0 and step <= steps // 2:
            with torch.no_grad():
                x = train_x[torch.randperm(len(train_x), generator=torch.Generator().manual_seed(step))[:512]]
                z = model.encoder(x)
                counts = torch.bincount(model.quantizer(z).indices.flatten(), minlength=64)
                model.quantizer.restart_dead_codes(z, counts, torch.Generator().manual_seed(step))

    cfg = TrainConfig(steps=steps, lr=2e-3, warmup_steps=20, lr_schedule="cosine", log_every=25,
                      sample_every=25)
    trainer = Trainer(model, vqvae_loss, epoch_batches(train_x, batch_size=32, seed=seed), cfg,
                      sample_fn=on_sample)
    trainer.fit()
    return model, trainer.history, usage


vq_plain, h_plain, u_plain = train_vqvae(None)
vq_restart, h_restart, u_restart = train_vqvae(50)

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
for (name, h, u) in (("plain", h_plain, u_plain), ("dead-code restarts", h_restart, u_restart)):
    axes[0].plot(h.step, h.logs["reconstruction"], label=name)
    axes[1].plot(u["step"], u["codes_used"], label=name)
    axes[2].plot(u["step"], u["perplexity"], label=name)
axes[0].set_yscale("log")
axes[0].set_title("reconstruction MSE (train)")
axes[1].set_title("codes used on 1000 test digits (of 64)")
axes[2].set_title("perplexity of the code frequencies")
for ax in axes:
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()


@torch.no_grad()
def tokenizer_report(model, images):
    tokens = model.encode(images)
    recon = model.decode(tokens)
    return {"mse": F.mse_loss(recon, images).item(), "psnr": psnr(recon, images),
            "codes_used": int(tokens.unique().numel()), "perplexity": perplexity(tokens, model.vocab_size).item()}


rep_plain, rep_restart = tokenizer_report(vq_plain, test_x[:1000]), tokenizer_report(vq_restart, test_x[:1000])
for name, r in (("plain", rep_plain), ("restarts", rep_restart)):
    print(f"{name:9s}: test PSNR {r['psnr']:.2f} dB, codes used {r['codes_used']}/64, perplexity {r['perplexity']:.1f}")
assert rep_restart["codes_used"] > rep_plain["codes_used"] and rep_restart["perplexity"] > rep_plain["perplexity"]
assert rep_restart["psnr"] > rep_plain["psnr"] > 15

# %% [markdown]
# Without restarts the codebook collapses onto a minority of its codes. Restarting dead codes puts the whole
# vocabulary to work — every code used, perplexity about four times higher — and with it the reconstruction
# improves by 1.3 dB (one run of each, same seed and batches): a larger effective vocabulary carries more bits
# per token. A restart can cost
# a brief spike in the training loss (step 50: the moved codes decode to nonsense at first), which is why the
# restarts stop halfway, leaving the decoder time to adapt. (The VQ-VAE paper's appendix also updates the
# codebook by an exponential moving average of the encoder outputs assigned to each code, instead of the codebook
# loss. That changes how used codes move, not which codes are used: a code that is never assigned never moves,
# so EMA updates alone do not revive dead codes — restarts, or initialising codes from encoder outputs, do.)
#
# Here is what the tokens look like: each digit is now a 7 × 7 grid of integers in 0…63.

# %%
with torch.no_grad():
    digits = test_x[:6]
    tokens = vq_restart.encode(digits)
    recon = vq_restart.decode(tokens)
fig, axes = plt.subplots(3, 6, figsize=(10, 5.4))
for i in range(6):
    axes[0, i].imshow(digits[i, 0].cpu(), cmap="gray", vmin=-1, vmax=1)
    axes[1, i].imshow(tokens[i].cpu() % 20, cmap="tab20", vmin=0, vmax=19)
    for (r, c), t in np.ndenumerate(tokens[i].cpu().numpy()):
        axes[1, i].text(c, r, str(t), ha="center", va="center", fontsize=5.5)
    axes[2, i].imshow(recon[i, 0].cpu(), cmap="gray", vmin=-1, vmax=1)
for ax in axes.flat:
    ax.set_axis_off()
axes[0, 0].set_title("image", loc="left")
axes[1, 0].set_title("7x7 tokens", loc="left")
axes[2, 0].set_title("decoded tokens", loc="left")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. DALL-E's dVAE: the Gumbel-softmax relaxation
#
# Instead of a nearest-neighbour snap, the dVAE's encoder outputs **logits over K tokens** at every grid
# position: q(z | x) is a categorical distribution, the prior is uniform, and the loss is the (β-weighted)
# negative ELBO, reconstruction + β · KL(q ‖ U(K)). Sampling a token is not differentiable; the
# **Gumbel-max trick** writes the sample as a deterministic function of the logits and independent noise,
#
# $$k = \arg\max_j (\ell_j + g_j), \quad g_j = -\log(-\log u_j),\ u_j \sim U(0,1) \;\Longrightarrow\; k \sim \mathrm{softmax}(\ell),$$
#
# and the **Gumbel-softmax** (Jang et al. 2017, Eq. 2) replaces the argmax by a tempered softmax,
# y = softmax((ℓ + g)/τ): differentiable, and one-hot in the limit τ → 0. Checks: the argmax frequencies match
# softmax(ℓ), and lowering τ makes the relaxed samples nearly one-hot.

# %%
# NBVAL_CHECK_OUTPUT
logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
n = 200_000
y = gumbel_softmax(logits.repeat(n, 1), tau=1.0, generator=torch.Generator().manual_seed(0))
freq = torch.bincount(y.argmax(1), minlength=4).float() / n
print("softmax(logits)         :", F.softmax(logits, 0).numpy().round(3))
print("frequency of argmax(l+g):", freq.numpy().round(3))
assert torch.allclose(freq, F.softmax(logits, 0), atol=0.005)
for tau in (4.0, 1.0, 0.25, 1 / 16):
    y = gumbel_softmax(logits.repeat(10_000, 1), tau=tau, generator=torch.Generator().manual_seed(1))
    print(f"tau = {tau:6.4f}: mean of the largest entry {y.max(1).values.mean().item():.3f}")

# %% [markdown]
# At high τ the decoder is fed blurry mixtures of code vectors; at τ = 1/16 it sees (almost) single tokens. But
# to *tokenise* an image DALL-E takes the argmax — a hard one-hot, no noise. A decoder trained only on soft
# mixtures has never seen hard tokens, so DALL-E **anneals τ from 1 to 1/16** during training (Appendix A.2).
# Two short dVAE runs on MNIST (64 tokens, 7 × 7 grid; 300 steps of 32 digits), identical except for the
# temperature schedule; each is evaluated on the first 1000 test digits both the way it was trained (relaxed
# samples at its final τ) and the way it is used (argmax tokens).

# %%
def train_dvae(tau_end, steps=300, seed=0):
    seed_everything(seed)
    model = DiscreteVAE(channels=1, vocab_size=64, embed_dim=16, width=16).to(device)
    batches = annealed_batches(epoch_batches(train_x, batch_size=32, seed=seed), steps, tau_start=1.0,
                               tau_end=tau_end, kl_weight=1.0, kl_warmup=0)
    cfg = TrainConfig(steps=steps, lr=2e-3, warmup_steps=20, lr_schedule="cosine", log_every=25)
    trainer = Trainer(model, dvae_loss, batches, cfg)
    trainer.fit()
    return model, trainer.history


@torch.no_grad()
def soft_vs_hard(model, tau, images):
    soft = model(images, tau, generator=torch.Generator().manual_seed(0))[0].clamp(-1, 1)
    hard = model.decode(model.encode(images))
    return psnr(soft, images), psnr(hard, images)


dvae_annealed, h_annealed = train_dvae(1 / 16)
dvae_fixed, h_fixed = train_dvae(1.0)
eval_x = test_x[:1000]
ann_soft, ann_hard = soft_vs_hard(dvae_annealed, 1 / 16, eval_x)
fix_soft, fix_hard = soft_vs_hard(dvae_fixed, 1.0, eval_x)
print(f"tau annealed 1 -> 1/16: argmax tokens {ann_hard:.2f} dB   (relaxed samples at its final tau {ann_soft:.2f} dB)")
print(f"tau fixed at 1        : argmax tokens {fix_hard:.2f} dB   (relaxed samples at its final tau {fix_soft:.2f} dB)")
assert ann_hard > fix_hard

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
for name, h in (("τ annealed 1 → 1/16", h_annealed), ("τ fixed at 1", h_fixed)):
    axes[0].plot(h.step, h.logs["reconstruction"], label=name)
    axes[1].plot(h.step, h.logs["perplexity"], label=name)
axes[0].set_yscale("log")
axes[0].set_title("training reconstruction MSE (relaxed samples)")
axes[1].set_title("perplexity of argmax tokens in the batch")
for ax in axes:
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
with torch.no_grad():
    show_grid(torch.cat([eval_x[:12], dvae_annealed.decode(dvae_annealed.encode(eval_x[:12])),
                         dvae_fixed.decode(dvae_fixed.encode(eval_x[:12]))]), nrow=12, scale=0.9,
              title="test digits | from argmax tokens: τ annealed | τ fixed at 1")
plt.show()

# %% [markdown]
# Decoded from the argmax tokens — the way the tokenizer is used — the annealed model reconstructs better, if only
# by a fraction of a decibel in this single short run: its decoder was trained, by the end, on nearly one-hot
# inputs, which is what argmax tokens are. The model kept at τ = 1 learned to decode noisy mixtures of code
# vectors. (The relaxed samples carry Gumbel noise, i.e. they
# *sample* tokens from q instead of taking the most likely one, which is why they score lower than the argmax
# for the annealed model.)
#
# One more practical note: DALL-E raises the KL weight β from 0 to 6.6 over its first 5000 updates. At our scale
# a weight that *starts* at 0 lets every encoder logit saturate on one token within a few dozen steps — codebook
# collapse, perplexity 1 — so the course keeps β constant from the first step (`kl_warmup=0`).

# %% [markdown]
# **Exercise 3.4 — a Gumbel-softmax sample.** The function takes plain tensors and returns one; the cell after it
# checks your code against the library's on random inputs and says what is wrong. The rest of the notebook uses the
# library, so it runs either way. Uniform noise u is given, so the result is checkable.

# %% tags=["exercise-3.4"]
def my_gumbel_softmax_sample(logits, u, tau):
    """Exercise 3.4: softmax((logits + g) / tau) over the last dimension, with Gumbel noise g = -log(-log u).

    logits, u: (N, K), u uniform in (0, 1); tau > 0. As tau -> 0 this becomes the one-hot of argmax(logits + g).
    """
    ### BEGIN SOLUTION
    g = -torch.log(-torch.log(u))
    return torch.softmax((logits + g) / tau, dim=-1)
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("3.4", my_gumbel_softmax_sample)

# %% [markdown]
# ## 4. The course's tokenizer: a dVAE for the shapes world
#
# The DALL-E chapter generates shapes-world scenes from captions, so the course ships a dVAE trained on them:
# 32 × 32 RGB → an **8 × 8 grid of tokens from a vocabulary of 256**, trained with the recipe
# `shapes_dvae` (`t2ilib/recipes/vae.py`: τ annealed 1 → 1/16, constant KL weight, a few thousand steps on
# the CPU). An image of 3072 numbers becomes 64 tokens = 512 bits. Load it like any shipped model:

# %%
tokenizer = load_pretrained("shapes_dvae", device)
scenes = ShapesWorld(size=500, resolution=32, split="test").batch(0, 500)
t0 = time.perf_counter()
with torch.no_grad():
    shape_tokens = tokenizer.encode(scenes.images.to(device))
    shape_recon = tokenizer.decode(shape_tokens)
elapsed = time.perf_counter() - t0
report = {"psnr": psnr(shape_recon, scenes.images.to(device)), "codes": int(shape_tokens.unique().numel()),
          "perplexity": perplexity(shape_tokens, tokenizer.vocab_size).item()}
print(f"tokens per image: {tuple(shape_tokens.shape[1:])}, vocabulary {tokenizer.vocab_size}; "
      f"{len(shape_tokens)} test scenes tokenised and decoded in {elapsed:.1f} s")
print(f"round-trip PSNR {report['psnr']:.2f} dB; codes used {report['codes']}/{tokenizer.vocab_size}, "
      f"perplexity {report['perplexity']:.1f}")
assert shape_tokens.shape[1:] == (8, 8) and report["psnr"] > 24

# %%
idx = list(range(8))
fig, axes = plt.subplots(3, 8, figsize=(13, 5.2))
for j, i in enumerate(idx):
    axes[0, j].imshow(((scenes.images[i].permute(1, 2, 0) + 1) / 2).clamp(0, 1))
    axes[0, j].set_title("\n".join(textwrap.wrap(scenes.captions[i], 22)), fontsize=7)
    axes[1, j].imshow(shape_tokens[i].cpu(), cmap="nipy_spectral", vmin=0, vmax=255)
    axes[2, j].imshow(((shape_recon[i].cpu().permute(1, 2, 0) + 1) / 2).clamp(0, 1))
for ax in axes.flat:
    ax.set_axis_off()
axes[1, 0].text(-1, 3.5, "tokens", rotation=90, va="center", ha="right")
axes[2, 0].text(-3, 16, "decoded", rotation=90, va="center", ha="right")
fig.tight_layout()
plt.show()

# %% [markdown]
# Colour, size and place survive (28 dB on held-back scenes), but small objects come back soft, and the outline is
# what suffers: a square's corners round off, a small cross thickens into a blob. PSNR hardly notices (the
# background is most of the image). The course's shapes judge (chapter 6c) does: it reads every attribute of an
# image and counts it right only if all match the caption. On one-object test scenes, originals against the same
# scenes rebuilt from their tokens:

# %%
probe = load_pretrained("shapes_probe", "cpu")
single = ShapesWorld(size=300, resolution=32, split="test", n_objects=1).batch(0, 300)
with torch.no_grad():
    rebuilt_single = tokenizer.decode(tokenizer.encode(single.images.to(device))).cpu()
judged = {name: sum(caption_matches(probe, x, single.captions)) / 300
          for name, x in (("originals", single.images), ("rebuilt from tokens", rebuilt_single))}
print(", ".join(f"{name}: {v:.1%} read exactly as captioned" for name, v in judged.items()), "(300 scenes)")
assert judged["originals"] == 1.0 and judged["rebuilt from tokens"] < judged["originals"]

# %% [markdown]
# So after this tokenizer's round trip about half of the one-object scenes are misread: whatever a transformer draws through these 64 tokens, the
# judge cannot read more than this. (DALL-E's own dVAE has the same weakness at its scale: in the paper's Figure 1,
# fine detail such as fur texture, writing on a storefront and thin lines is sometimes lost or distorted by the
# round trip.) Note also that even the empty background is spread over several different tokens: the dVAE has many
# near-synonyms for "nothing here", chosen by context — one more regularity the transformer will have to learn.
#
# **The VQ-VAE of section 1 does better here.** The course also ships `shapes_vqvae`: the same grid and vocabulary
# (8 × 8 tokens of 256) from a VQ-VAE trained with section 2's dead-code restarts (recipe `shapes_vqvae` in
# `t2ilib/recipes/vae.py`). The same 300 scenes through both tokenizers:

# %%
vq_tokenizer = load_pretrained("shapes_vqvae", device)
with torch.no_grad():
    rebuilt_vq = vq_tokenizer.decode(vq_tokenizer.encode(single.images.to(device))).cpu()
judged["rebuilt by shapes_vqvae"] = sum(caption_matches(probe, rebuilt_vq, single.captions)) / 300
print(f"dVAE: {judged['rebuilt from tokens']:.1%}, VQ-VAE: {judged['rebuilt by shapes_vqvae']:.1%} of the 300 "
      f"one-object scenes read exactly as captioned after the round trip; PSNR {psnr(rebuilt_single, single.images):.1f}"
      f" vs {psnr(rebuilt_vq, single.images):.1f} dB")
show_grid(torch.cat([single.images[:10], rebuilt_single[:10], rebuilt_vq[:10]]), nrow=10, scale=1.3,
          title="originals | rebuilt by shapes_dvae | rebuilt by shapes_vqvae")
plt.show()
assert judged["rebuilt by shapes_vqvae"] > judged["rebuilt from tokens"]

# %% [markdown]
# On these 300 scenes the judge still reads 93 % of the VQ-VAE's round trips right against 49 % of the dVAE's, and
# the pictures show why: the dVAE turns the small triangle, the two small crosses and the hexagon into round
# blobs, the VQ-VAE keeps their corners (a single image each). (The recipes' own measurement, 500 test scenes each: 92.6 % of one-object and 79.6 %
# of two-object scenes for the VQ-VAE, 48.4 % and 27.2 % for the dVAE.) A likely reason, from how the two are
# trained: the dVAE's decoder learns from *noisy relaxed* samples — wherever the encoder is unsure, and the KL pull
# towards the uniform prior keeps it unsure, the Gumbel noise hands the decoder a different code than the argmax
# used later — so it learns to draw what a mix of plausible codes looks like, a rounded shape. The VQ-VAE's decoder
# learns from exactly the hard codes it will be given. This is a finding at this scale, not a verdict on dVAEs:
# DALL-E's, with 8192 codes and far more training, served it well. The DALL-E chapter draws through the VQ-VAE —
# one of the places where the miniature differs from the real system.
#
# **A better painter for the same tokens.** Once a transformer has been trained on a tokenizer's codes, a new
# tokenizer would mean a new transformer. But the codes come from the encoder and the codebook alone. Freeze those
# two and go on training only the decoder, and every image keeps exactly the tokens it had while the decoder learns
# to draw them more sharply: whatever was trained on the tokens stays valid. Stable Diffusion's autoencoder was
# improved this way after the diffusion model had been trained on its latents (the released "ft-EMA" and "ft-MSE"
# decoders). The course ships `shapes_vqvae_ft`: `shapes_vqvae` with its decoder alone trained for 20 000 more steps
# of 128 scenes on the same squared error (`freeze_tokens` and `decoder_loss` in `t2ilib/vae/vq.py`; recipe
# `shapes_vqvae_ft`). The same 300 scenes again:

# %%
ft_tokenizer = load_pretrained("shapes_vqvae_ft", device)
vq_state, ft_state = vq_tokenizer.state_dict(), ft_tokenizer.state_dict()
decoder_keys = [k for k in vq_state if k.startswith("decoder.")]
frozen_same = all(torch.equal(vq_state[k], ft_state[k]) for k in vq_state if k not in decoder_keys)
decoder_changed = sum(not torch.equal(vq_state[k], ft_state[k]) for k in decoder_keys)
with torch.no_grad():
    tokens_vq = vq_tokenizer.encode(single.images.to(device))
    tokens_ft = ft_tokenizer.encode(single.images.to(device))
    rebuilt_ft = ft_tokenizer.decode(tokens_ft).cpu()
ok_vq = caption_matches(probe, rebuilt_vq, single.captions)
ok_ft = caption_matches(probe, rebuilt_ft, single.captions)
judged["rebuilt by shapes_vqvae_ft"] = sum(ok_ft) / 300
print(f"encoder and codebook identical: {frozen_same}; decoder tensors changed: {decoder_changed} of "
      f"{len(decoder_keys)}; the same tokens for all 300 scenes: {torch.equal(tokens_vq, tokens_ft)}")
print(f"read exactly as captioned: shapes_vqvae {judged['rebuilt by shapes_vqvae']:.1%}, shapes_vqvae_ft "
      f"{judged['rebuilt by shapes_vqvae_ft']:.1%}; PSNR {psnr(rebuilt_vq, single.images):.1f} vs "
      f"{psnr(rebuilt_ft, single.images):.1f} dB")
fixed = [i for i in range(300) if ok_ft[i] and not ok_vq[i]]
broken = [i for i in range(300) if ok_vq[i] and not ok_ft[i]]
print(f"scenes only the fine-tuned decoder gets right: {len(fixed)}; only the original: {len(broken)}")
shown = fixed[:7] + broken[:1]
show_grid(torch.cat([single.images[shown], rebuilt_vq[shown], rebuilt_ft[shown]]), nrow=len(shown), scale=1.6,
          title=f"originals | shapes_vqvae | shapes_vqvae_ft  ({len(shown) - len(broken[:1])} scenes only the "
                f"fine-tuned decoder gets right, then {len(broken[:1])} only the original gets right)")
plt.show()
assert frozen_same and decoder_changed == len(decoder_keys) and torch.equal(tokens_vq, tokens_ft)
assert judged["rebuilt by shapes_vqvae_ft"] > judged["rebuilt by shapes_vqvae"]

# %% [markdown]
# The encoder and the codebook are bit for bit those of `shapes_vqvae`, so all 300 scenes get exactly the same
# tokens, while every one of the decoder's 18 tensors has changed. The judge now reads 97.7 % of the round trips
# right instead of 93.0 % (15 scenes gained, 1 lost), and the PSNR rises from 35.4 to 38.3 dB. The pictures show
# where: the first decoder pinches the arms of small crosses towards a diamond and rounds off hexagons; the
# fine-tuned one keeps the crosses' square arm ends and enough of the hexagons' corners for the judge. The last
# scene, a small purple circle, is the one it loses. (The recipe's own measurement, 500 test scenes each: 97.0 % of
# one-object and 91.6 % of two-object scenes, up from 92.6 % and 79.6 %.) The first decoder was simply
# undertrained: it had 5000 steps, shared with a codebook that kept moving; the fine-tune gives it 20 000 more on
# codes that stay put. The DALL-E chapter's transformer, trained on `shapes_vqvae`'s codes, draws through this
# decoder without any retraining.
#
# Tokens are mostly *local*: a token describes its 4 × 4-pixel patch, plus context from the encoder's and
# decoder's receptive fields. So we can edit an image by editing its tokens — take the left half of the grid of a
# scene with an object on the left, and the right half of one with an object on the right:

# %%
with torch.no_grad():
    pos = [s.attributes().get("position") for s in scenes.scenes]
    a, b = shape_tokens[pos.index("left")].clone(), shape_tokens[pos.index("right")].clone()
    mixed = b.clone()
    mixed[:, :4] = a[:, :4]
    random_grid = torch.randint(0, tokenizer.vocab_size, (1, 8, 8), generator=torch.Generator().manual_seed(0))
    pictures = tokenizer.decode(torch.stack([a, b, mixed]).to(device))
    noise = tokenizer.decode(random_grid.to(device))
show_grid(torch.cat([pictures, noise]), nrow=4, scale=2.2,
          title="A | B | left half of A's tokens + right half of B's | 64 random tokens")
plt.show()

# %% [markdown]
# Random tokens decode to scattered blobs, not a scene any caption describes: the decoder knows what each token
# *looks like*, not which token grids make sense. Learning that — a distribution over token grids, conditioned on a caption — is the
# job of the transformer in the DALL-E chapter. Both shipped tokenizers have the same interface:
#
# ```python
# tokenizer = load_pretrained("shapes_vqvae_ft")  # VQVAE, vocab_size 256 ("shapes_vqvae": the same tokens, the
#                                                  # first decoder; "shapes_dvae": a DiscreteVAE)
# tokens = tokenizer.encode(images)                # (N, 8, 8) int64
# images = tokenizer.decode(tokens)                # (N, 3, 32, 32) in [-1, 1]
# ```
#
# ## What to remember
# * VQ-VAE: nearest-code quantisation, straight-through gradients, a codebook loss that moves codes and a
#   commitment loss (β = 0.25) that moves the encoder — each checked to land where Eq. 3 says.
# * Codebooks die: unused codes never learn. Measure usage and perplexity; restart dead codes.
# * DALL-E's dVAE: a categorical per position, relaxed with Gumbel-softmax; anneal τ so that the decoder also
#   works on the hard argmax tokens used at generation time.
# * An image becomes a short sequence of integers — ready for a transformer.
# * Judge a tokenizer by what survives its round trip, not by PSNR alone: with the same 8 × 8 grid of 256 codes,
#   the course's VQ-VAE keeps 93 % of the one-object scenes readable, its dVAE 49 % (300 test scenes).
# * A tokenizer's decoder can be improved after the fact: freeze the encoder and the codebook, train the decoder
#   alone, and every token stays what it was (97.7 % readable with the same VQ-VAE tokens).
#
# **Check yourself.** (1) In VQ-VAE, which parameters does the codebook loss train, and which the commitment loss?
# (2) Why does an EMA codebook update not revive a dead code? (3) What happens to a Gumbel-softmax sample as τ → 0,
# and why anneal τ? (4) A transformer has been trained on a tokenizer's codes. Why may you go on training the
# tokenizer's decoder, but not its encoder?
