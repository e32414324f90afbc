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
# # Chapter 6c — Text to image: the shapes world
#
# Now captions carry structure: "a large red circle left of a small blue square" names two objects, each with a
# colour, shape and size, and a relation between them. The course's text-to-image models were trained by repo
# recipes (`t2ilib/recipes/text.py`) on the shapes world at 32 px: a 3.1 M-parameter UNet with the pooled caption
# vector added to the time embedding and cross-attention to the caption's tokens at 8 × 8 (the queries also know
# their pixel's position), v-prediction (section 5 shows why not ε), 10 % caption dropout for guidance. Two
# models differ only in the text encoder:
#
# * `shapes_minilm` — frozen pretrained all-MiniLM-L6-v2 (6a), read through a trainable 2-layer, 128-dim adapter;
# * `shapes_scratch` — a 2-layer, 128-dim BERT trained from scratch with the denoiser.
#
# Both have the same trainable text transformer; only what it reads differs: MiniLM's frozen states (which know
# English) or word embeddings learned from these captions alone.
#
# Six (colour, shape) pairs — e.g. *red triangle* — never occur in their training data. Captions that use them
# test **composition**: both models know "red" and "triangle", but never saw them together.
#
# This notebook: the judge that measures fidelity, samples, cross-attention maps, fidelity by caption group,
# frozen vs trained encoder, and a direct test of word order. Chapter 6d turns the guidance scale up and adds a
# prompt box.
#
# **You will:** measure prompt fidelity with a trained judge, see where each word's attention lands, break the
# two-object failures down by kind, test word order without sampling, and see why the loss weighting of
# v-prediction made order learnable. **Prerequisites:** 5 (samplers, x̂_0), 6a (tokens, text encoders,
# cross-attention), 6b (guidance). Exercises: 6c.1-6c.3 here, 6d.1 in chapter 6d.

# %%
import math
import time

import matplotlib.pyplot as plt
import torch
from matplotlib.colors import ListedColormap

from t2ilib import get_device, seed_everything
from t2ilib.data.paths import checkpoint_dir
from t2ilib.data.shapes import HELD_OUT_PAIRS, ShapesWorld, render_scenes, scattered_objects
from t2ilib.diffusion import sample
from t2ilib.checkpoint import load_pretrained, pretrained_manifest
from t2ilib.eval.fidelity import GROUPS, order_sensitivity, shapes_fidelity
from t2ilib.eval.shapes_count import connected_components, count_objects, count_word, counting_accuracy, foreground
from t2ilib.eval.shapes_probe import attribute_accuracy, canonical, caption_matches
from t2ilib.text.denoiser import generate
from t2ilib.grading import check
from t2ilib.viz import show_captioned

device = get_device()
seed_everything(0)
print("device:", device)
probe = load_pretrained("shapes_probe", "cpu")
models = {name: load_pretrained(name, device) for name in ("shapes_minilm", "shapes_scratch")
          if (checkpoint_dir() / f"{name}.safetensors").exists()}
schedule = next(iter(models.values())).schedule  # each checkpoint records its schedule; both were trained with this one
assert all(m.diffusion == {"schedule": "cosine", "num_steps": 1000, "prediction": "v_prediction"} for m in models.values())
manifests = {name: pretrained_manifest(name) for name in models}
for name, m in manifests.items():
    print(f"{name}: {m['steps']} steps, {m['train_wall_time_s'] / 60:.0f} min on {m['device']}")
print("held-out (colour, shape) pairs:", sorted(HELD_OUT_PAIRS))

# %% [markdown]
# ## 1. The judge
#
# Fidelity must be measured, not eyeballed. The judge (`t2ilib/eval/shapes_probe.py`, `judge_images`) has two parts:
# it **counts** the objects, then **reads** what they are.
#
# **Counting needs no learning** (`t2ilib/eval/shapes_count.py`). Objects are bright on a black background, so a
# pixel whose brightest channel is above a third of full scale is *foreground*, and each **connected component**
# of foreground pixels — pixels joined by horizontal or vertical steps — of at least 8 pixels is one object (the
# smallest object, a small triangle, covers about 23; smaller blobs are specks). The renderer keeps objects at
# least 1.3 px apart, so on a true render every object is its own component. Why not let a network count? A
# network only answers the questions it was trained on: the probe below has a count head that knows "one" and
# "two", because the shapes world has no other scenes, so it reads a picture with three objects as one with two.
# Counted by components, a third object is seen, and the image fails its caption. The check: true renders with 0
# to 4 objects at random places (the same least spacing), with pixel noise of standard deviation 0.1 added, and
# the counter's answer against the renderer's:

