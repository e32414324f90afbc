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
# # Chapter 8 — DALL-E 2: drawing from CLIP's image embedding (unCLIP)
#
# DALL-E 2 (Ramesh et al. 2022, "Hierarchical Text-Conditional Image Generation with CLIP Latents") is not a GAN, not
# a VAE, and not a bigger DALL-E. The paper calls it **unCLIP**: it runs CLIP's image encoder backwards. Three parts:
#
# 1. **CLIP** (chapter 7a), trained first and frozen: a caption y → a text embedding z_t, an image x → an image
#    embedding z_i, in one space.
# 2. A **prior** P(z_i | y): from a caption (and its z_t), a CLIP *image* embedding that could belong to a picture
#    of it. DALL-E 2's best prior is a diffusion model over embedding vectors.
# 3. A **decoder** P(x | z_i, y): a diffusion model (GLIDE's UNet) that paints an image from an image embedding. It
#    inverts CLIP's image encoder. The paper's decoder also keeps GLIDE's caption input (dropped half the time in
#    training) but found it "offers little help"; the course's decoder drops it: P(x | z_i), trained on images alone.
#
# Together P(x | y) = P(x | z_i, y) P(z_i | y): since z_i is a deterministic function of x, sampling z_i from the
# prior and then x from the decoder samples x given y (paper, Sec. 2). At full scale the decoder paints 64 × 64
# images (3.5 billion parameters) and two more diffusion models (700 M and 300 M parameters) upsample them to 256 and
# 1024 px; the prior has 1 billion parameters; decoder and prior were trained on about 250 million images, over the
# 1024-dim embeddings of a ViT-H/16 CLIP (paper, App. C).
#
# This chapter builds all three at toy scale on the shapes world: the course's CLIP (chapter 7a), a diffusion prior
# (a 4-layer GPT-2 over embeddings, predicting the clean embedding as the paper does) and a decoder (the course's
# UNet, 32 px, conditioned on z_i through the time embedding and four context tokens).
#
# **You will:** measure the gap between CLIP's text and image embeddings that makes a prior necessary; see what the
# decoder keeps of an image (variations); train a prior for a minute and write the DDIM step of an x_0-predicting
# model; write spherical interpolation and a text diff, the edits only unCLIP can make; and read the measured
# fidelity of unCLIP with and without its prior.
# **Prerequisites:** 5 (DDIM), 6b-6c (guidance, the shapes world), 7a (CLIP).

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from t2ilib import get_device, seed_everything
from t2ilib.checkpoint import load_pretrained
from t2ilib.data.shapes import ShapesWorld
from t2ilib.diffusion.samplers import ddim_step
from t2ilib.eval.shapes_probe import caption_matches
from t2ilib.eval.unclip_benchmark import prior_similarity
from t2ilib.grading import check
from t2ilib.recipes.unclip import PRIOR_MODEL, prior_batches, prior_loss
from t2ilib.train import TrainConfig, Trainer
from t2ilib.unclip import DiffusionPrior, Unclip, interpolate, slerp, text_diff, variations
from t2ilib.viz import plot_loss, show_captioned

device = get_device()
seed_everything(0)

# %% [markdown]
# ## 1. Why a prior? Text and image embeddings are not the same point
#
# CLIP was trained so that a caption's embedding is *closer* to its own image's embedding than to the other images'
# in a batch: a ranking, not an equality. How close are they actually? 500 test scenes of the shapes world:

# %%
clip = load_pretrained("clip", device)
probe = load_pretrained("shapes_probe", "cpu")
scenes = ShapesWorld(500, 32, seed=11, split="test").batch(0, 500)
with torch.no_grad():
    z_i = clip.encode_images(scenes.images.to(device)).cpu()
    z_t = clip.encode_text(scenes.captions).cpu()
matching = (z_i * z_t).sum(-1)
others = (z_i @ z_t.T).fill_diagonal_(float("nan"))
gap = (z_i.mean(0) - z_t.mean(0)).norm()
print(f"cosine(z_i, z_t) of matching pairs: mean {matching.mean():.3f} (min {matching.min():.3f}, max "
      f"{matching.max():.3f})")
print(f"cosine(z_i, z_t) of non-matching pairs: mean {others.nanmean():.3f}")
print(f"cosine between two image embeddings: mean {(z_i @ z_i.T).fill_diagonal_(float('nan')).nanmean():.3f}; "
      f"between two text embeddings: {(z_t @ z_t.T).fill_diagonal_(float('nan')).nanmean():.3f}")
print(f"distance between the mean image embedding and the mean text embedding: {gap:.3f}")
assert others.nanmean() < matching.mean() < 0.99 and gap > 0.05

# %% [markdown]
# With this CLIP a matching image and caption are close: cosine 0.92 on average (0.79 to 0.96), against 0.03 for
# non-matching pairs. (In OpenAI's CLIP matching pairs typically score about 0.3, which is why CLIPScore rescales
# cosines by 2.5; Hessel et al. 2021. The course's CLIP, trained on one small world, aligns its two modalities much
# more tightly.) Close is still not the same point. The mean image embedding and the mean caption embedding are 0.16
# apart — the two clouds sit in different places on the sphere (the *modality gap*, Liang et al. 2022) — and one
# caption stands for many pictures (every position and size it allows), while z_t is a single point. The decoder
# below was trained on image embeddings only; it has never been given a point like z_t. The prior's job is to carry a
# caption into the image cloud: to sample a z_i that a picture of the caption could have. Section 6 measures what
# feeding the decoder z_t directly does instead.
#
# ## 2. The decoder: an image from its embedding
#
# DALL-E 2's decoder is GLIDE's UNet with the CLIP image embedding added in two places (Sec. 2.1): "projecting and
# adding CLIP embeddings to the existing timestep embedding, and ... projecting CLIP embeddings into four extra tokens
# of context". The course's UNet has both paths already (chapter 6c's pooled vector and cross-attention). For
# classifier-free guidance the embedding is set to zero 10 % of the time in training (Sec. 2.1 says 10 %, Sec. 5.1
# 5 %), so the null condition is the zero vector.

# %%
decoder = load_pretrained("unclip_decoder", device)
z = z_i[:2].to(device)
cond = decoder.conditioning(z)
print(f"decoder: {sum(p.numel() for p in decoder.parameters()) / 1e6:.2f} M parameters; conditioning: vector "
      f"{tuple(cond['cond'].shape)} (added to the time embedding) and context tokens {tuple(cond['context'].shape)} "
      f"(cross-attention)")
assert cond["context"].shape == (2, decoder.context_tokens, decoder.context_dim)

# %% [markdown]
# **Variations** (Sec. 3.1): encode an image with CLIP and decode its embedding several times. What comes back the
# same is what the embedding holds; what changes is what CLIP threw away. (The paper starts from the image's own
# DDIM-inverted noise and samples with some randomness, η > 0; here each variation starts from fresh noise.)

# %%
originals = scenes.images[:4]
varied = variations(decoder, clip, originals.to(device), n=5, seed=1)
show_captioned(torch.cat([torch.cat([o[None], v]) for o, v in zip(originals, varied.split(5))]),
               [t for c in scenes.captions[:4] for t in ["original: " + c] + ["variation"] * 5], ncols=6, size=1.5,
               width=26)
plt.show()
kept = caption_matches(probe, varied, [c for c in scenes.captions[:4] for _ in range(5)])
print(f"the probe reads {sum(kept)} of {len(kept)} variations as their original's caption")

# %% [markdown]
# One object comes back almost untouched: the same shape, colour and size in the same place, moved by two or three
# pixels at most. The embedding holds the scene, and the decoder redraws it. Two objects are where it slips (third
# row): the circle stays left of the cross in every variation, but the two colours wander between the shapes (a yellow
# circle with an orange cross, both yellow, both orange) and the pair drifts up and to the right. The probe agrees: 16
# of the 20 variations read as their original's caption. Measured over 500 renders per caption group
# (`python -m t2ilib.eval.unclip_benchmark`, section 6's table), the decoder keeps the caption of 100 % of one-object
# renders of seen (colour, shape) pairs and 91 % of held-out ones, but only 49 % and 30 % of two-object renders: what
# CLIP's 96 numbers keep of a two-object scene is mostly *which* objects, less *which colour goes with which shape*.
# That is unCLIP's ceiling: whatever the prior does, the decoder cannot draw more than the embedding holds.
#
# ## 3. The prior: a diffusion model over embeddings
#
# DALL-E 2's diffusion prior is "a decoder-only Transformer with a causal attention mask on a sequence consisting of,
# in order: the encoded text, the CLIP text embedding, an embedding for the diffusion timestep, the noised CLIP image
# embedding, and a final embedding whose output from the Transformer is used to predict the unnoised CLIP image
# embedding". It predicts the clean embedding directly (not the noise), with
#
# L_prior = E_{t, z_i^(t)} ‖ f_θ(z_i^(t), t, y) − z_i ‖².
#
# One more detail matters at this size: unit vectors in 96 dimensions have components of about 1/√96 ≈ 0.1, small
# next to the forward process's unit-variance noise; the prior works on √96 · z_i (as the open-source
# reimplementation does) and returns unit vectors.
#
# Sampling runs DDIM over the prior. With an x_0 prediction x̂_0, the implied noise is ε̂ = (z_t − √ᾱ_t x̂_0) / √(1 − ᾱ_t)
# and the deterministic step goes to z_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s) ε̂ (chapter 5, with the roles of ε and x_0
# exchanged).
#
# **Exercise 8.2 — DDIM from an x_0 prediction.** Given z_t, the prediction x̂_0 and the two ᾱ, return z_s.