# %%
acc = counting_accuracy(200, counts=(0, 1, 2, 3, 4), noise=0.1, seed=1)
print("counter accuracy on 200 noisy renders per count:", ", ".join(f"{k} object{'s' * (k != 1)} {a:.1%}" for k, a in acc.items()))
print("what the judge calls 0-4 objects:", [count_word(k) for k in acc])
assert min(acc.values()) >= 0.99
crowd = render_scenes([scattered_objects(1, 0, k) for k in (1, 2, 3, 4)]).float().div(127.5).sub(1)
labels = connected_components(foreground(crowd))
fig, axes = plt.subplots(2, 4, figsize=(7, 3.6))
for j in range(4):
    axes[0, j].imshow(((crowd[j].permute(1, 2, 0) + 1) / 2).clamp(0, 1))
    ids = labels[j].unique()[1:].tolist()  # renumber the components 1, 2, ... for the picture
    axes[1, j].imshow(sum((labels[j] == v) * (i + 1) for i, v in enumerate(ids)), interpolation="nearest",
                      cmap=ListedColormap(["black", *plt.cm.tab10.colors]), vmin=0, vmax=10)
    n = count_objects(crowd[j:j + 1]).item()
    axes[1, j].set_title(f"{n} component{'s' * (n != 1)}: {count_word(n)}", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.suptitle("true renders (top) and their connected components (bottom)", y=1.0)
plt.show()

# %% [markdown]
# **Reading attributes.** The **attribute probe** is a CNN with one head per attribute. A picture has no "first"
# object, so the probe reads scenes in a canonical order: for two objects, the *axis* of the relation and then the
# left (or upper) object first — "a red circle right of a blue square" and "a blue square left of a red circle"
# are the same picture. The judge uses the probe's heads for the number of objects it counted; an image
# **matches** its caption when it holds as many objects as the caption names and every attribute read equals the
# caption's. On fresh renders (never seen by the probe), including the held-out pairs:

# %%
# NBVAL_CHECK_OUTPUT
for split in ("test", "held_out"):
    b = ShapesWorld(500, 32, seed=7, split=split).batch(0, 500)
    acc = attribute_accuracy(probe, b.images, b.attributes)
    match = sum(caption_matches(probe, b.images, b.captions)) / 500
    print(f"{split:9s} renders: worst attribute accuracy {min(acc.values()):.3f}; whole-caption match {match:.3f}")
    assert min(acc.values()) >= 0.99
print(canonical({"n_objects": 2, "shape_a": "circle", "color_a": "red", "size_a": "large", "shape_b": "square",
                 "color_b": "blue", "size_b": "small", "relation": "right of"}))

# %% [markdown]
# **Exercises 6c.1 and 6c.2 — two pieces of the models you are about to sample.** Their cross-attention lets every
# pixel read the caption's tokens while ignoring the padding (6a); they predict v instead of ε (section 5 shows
# why). Plain tensors in and out; the cell after them checks your code against the library's.

# %% tags=["exercise-6c.1"]
def my_masked_cross_attention(q, k, v, mask):
    """Exercise 6c.1: softmax(q k^T / sqrt(d)) v, with padded caption tokens excluded from the softmax.

    q: (N, H, Lq, d) from the pixels; k, v: (N, H, Lk, d) from the caption's tokens; mask: (N, Lk) bool, True for
    real tokens. Hint: set the logits of padded keys to -inf BEFORE the softmax.
    """
    ### BEGIN SOLUTION
    logits = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
    return torch.softmax(logits, dim=-1) @ v
    ### END SOLUTION


# %% tags=["exercise-6c.2"]
def my_v_target(x0, eps, abar_t):
    """Exercise 6c.2: the v-prediction target v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0 (Salimans & Ho 2022).

    x0, eps: (N, C, H, W); abar_t: (N,).
    """
    ### BEGIN SOLUTION
    a = abar_t.view(-1, 1, 1, 1)
    return a.sqrt() * eps - (1 - a).sqrt() * x0
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("6c.1", my_masked_cross_attention)
check("6c.2", my_v_target)

# %% [markdown]
# ## 2. Samples
#
# Guidance scale 3 (diffusers/Imagen convention), DDIM 25 steps, two samples per caption. The last two captions use
# held-out pairs (red triangle; purple square and yellow hexagon).

# %%
captions = ["a large red circle on the left", "a small blue square at the top",
            "a large green hexagon left of a small yellow cross", "a small purple diamond above a large orange circle",
            "a large red triangle in the center", "a small purple square below a large yellow hexagon"]
name = "shapes_scratch"  # the better of the two (section 4)
t0 = time.perf_counter()
images = generate(models[name], [c for c in captions for _ in range(2)], guidance=3.0, steps=25, seed=0)
print(f"{len(images)} images in {time.perf_counter() - t0:.1f} s")
ok = caption_matches(probe, images, [c for c in captions for _ in range(2)])
show_captioned(images, [f"{'✓' if m else '✗'} {c}" for c, m in zip([c for c in captions for _ in range(2)], ok)],
               ncols=4)
plt.show()

# %% [markdown]
# ## 3. Where does each word land? Cross-attention maps
#
# Record the cross-attention weights of the 8 × 8 blocks while sampling, and show, for each token, how much
# attention the pixels pay to it (averaged over heads, blocks and the middle half of the sampling steps).

# %%
def attention_maps(model, caption, seed=0, steps=25):
    blocks = [b for b in model.unet.cross_attention_blocks()]
    for b in blocks:
        b.keep_weights = True
    maps = []
    inner = model.guided([caption], 1.0)

    def recording(x, t):
        out = inner(x, t)
        if 250 <= int(t[0]) <= 750:
            w = [b.last_weights for b in blocks if b.last_weights.shape[2] == 64]  # (1, heads, 64, L) at 8 x 8
            maps.append(torch.stack(w).mean(dim=(0, 2))[0])  # (64, L)
        return out

    image = sample(recording, schedule, (1, 3, 32, 32), steps=steps, prediction=model.prediction,
                   generator=torch.Generator().manual_seed(seed), progress=False)
    for b in blocks:
        b.keep_weights = False
    return image, torch.stack(maps).mean(0).T.reshape(-1, 8, 8)  # (L, 8, 8)


caption = "a large red circle left of a small blue square"
image, maps = attention_maps(models[name], caption)
tokens = models[name].tokenizer.convert_ids_to_tokens(models[name].tokenizer(caption)["input_ids"])
fig, axes = plt.subplots(1, len(tokens) + 1, figsize=(1.6 * (len(tokens) + 1), 2))
axes[0].imshow(((image[0].permute(1, 2, 0) + 1) / 2).clamp(0, 1))
axes[0].set_title("sample", fontsize=9)
for ax, tok, m in zip(axes[1:], tokens, maps):
    ax.imshow(m, cmap="magma")
    ax.set_title(tok, fontsize=9)
for ax in axes:
    ax.axis("off")
plt.suptitle(f"cross-attention at 8x8: {caption!r}", y=1.05)
plt.show()
left_share = maps[:, :, :4].sum((1, 2)) / maps.sum((1, 2))
for word in ("red", "circle", "blue", "square"):
    i = tokens.index(word)
    print(f"{word:7s} share of its attention in the left half of the image: {left_share[i]:.2f}")
assert left_share[tokens.index("red")] > left_share[tokens.index("blue")]  # the left object's words, on the left

# %% [markdown]
# ## 4. Fidelity by caption group
#
# The numbers that count come from `python -m t2ilib.eval.fidelity` (README table). Both models draw one object
# right nearly always (benchmark table below); the two-object captions are where they differ. Here a quick
# re-measurement of those two groups — the first 8 captions of each that the benchmark uses, for both models, so
# one image moves a group by 12.5 points — and what the judge saw in each image: right, the two objects exchanged
# (the caption's words, the swapped caption's picture), the two colours bound to the wrong shapes, more than two
# objects or fewer (two that touch count as one), one of the caption's colours on both objects, or a colour or
# shape the caption does not name:

# %%
two_object_groups = [g for g in GROUPS if g.endswith("2 objects")]
rows = {name_: shapes_fidelity(model, probe, n_per_group=8, guidance=3.0, steps=25, seed=0, groups=two_object_groups)
        for name_, model in models.items()}
for name_, r in rows.items():
    for g in two_object_groups:
        print(f"{name_:14s} {g:20s} fidelity {r[g]:.3f}, either order {r[g + ', either order']:.3f};",
              {k: round(v * 8) for k, v in r[g + ", errors"].items() if v})
for name_, m in manifests.items():
    print(f"{name_} recipe measurement ({m['metrics']['n_per_group']} per group):",
          {g: m["metrics"][g] for g in GROUPS})
fig, ax = plt.subplots(figsize=(8, 2.4))
outcomes = list(rows["shapes_scratch"][two_object_groups[0] + ", errors"])
bars = [(f"{name_}\n{g}", r[g + ", errors"]) for name_, r in rows.items() for g in two_object_groups]
left = [0.0] * len(bars)
for k, outcome in enumerate(outcomes):
    widths = [e[outcome] for _, e in bars]
    ax.barh(range(len(bars)), widths, left=left, color=plt.cm.tab10(k), label=outcome)
    left = [x + w for x, w in zip(left, widths)]
ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
ax.set_xlabel("share of two-object samples")
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
plt.show()
assert rows["shapes_scratch"]["seen, 2 objects"] >= 0.75 and rows["shapes_scratch"]["held-out, 2 objects"] >= 0.6
for name_, r in rows.items():  # the outcomes partition the samples
    assert all(abs(sum(r[g + ", errors"].values()) - 1) < 1e-6 for g in two_object_groups)

# %% [markdown]
# **Reading the numbers.** The benchmark (`python -m t2ilib.eval.fidelity --guidance 3`, DDIM 25, one run per
# model, fp32 on a 2-core CPU) measured, with the counting judge:
#
# | model | seen, 1 object | seen, 2 objects | held-out, 1 object | held-out, 2 objects | two objects, either order (seen / held-out) | more objects than named (seen / held-out, 2 objects) | captions per group |
# |---|---|---|---|---|---|---|---|
# | `shapes_scratch` | 99.9 % | 95.9 % | 100.0 % | 91.0 % | 95.9 % / 91.0 % | 2.9 % / 3.8 % | 1000 |
# | `shapes_minilm` | 100.0 % | 21.0 % | 99.6 % | 13.0 % | 40.8 % / 25.8 % | 2.6 % / 2.8 % | 500 |
#
# * **One object** is solved by both, and held-out pairs are as good as seen ones: the models compose "red" and
#   "triangle" although they never saw a red triangle. No one-object image held a second object.
# * **Two objects** are nearly solved by `shapes_scratch`: the right colours, shapes and sizes, each in its place,
#   in 96 % of images, and in 91 % for never-seen pairs. Binding attributes to places is the classic failure of
#   text-to-image models (DALL-E 2's paper shows it for "a red cube on top of a blue cube"); here it was learned —
#   once the loss weighting let it be (section 5). The largest kind of error left is **counting**: 2.9 % (seen)
#   and 3.8 % (held-out) of its two-object images hold three objects or more, typically the caption's two plus a
#   second copy of one of them (two green crosses beside a yellow hexagon). The probe alone would have passed most
#   of them — its count head knows only one and two — which is why the judge counts first.
# * **A colour that leaks.** In the held-out group, 2.9 % of images show one of the caption's colours on both
#   objects: a colour leaks from one object to the other. Asked for an orange diamond (held out) next to a
#   yellow object, the model drew 21 of 31 images right and put one colour on both objects in 9 (`--groups
#   "held-out, 2 objects" --containing "orange diamond" yellow --n 1000`: all such captions among the 1000); next to
#   any colour, 184 of 225 were right and 31 had one colour twice (`--containing "orange diamond"`). Orange sits
#   between red and yellow, and the model never saw an orange diamond to pin it down. (31 images is a small
#   sample: the 95 % interval of 9 in 31 runs from 16 % to 47 %.)
# * `shapes_minilm` does not fail only on word order. A model that drew the right two objects in random order
#   would be right about half the time and right-up-to-order nearly always. Its images show the right two
#   objects, in either order, in 40.8 % (seen) and 25.8 % (held-out), against 21.0 % and 13.0 % in the right
#   order: so about half of its right-object images have them the wrong way round — placement by a coin flip, as
#   a bag of words would do — and the other 59–74 % of its images are wrong in more than order. The benchmark's
#   breakdown (seen / held-out) says which: one colour on both objects (29.2 % / 23.8 %), the two colours bound to
#   the wrong shapes (14.6 % / 28.4 %), a colour the caption does not name (5.6 % / 9.8 %); an extra object is rare
#   (2.6 % / 2.8 %). Reading *which* colour goes with *which* shape is the same binding problem as order, one level
#   down. Section 5 tests the order directly.
# * **Frozen vs trained encoder:** at this scale the encoder trained from scratch wins clearly. Its word embeddings
#   and position embeddings are learned for exactly this grammar, and it learned the order by step 3000.
#   MiniLM was trained to give *similar sentences similar mean-pooled vectors* — a goal that barely cares about
#   word order (section 5) — so the order must be dug out of its states by the adapter, and at 6000 CPU steps it
#   was not. Imagen's finding — a frozen pretrained encoder helps alignment — came from a 4.6 B-parameter T5
#   trained to *reconstruct* text (order included) and real English captions; it does not transfer to a 22 M
#   sentence-similarity model and a tiny closed grammar, and the course does not pretend it does. Where MiniLM does
#   help is words the grammar never had (6a: "on top of" is close to "above" for MiniLM, `[UNK]` for the course
#   tokenizer).

# %% [markdown]
# ## 5. A bag of words? Testing word order directly
#
# "a red circle left of a blue square" and "a blue square left of a red circle" contain the *same words*. A model
# that only registers which words occur — a bag of words — cannot tell them apart, and then the order of the two
# objects in its pictures is a coin flip. Large vision-language models do this too (Yuksekgonul et al. 2023,
# "When and why vision-language models behave like bags-of-words").
#
# Sampling is a slow and noisy way to find out. A direct test (`t2ilib.eval.fidelity.order_sensitivity`) needs no
# sampling: take real two-object renders, noise them to step t, and compute the model's own training loss twice —
# with the true caption and with the **swapped** caption (objects exchanged). A model that binds words to places
# has a lower loss with the true caption; a bag of words scores both the same, and the true caption wins in
# ~50 % of images.

# %%
order = {name_: order_sensitivity(model, n=48, timesteps=(900, 800, 500)) for name_, model in models.items()}
fig, ax = plt.subplots(figsize=(6, 2.6))
for name_, r in order.items():
    ax.plot(list(r), [v["true_better"] for v in r.values()], "o-", label=name_)
    print(name_, {t: f"true {v['loss_true']:.4f} vs swapped {v['loss_swapped']:.4f}, true better in "
                     f"{v['true_better']:.0%}" for t, v in r.items() if t in (900, 500)})
ax.axhline(0.5, color="gray", ls="--", lw=1, label="bag of words")
ax.set_xlabel("noise step t (1000 = pure noise)")
ax.set_ylabel("true caption has lower loss")
ax.set_ylim(0.3, 1.0)
ax.invert_xaxis()
ax.legend(fontsize=8)
plt.show()
assert order["shapes_scratch"][800]["true_better"] >= 0.75  # uses word order where the layout is decided
assert order["shapes_scratch"][800]["loss_true"] < order["shapes_scratch"][800]["loss_swapped"]

# MiniLM's own sentence vectors: how much does swapping the objects move them, compared with changing one colour?
minilm = models["shapes_minilm"]._frozen
pooled = minilm(["a large red circle left of a small blue square", "a small blue square left of a large red circle",
                 "a large green circle left of a small blue square"]).pooled
print(f"MiniLM cosine similarity: objects swapped {float(pooled[0] @ pooled[1]):.3f}, "
      f"one colour changed {float(pooled[0] @ pooled[2]):.3f}")

# %% [markdown]
# **Why v-prediction.** The first versions of these models predicted ε, like the digit models of chapters 5-6b.
# They drew the right two objects nearly always, and in the right order half of the time: this test gave
# 0.39-0.56 at every t for both encoders — a perfect bag of words. The reason is the loss weighting. Where the two
# objects go is decided at high noise (t ≳ 700: nothing of the layout is visible in x_t yet). Write the model's
# error in terms of its estimate of the clean image x̂_0. With ε-prediction,
# ‖ε̂ − ε‖² = ᾱ_t / (1 − ᾱ_t) · ‖x̂_0 − x_0‖², and at t = 900 (cosine schedule, ᾱ ≈ 0.024) a wrong layout costs
# ≈ 0.025 × its pixel error: almost nothing, so training never learns it. At lower t the layout is already in
# x_t, so the caption's order is not needed there either. With **v-prediction** (v = √ᾱ ε − √(1−ᾱ) x_0,
# Salimans & Ho 2022), ‖v̂ − v‖² = ‖x̂_0 − x_0‖² / (1 − ᾱ_t): the same mistake costs ~40× more at t = 900.
# Same data, networks and 6000 steps: with v, the scratch-encoder model uses the order (above) and its two-object
# fidelity went from 49.6 % / 31.2 % to 99.0 % / 95.3 % (seen / held-out; both measured by the judge's first
# version, which did not count objects — the ε models were not kept, so only v was re-measured: 95.9 % / 91.0 %).
# The MiniLM model did not get there in 6000 steps: MiniLM's sentence vector barely moves when the objects are
# swapped (cosine similarity above), and its token states hold the order only non-linearly (6a), so its adapter
# has more to learn.
#
# **Exercise 6c.3 — the two weightings.** Derive them: write x̂_0 − x_0 in terms of the error in ε̂ (from 5.1's
# formula) and in v̂ (from 5.4's), square, and return the factor that multiplies ‖x̂_0 − x_0‖² in each loss. The
# cell after yours checks both weightings again on random numbers, with the library's conversions.

# %% tags=["exercise-6c.3"]
def my_x0_error_weights(abar_t):
    """Exercise 6c.3: (w_eps, w_v) with ||eps_hat - eps||^2 = w_eps ||x0_hat - x0||^2 and
    ||v_hat - v||^2 = w_v ||x0_hat - x0||^2, for a tensor of abar_t values."""
    ### BEGIN SOLUTION
    return abar_t / (1 - abar_t), 1 / (1 - abar_t)
    ### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
check("6c.3", my_x0_error_weights)

# %%
# NBVAL_CHECK_OUTPUT
from t2ilib.diffusion import velocity, x0_from_eps, x0_from_v

g = torch.Generator().manual_seed(0)
x0, eps = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
t = torch.tensor([900, 700, 500, 100])
ab = schedule.alpha_bar(t).float()
x_t = ab.sqrt().view(-1, 1, 1, 1) * x0 + (1 - ab).sqrt().view(-1, 1, 1, 1) * eps
err = 0.1 * torch.randn(4, 3, 8, 8, generator=g)  # an error in the network's output
x0_err_eps = (x0_from_eps(schedule, x_t, t, eps + err) - x0).pow(2).sum((1, 2, 3))  # eps-model off by err
x0_err_v = (x0_from_v(schedule, x_t, t, velocity(schedule, x0, t, eps) + err) - x0).pow(2).sum((1, 2, 3))
loss = err.pow(2).sum((1, 2, 3))
assert torch.allclose(loss, x0_err_eps * ab / (1 - ab), rtol=1e-4)  # ||eps err||^2 = abar/(1-abar) ||x0 err||^2
assert torch.allclose(loss, x0_err_v / (1 - ab), rtol=1e-4)  # ||v err||^2 = ||x0 err||^2 / (1-abar)
for ti, a in zip(t.tolist(), ab.tolist()):
    print(f"t = {ti}: abar = {a:.3f}; weight on ||x0_hat - x0||^2: eps loss {a / (1 - a):.3f}, v loss {1 / (1 - a):.3f}")

# %% [markdown]
# ## Summary
#
# * A judge makes fidelity a number: the attribute probe reads every attribute; an image counts only if all match.
# * One object is easy for both models, held-out (colour, shape) pairs included: they compose.
# * Two objects separate them: the encoder trained from scratch binds words to places (99 % / 95 %); the frozen
#   MiniLM + adapter places the objects by a coin flip and also binds colours to the wrong shapes.
# * Word order can be tested without sampling (true vs swapped caption, teacher-forced loss); with ε-prediction
#   the loss barely weighs the high-noise steps where layout is decided, v-prediction weighs them ~40× more.
#
# **Check yourself.** (1) Why does the probe read scenes in a canonical order? (2) A model scores 30 % fidelity
# and 60 % "either order" on two-object captions: what does it get wrong? (3) Why does the ε loss hardly care
# about the layout at t = 900?