# %% tags=["exercise-8.2"]
def my_ddim_step_from_x0(z_t, x0_hat, abar_t, abar_s):
    """Exercise 8.2: the deterministic DDIM step z_t -> z_s of a model that predicts x_0."""
    ### BEGIN SOLUTION
    eps = (z_t - abar_t ** 0.5 * x0_hat) / (1 - abar_t) ** 0.5
    return abar_s ** 0.5 * x0_hat + (1 - abar_s) ** 0.5 * eps
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("8.2", my_ddim_step_from_x0)

# %% [markdown]
# Train a small prior for a minute (2 layers × 64 instead of the shipped 4 × 128), on CLIP embeddings of
# shapes-world scenes computed on the fly.

# %%
seed_everything(0)
small = DiffusionPrior(**{**PRIOR_MODEL, "width": 64, "layers": 2}).to(device)
trainer = Trainer(small, prior_loss(small, device), prior_batches(small, device, batch_size=64),
                  TrainConfig(steps=150, lr=2e-3, warmup_steps=15, log_every=10))
t0 = time.perf_counter()
trainer.fit()
loss = trainer.history.loss
print(f"{len(loss)} steps in {time.perf_counter() - t0:.0f} s; loss {sum(loss[:10]) / 10:.3f} (first 10) -> "
      f"{sum(loss[-10:]) / 10:.3f} (last 10); predicting 0 would score {1.0:.1f} (unit variance per component)")
plot_loss(trainer.history, title="diffusion prior (2 x 64), first 150 steps", log=False)
plt.show()
assert sum(loss[-10:]) / 10 < sum(loss[:10]) / 10

# %% [markdown]
# The shipped prior (`python -m t2ilib train unclip_prior`), measured on held-out renders: how close are its sampled
# embeddings to the true image embedding of a render of the caption, beside the two baselines that need no prior —
# the caption's own text embedding, and the training image whose embedding is nearest to it?

# %%
prior = load_pretrained("unclip_prior", device)
r = prior_similarity(prior, clip, n=200, steps=25, seed=0, bank=5000)
for what in ("prior", "text embedding", "nearest training image"):
    print(f"{what:24s} seen {r[what + ', seen']:.3f}   held-out {r[what + ', held-out']:.3f}")
assert r["prior, seen"] > r["text embedding, seen"]

# %% [markdown]
# The prior's samples are closer to the true image embedding (cosine 0.970 seen, 0.966 held-out) than either
# baseline: the caption's own text embedding (0.922 / 0.917: the gap of section 1) and the training image whose
# embedding is nearest to the caption's (0.928 / 0.821). The nearest-image baseline is the telling one: on seen
# (colour, shape) pairs a similar training picture exists, but for the held-out pairs none does, and it falls to
# 0.82, while the prior, which composes "green" and "circle" in embedding space, loses almost nothing. (200 renders
# per split here; the benchmark's 500 give 0.970 / 0.964, 0.923 / 0.917 and 0.942 / 0.827 with a bank of 10 000
# training images instead of 5000.)
#
# ## 4. Interpolation: walking on the sphere
#
# CLIP embeddings are unit vectors, so the path between two of them should stay on the sphere. Spherical
# interpolation (Shoemake 1985) walks the great-circle arc at an even pace:
#
# slerp(a, b, w) = sin((1 − w) Ω) / sin Ω · a + sin(w Ω) / sin Ω · b,   Ω = the angle between a and b.
#
# **Exercise 8.1 — slerp.**

# %% tags=["exercise-8.1"]
def my_slerp(a, b, w):
    """Exercise 8.1: spherical interpolation between rows of unit vectors a and b, at fraction w."""
    ### BEGIN SOLUTION
    omega = torch.arccos((a * b).sum(-1, keepdim=True).clamp(-1, 1))
    return (torch.sin((1 - w) * omega) * a + torch.sin(w * omega) * b) / torch.sin(omega)
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("8.1", my_slerp)

# %% [markdown]
# Decoding the embeddings along the arc between two scenes, all from the same starting noise x_T (the paper fixes
# the decoder's noise the same way, Sec. 3.2), so that only the embedding changes along a row:

# %%
pairs = [(0, 1), (2, 3)]
rows = torch.cat([interpolate(decoder, z_i[a], z_i[b], points=7, seed=5) for a, b in pairs])
show_captioned(rows, [f"w = {w:.2f}" for _ in pairs for w in torch.linspace(0, 1, 7).tolist()], ncols=7, size=1.5)
plt.show()
lerp_norm = ((z_i[0] + z_i[1]) / 2).norm().item()
print(f"the straight line's midpoint has length {lerp_norm:.3f}; slerp's {slerp(z_i[:1], z_i[1:2], 0.5).norm():.3f}")

# %% [markdown]
# The arc does not blend pixels: every picture along it is a clean scene of the world, not a cross-fade. In the first
# row the orange square holds until w = 1/3, turns into the blue diamond at w = 1/2, and the diamond then slides to the
# right, where the second scene has it. In the second row the objects leave one at a time, from a two-object scene
# to the single yellow square near the top; at w = 0 this starting noise even draws a third object (a yellow circle
# between the two), the kind of mistake the decoder makes on two-object embeddings. The printed lengths show why the
# path must be an arc: halfway along the straight line the vector has length 0.63, a point no image embedding ever
# occupies.
#
# ## 5. Text diffs: editing an image with words
#
# Sec. 3.3: to change an image's embedding z_i towards a caption change (old → new), take the text diff
# z_d = normalise(z_t(new) − z_t(old)) and rotate z_i towards it, z_θ = slerp(z_i, z_d, θ), θ from 0 up to a maximum
# "typically in [0.25, 0.50]". The paper decodes every z_θ from the image's own DDIM-inverted noise, so θ = 0 gives
# the image back; here all z_θ share one random noise, so θ = 0 gives a variation of it.
#
# **Exercise 8.3 — a text diff.** Return z_θ for an image embedding z_i, the two captions' text embeddings and θ
# (write the rotation out: the grader runs the cell on its own, without the notebook's imports).

# %% tags=["exercise-8.3"]
def my_text_diff(z_i, z_old, z_new, theta):
    """Exercise 8.3: the image embedding z_i turned by theta towards normalise(z_new - z_old) along the sphere."""
    ### BEGIN SOLUTION
    z_d = F.normalize(z_new - z_old, dim=-1)
    omega = torch.arccos((z_i * z_d).sum(-1, keepdim=True).clamp(-1, 1))  # slerp(z_i, z_d, theta), as in 8.1
    return (torch.sin((1 - theta) * omega) * z_i + torch.sin(theta * omega) * z_d) / torch.sin(omega)
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("8.3", my_text_diff)

# %%
world = ShapesWorld(200, 32, seed=13, split="test", n_objects=1)
first = next(i for i, c in enumerate(world.batch(0, 200).captions) if "red circle" in c)  # a scene with a red circle
edit = world.batch(first, 1)
thetas = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
with torch.no_grad():
    z_edit = clip.encode_images(edit.images.to(device))[0]
path = text_diff(clip, z_edit, "a red circle", "a blue circle", thetas)
noise = torch.randn((1, 3, 32, 32), generator=torch.Generator().manual_seed(7)).expand(len(thetas), -1, -1, -1)
edited = decoder.generate(path, noise=noise.contiguous(), seed=7)
show_captioned(torch.cat([edit.images, edited]), [f"original: {edit.captions[0]}"] + [f"θ = {t}" for t in thetas],
               ncols=7, size=1.6)
plt.show()

# %% [markdown]
# The circle keeps its size and place while its colour turns: red up to θ = 0.1, purple at θ = 0.2-0.3, blue from
# θ = 0.4, the range the paper names. Nothing else in the picture changes, because the text diff points only along
# the direction that separates "red circle" from "blue circle" in CLIP's space.
#
# ## 6. unCLIP end to end, with and without the prior
#
# caption → CLIP text embedding → prior → image embedding → decoder. To see what the prior is for, the same decoder
# is also fed the caption's *text* embedding directly, as if it were an image embedding.

# %%
unclip = Unclip(prior, decoder).eval()
captions = ["a large red circle left of a small blue square", "a small green triangle at the top"]
with_prior = unclip.generate([c for c in captions for _ in range(6)], seed=8)
without = unclip.generate([c for c in captions for _ in range(6)], use_prior=False, seed=8)
show_captioned(torch.cat([with_prior[:6], without[:6], with_prior[6:], without[6:]]),
               [f"{how}: {c}" for c in captions for how in ("prior", "no prior") for _ in range(6)], ncols=6,
               size=1.5, width=24)
plt.show()

# %% [markdown]
# In these pictures the prior's images draw the caption's shapes more cleanly: with the prior four of the six "small
# blue squares" are squares (the other two triangles); without it only one is, the others a blue blob between a
# triangle and a square, or a blue cross. The small green triangle at the top comes out right either way.
#
# **Measured** (`python -m t2ilib.eval.unclip_benchmark`, 500 captions per group, the same captions for every row,
# decoder guidance 3, 25 DDIM steps, prior guidance 1 with the best of two draws by dot product with z_t as in the
# paper; a single run: with 500 captions a row's standard error is up to 2.2 points, so two rows differ only when they
# are about 6 points apart):
#
# | model | image embedding | seen, 1 object | seen, 2 objects | held-out, 1 object | held-out, 2 objects |
# |---|---|---|---|---|---|
# | decoder's ceiling | CLIP's embedding of the caption's own render | 100.0 % | 49.4 % | 91.2 % | 29.6 % |
# | unCLIP | sampled by the prior | 100.0 % | 50.0 % | 94.4 % | 26.8 % |
# | the decoder, no prior | the caption's text embedding | 97.8 % | 52.6 % | 83.8 % | 31.8 % |
# | `shapes_scratch` (chapter 6c) | — (diffusion conditioned on the text) | 100.0 % | 96.6 % | 100.0 % | 91.6 % |
#
# * **unCLIP reaches its ceiling.** The prior's embeddings are as good as the true embedding of a real render of the
#   caption: end to end, unCLIP draws what the decoder can draw from any embedding.
# * **The prior earns its place on held-out pairs.** Fed the text embedding directly, the decoder gets one object of
#   a held-out (colour, shape) pair right 83.8 % of the time; through the prior, 94.4 %, as high as the 91.2 % of the
#   renders' own embeddings (3 points above them: within the noise). With this CLIP the text embedding is already
#   close to the image cloud (section 1); on seen pairs that is nearly enough (97.8 % without the prior), on held-out
#   pairs it is not.
# * **Two objects fail at the decoder, not at the prior.** All three unCLIP rows sit at 27-53 % on two-object
#   captions, against 92-97 % for `shapes_scratch`, which reads the caption's words through cross-attention. A
#   96-number summary of the picture keeps which objects are in it better than which colour belongs to which shape
#   (the variations of section 2 showed the same thing). DALL-E 2's paper reports the same weakness at full scale:
#   unCLIP is worse than GLIDE at binding attributes to objects (Sec. 7: two cubes of two colours), and its
#   explanation is the one measured here — the CLIP embedding does not explicitly bind attributes to objects, and
#   the decoder's reconstructions mix them up.
# * **Diversity.** 8 samples of each of 64 one-object captions; spread = the mean pixel distance between the samples
#   the probe reads right, over the same for 8 renders of the caption by the world itself (1 = as varied as the
#   world):
#
# | model | guidance | fidelity | spread |
# |---|---|---|---|
# | unCLIP | 1 | 98.2 % | 0.71 |
# | unCLIP | 3 | 100.0 % | 0.62 |
# | `shapes_scratch` | 1 | 99.2 % | 0.91 |
# | `shapes_scratch` | 3 | 100.0 % | 0.78 |
#
#   Here unCLIP is the *less* diverse model, at equal fidelity, at both guidance scales — the opposite of the paper's
#   finding that unCLIP keeps more diversity than GLIDE as guidance grows (Sec. 5, human evaluations). In the
#   miniature, each caption's prior samples (best of two draws, 25 deterministic DDIM steps) spread less over the
#   world's positions and sizes than the world does; guidance then narrows the decoder further. A single run of 64
#   captions: the direction is clear, its size is not measured precisely.
#
# **Where the miniature differs from DALL-E 2.** The paper's decoder paints 64 × 64 images with 3.5 billion
# parameters, and two more diffusion models upsample them to 256 and 1024 px; its decoder also sees the caption
# (GLIDE's text path, dropped half the time in training). Its prior has 1 billion parameters; both were trained on
# about 250 million images, over the 1024-dim embeddings of a ViT-H/16 CLIP, the prior sampled with 64 strided steps.
# Here: a 32 px decoder of 3.1 M parameters, no upsamplers, no caption in the decoder, a 0.88 M-parameter prior over
# 96-dim embeddings of a CLIP trained on the shapes world, and training scenes drawn fresh from that world.
#
# **Exercises in this chapter:** 8.1 slerp, 8.2 DDIM from an x_0 prediction, 8.3 a text diff.
