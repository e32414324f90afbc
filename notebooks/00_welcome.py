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
# # Chapter 0 — Welcome: how does a caption become an image?
#
# This course builds text-to-image generation from first principles, one idea per chapter, and trains **every
# model for real on a laptop CPU, offline**. By the end you will type a caption such as
# *"a red circle left of a blue square"* and get an image from models you trained yourself.
#
# | # | chapter | notebook | the idea you leave with |
# |---|---|---|---|
# | 0 | welcome & data | `00_welcome` (this one) | images as tensors, captions, the training loop |
# | 1a | GAN minimax | `01a_gan_minimax` | generation as a two-player game |
# | 1b | DCGAN & a caption-driven GAN | `01b_dcgan` | convolutional GANs, grading samples with a judge |
# | 2 | VAE ELBO | `02_vae_elbo` | a likelihood lower bound you can optimise |
# | 3 | discrete latents | `03_discrete_latents` | images as grids of tokens (VQ-VAE, DALL-E's dVAE) |
# | 4 | diffusion forward | `04_diffusion_forward` | noising in closed form, schedules |
# | 5 | diffusion reverse | `05_diffusion_reverse` | DDPM and DDIM sampling |
# | 6a | text encoders | `06a_text_encoders` | tokenizers, text encoders, cross-attention |
# | 6b | classifier-free guidance | `06b_guidance` | steering a conditional model |
# | 6c | text to image | `06c_text_to_shapes` | captions to pictures, and measuring whether they match |
# | 6d | guidance scale and thresholding | `06d_guidance_thresholding` | what large guidance does to x̂_0, and how to tame it |
# | 7a | CLIP | `07a_clip` | one vector space for captions and images: zero-shot classification, retrieval, binding |
# | 7b | mini DALL-E | `07b_dalle` | images as token sentences: a GPT over caption + image tokens, sampling, guidance, CLIP reranking |
# | 8 | mini DALL-E 2 (unCLIP) | `08_unclip` | drawing from CLIP's image embedding: a prior, a decoder, variations and edits |
# | 9 | mini Imagen | `09_imagen` | a cascade, noise conditioning augmentation, what a frozen text encoder buys |
# | 10 | evaluation | (coming) | FID, precision/recall, prompt fidelity |
#
# ## Three ways to use each chapter
#
# 1. **Quick, on a CPU (the default).** Every notebook trains its models briefly in front of you, so you see the
#    loop working and the loss going down: one to two minutes per notebook even on a 2-core AVX2-only laptop
#    CPU.
# 2. **Shipped checkpoints.** Quality takes longer than a notebook should. Each chapter then loads a checkpoint
#    from `data/checkpoints/` that a *recipe in this repository* trained for longer, and says so. You can retrain
#    any of them yourself: `make checkpoints`, or `python -m t2ilib train NAME`.
# 3. **Full training on a GPU.** The same code runs on an NVIDIA or Apple GPU: the device helper below picks it up,
#    and the recipes take a `--device` option.
#
# In this chapter: the device and seeds, images as tensors, a tour of the data, the caption grammar of the
# shapes world, and the one training loop every later chapter uses.
#
# **You will:** load the course's offline datasets as [−1, 1] tensors, read the shapes-world caption grammar,
# tokenize captions, and train the digit classifier that later chapters use as a judge — with the one training loop
# of the course (progress, EMA, exact resume). **Prerequisites:** Python and PyTorch tensors; a first neural-network
# course (a classifier trained with cross-entropy).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import t2ilib
from t2ilib import get_device, seed_everything, to_image_range, to_uint8
from t2ilib.data import (COLORS, HELD_OUT_PAIRS, SHAPES, ShapesWorld, load_dataset, parse_caption,
                         render_scenes, scene_for_caption)
from t2ilib.viz import plot_loss, show_captioned, show_grid

device = get_device()
seed_everything(0)
print(f"t2ilib {t2ilib.__version__}, torch {torch.__version__}, device: {device}, "
      f"{torch.get_num_threads()} CPU threads")

# %% [markdown]
# `get_device()` prefers a CUDA GPU, then an Apple GPU (MPS), then the CPU; set the environment variable
# `T2I_DEVICE=cpu` to force one. No notebook in the course hard-codes a CUDA device.
# `seed_everything(0)` seeds Python, NumPy and torch, so every run of this notebook prints the same numbers.
#
# ## Images are tensors
#
# An image is an array of numbers. On disk (and in the shipped datasets) they are bytes, `uint8` in `[0, 255]`.
# Inside models the course uses **floats in `[-1, 1]`** — the range of a `tanh` output, and the range diffusion
# models add noise to. Two functions convert, and they are the only ones used anywhere:
#
# $$x_{\text{model}} = \frac{x_{\text{byte}}}{127.5} - 1, \qquad
#   x_{\text{byte}} = \operatorname{round}\big(127.5\,(\operatorname{clip}(x_{\text{model}}, -1, 1) + 1)\big).$$

# %%
# NBVAL_CHECK_OUTPUT
mnist = load_dataset("mnist", "train")
x_byte = mnist.images[0]  # uint8, shape (1, 28, 28)
print(mnist)
print("caption:", mnist.captions[0])
print("shape", tuple(x_byte.shape), "dtype", x_byte.dtype)
print("the centre of the image, as bytes:")
print(x_byte[0, 10:18, 10:18].numpy())

# %%
x = to_image_range(x_byte)
print(f"as model input: dtype {x.dtype}, min {x.min().item():.1f}, max {x.max().item():.1f}")
all_bytes = torch.arange(256, dtype=torch.uint8)
round_trip_ok = torch.equal(to_uint8(to_image_range(all_bytes)), all_bytes)
print("uint8 -> [-1, 1] -> uint8 is exact for all 256 values:", round_trip_ok)
assert round_trip_ok and x.min() == -1.0 and x.max() <= 1.0

# %% [markdown]
# ## A tour of the data
#
# Everything ships with the repository (about 16 MB in `data/`), so nothing is downloaded:
#
# * **MNIST** — handwritten digits, 28 × 28 grey (CC BY-SA 3.0). Caption: *"a handwritten digit seven"*.
# * **Fashion-MNIST** — clothing photos, 28 × 28 grey (MIT). Caption: *"a photo of an ankle boot"*.
# * **Twemoji** — 1911 emoji, 64 × 64 colour (CC-BY 4.0, © Twitter). Caption: the emoji's name,
#   *"an emoji of a strawberry"*.
# * **The shapes world** — generated on the fly, at any resolution, with exact attributes (below).
#
# The grey sets are class-balanced subsets (1600 training + 400 test images per class) of the full sets;
# `load_dataset(..., source="full")` reads the complete sets where they are installed (see `data/README.md`).

# %%
# NBVAL_CHECK_OUTPUT
for name in ("mnist", "fashion_mnist", "emoji"):
    for split in ("train",) if name == "emoji" else ("train", "test"):
        ds = load_dataset(name, split)
        print(f"{name:14s} {split:5s} {len(ds):6d} images of {tuple(ds.images.shape[1:])}, "
              f"{len(ds.class_names)} classes, e.g. {ds.captions[0]!r}")

# %%
fashion = load_dataset("fashion_mnist", "train")
picks = [int(torch.nonzero(mnist.labels == c)[0]) for c in range(10)]
show_captioned(mnist.images[picks], [mnist.captions[i] for i in picks], ncols=10, size=1.3)
plt.show()
picks = [int(torch.nonzero(fashion.labels == c)[0]) for c in range(10)]
show_captioned(fashion.images[picks], [fashion.captions[i] for i in picks], ncols=10, size=1.3)
plt.show()

# %%
emoji = load_dataset("emoji")
picks = list(range(0, 1911, 160))[:12]
show_captioned(emoji.images[picks], [emoji.captions[i] for i in picks], ncols=6, width=22)
plt.show()

# %% [markdown]
# ## The shapes world: captions whose meaning we can check
#
# Real captions are vague, so we cannot tell whether a generated image *matches* one. The shapes world fixes
# that: each scene has one or two objects with a **shape** (6), a **colour** (6) and a **size** (small or large);
# a single object has a **position**, a pair a **relation**. Every image comes with its structured attributes,
# so later chapters can *measure* prompt fidelity with a judge instead of eyeballing it.
#
# Scene number `i` of a `(seed, split)` stream is always the same — whatever the batch size — so training can
# resume mid-stream and evaluation sets are fixed.

# %%
world = ShapesWorld(size=100_000, resolution=32, seed=0, split="train")
batch = world.batch(0, 12)
show_captioned(batch.images, batch.captions, ncols=6, width=24)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
for scene in batch.scenes[:4]:
    print(repr(scene.caption))
    print("   ", scene.attributes())

# %% [markdown]
# ### The caption grammar
#
# Every caption names every attribute; only the wording changes. There are four templates for one object and
# three for two, plus paraphrases of each phrase (*"left of"* / *"to the left of"*, *"above"* / *"over"*, ...).
# The last two-object template turns the sentence around — *"a blue square with a red circle on its left"* —
# so a model has to understand the relation, not the word order. A parser reads every caption back into its
# attributes, and the tests check `parse_caption(caption) == attributes` for all of them.

# %%
# NBVAL_CHECK_OUTPUT
from t2ilib.data.shapes_captions import ONE_TEMPLATES, TWO_TEMPLATES, render_caption

one = {"n_objects": 1, "shape": "circle", "color": "red", "size": "small", "position": "left"}
two = {"n_objects": 2, "shape_a": "circle", "color_a": "red", "size_a": "small",
       "shape_b": "square", "color_b": "blue", "size_b": "large", "relation": "left of"}
for attrs, templates in ((one, ONE_TEMPLATES), (two, TWO_TEMPLATES)):
    for t in range(len(templates)):
        for v in (0, 1):
            caption = render_caption(attrs, t, v)
            assert parse_caption(caption) == attrs
            print(caption)
print("every paraphrase parses back to the same attributes")

# %% [markdown]
# The same caption describes many images: positions and sizes vary within what the words allow.
# `scene_for_caption` draws one, and so does the command line: `python -m t2ilib render "..." --out scene.png`.

# %%
caption = "a large blue square left of a small green triangle"
scenes = [scene_for_caption(caption, seed=s) for s in range(8)]
for r in (16, 32, 64):
    show_grid(render_scenes(scenes, r), nrow=8, title=f"{caption!r} at {r} px", scale=0.5 * 32 / r)
    plt.show()

# %% [markdown]
# Try it: pick attributes and see the caption and a rendering. The first cell draws one fixed choice; the second
# gives you the controls when you run it in JupyterLab.

# %%
import ipywidgets as widgets

from t2ilib.data import POSITIONS, SIZES, scene_from_attributes


def explore(color="red", shape="circle", size="small", position="left", resolution=32, seed=0):
    scene = scene_from_attributes({"n_objects": 1, "shape": shape, "color": color, "size": size,
                                   "position": position}, seed=seed)
    show_grid(render_scenes([scene], resolution), nrow=1, title=scene.caption, scale=2.5 * 28 / resolution)
    plt.show()


explore("blue", "circle", "large", "top")  # a held-out pair (see below): never in the training split

# %%
widgets.interact(explore, color=list(COLORS), shape=list(SHAPES), size=list(SIZES), position=list(POSITIONS),
                 resolution=[16, 32, 64], seed=widgets.IntSlider(value=0, min=0, max=20));

# %% [markdown]
# ### A held-out test of composition
#
# Six (colour, shape) pairs **never** appear in training — a shifted diagonal of the colour × shape table, so
# every colour and every shape still does. The `held_out` split contains only scenes with at least one of them.
# A model that has learned *purple* and *circle* separately should draw a purple circle it has never seen; that
# is what "compositional generalisation" means, and chapter 6 measures it.

# %%
table = np.array([[1.0 if (c, s) in HELD_OUT_PAIRS else 0.0 for s in SHAPES] for c in COLORS])
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [1, 1.6]})
axes[0].imshow(table, cmap="Greys", vmin=0, vmax=1.6)
axes[0].set_xticks(range(len(SHAPES)), SHAPES, rotation=45)
axes[0].set_yticks(range(len(COLORS)), COLORS)
axes[0].set_title("held-out (colour, shape) pairs")
held = ShapesWorld(size=1000, resolution=32, split="held_out").batch(0, 16)
show_grid(held.images, nrow=8, ax=axes[1], title="scenes from the held-out split")
plt.show()

train_pairs = {(o.color, o.shape) for i in range(2000) for o in world.scene(i).objects}
print(f"pairs in 2000 training scenes: {len(train_pairs)}; overlap with held-out: {len(train_pairs & HELD_OUT_PAIRS)}")
assert not train_pairs & HELD_OUT_PAIRS
assert all(s.is_held_out() for s in held.scenes)

# %% [markdown]
# Rendering uses signed distance functions evaluated on the pixel grid for a whole batch at once, so generating
# data on the fly costs far less than training on it:

# %%
for r in (16, 32, 64):
    w = ShapesWorld(size=100_000, resolution=r)
    w.batch(0, 32)  # warm up
    t0 = time.perf_counter()
    w.batch(0, 512)
    print(f"{r:2d} px: {512 / (time.perf_counter() - t0):8.0f} images/s")

# %% [markdown]
# ### From captions to tokens — a preview of chapter 6
#
# A model does not read words; it reads integer **tokens**. Here is a word-level tokenizer learned from the
# shapes-world captions with the Hugging Face `tokenizers` library and used through `transformers`, exactly like
# the pretrained tokenizers of chapter 6. Captions of different lengths are **padded** to one length, and the
# **attention mask** says which positions are real words.

# %%
# NBVAL_CHECK_OUTPUT
from t2ilib.text.tokenizers import train_word_tokenizer

tokenizer = train_word_tokenizer(world.scene(i).caption for i in range(5000))
enc = tokenizer(["a small red circle on the left", "a large blue square left of a small green triangle"],
                padding=True, return_tensors="pt")
print("vocabulary size:", tokenizer.vocab_size)
print("tokens:", tokenizer.convert_ids_to_tokens(enc["input_ids"][0]))
print("input_ids:\n", enc["input_ids"])
print("attention_mask:\n", enc["attention_mask"])

# %% [markdown]
# ## The one training loop
#
# Every chapter trains with `t2ilib.train.Trainer`. You supply three things — a model, a `loss_fn(model, batch)`
# and a `batch_at(step)` function — and the loop adds what every run needs: progress bars, a loss history, an
# EMA of the weights, the course's precision policy (bf16 autocast where the hardware runs bf16 natively, fp32
# elsewhere: `t2ilib.precision`), gradient clipping, a time budget (`max_minutes`), a clear error if the loss
# becomes NaN, and exact resume from a safetensors checkpoint.
#
# As a first model we train the course's **digit judge**: a small CNN that tells which digit an image shows.
# Later chapters use it to score generated digits ("is this 'seven' read as a 7?"). A short run, 150 steps of
# batch 64 (under a minute on a 2-core laptop CPU; the printed time is this run's), already gets far:

# %%
from t2ilib.data import epoch_batches
from t2ilib.eval.judges import ImageClassifier, accuracy, classifier_loss
from t2ilib.train import TrainConfig, Trainer

seed_everything(0)
x_train, y_train = mnist.tensors(device)
x_test, y_test = load_dataset("mnist", "test").tensors(device)

model = ImageClassifier(in_channels=1, n_classes=10).to(device)
print(f"{sum(p.numel() for p in model.parameters()):,} parameters")
config = TrainConfig(steps=150, lr=2e-3, warmup_steps=30, lr_schedule="cosine", max_minutes=15)  # a safety cap
trainer = Trainer(model, classifier_loss, epoch_batches(x_train, y_train, batch_size=64, seed=0), config)
t0 = time.perf_counter()
history = trainer.fit()
quick_acc = accuracy(model, x_test, y_test)
print(f"{trainer.step} steps in {time.perf_counter() - t0:.0f} s: test accuracy {quick_acc:.2%}")
assert not trainer.stopped_early, f"the time cap stopped training after {trainer.step} of 150 steps: a very slow machine"
assert quick_acc > 0.95, quick_acc

# %%
plot_loss(history, title="digit judge: cross-entropy")
plt.show()

# %% [markdown]
# ### Resume exactly where you stopped
#
# Training state — weights, EMA, optimizer moments, the random-number generator and the loss history — goes
# into one safetensors file (never a pickle: loading it cannot run code). Because each batch is a function of
# the step, a resumed run continues *bit for bit* as if it had never stopped:

# %%
import tempfile
from pathlib import Path

seed_everything(1)
cfg = TrainConfig(steps=20, lr=2e-3, ema_decay=0.99)
batches = epoch_batches(x_train, y_train, batch_size=64, seed=1)

straight = Trainer(ImageClassifier().to(device), classifier_loss, batches, cfg, progress=False)
straight.fit()

with tempfile.TemporaryDirectory() as tmp:
    state = Path(tmp) / "state.safetensors"
    seed_everything(1)
    first = Trainer(ImageClassifier().to(device), classifier_loss, batches, cfg, progress=False,
                    checkpoint_path=state)
    first.fit(12)  # "the laptop lid closes" after 12 steps
    resumed = Trainer(ImageClassifier().to(device), classifier_loss, batches, cfg, progress=False,
                      checkpoint_path=state, resume=True)
    print("resumed at step", resumed.step)
    resumed.fit()

same = all(torch.equal(a, b) for a, b in zip(straight.model.state_dict().values(),
                                              resumed.model.state_dict().values()))
print("20 straight steps == 12 steps + resume + 8 steps, bit for bit:", same)
assert same and straight.history.loss == resumed.history.loss

# %% [markdown]
# ### The shipped judge
#
# The quick run above stops after 150 small steps. The shipped judge was trained by the recipe
# `digit_classifier` (`python -m t2ilib train digit_classifier`: 1500 steps of batch 128, two minutes on the CPU
# that trained it, roughly a quarter of an hour on a 2-core AVX2-only CPU); its manifest records how, and the test
# suite re-measures its accuracy on every run.

# %%
from t2ilib.checkpoint import load_pretrained, pretrained_manifest

judge = load_pretrained("digit_classifier", device)  # rebuilt from the checkpoint's manifest alone
manifest = pretrained_manifest("digit_classifier")
shipped_acc = accuracy(judge, x_test, y_test)
print(f"recipe {manifest['recipe']!r}: {manifest['steps']} steps, {manifest['train_wall_time_s']:.0f} s on "
      f"{manifest['device']}; recorded test accuracy {manifest['metrics']['test_accuracy']:.2%}, "
      f"measured now {shipped_acc:.2%}")
assert abs(shipped_acc - manifest["metrics"]["test_accuracy"]) < 0.003 and shipped_acc > 0.99

probs = judge.predict(x_test[:16])
show_captioned(x_test[:16], [f"judge: {int(p.argmax())} ({p.max():.0%})" for p in probs], ncols=8, size=1.2)
plt.show()

# %% [markdown]
# ## What comes next
#
# You have the data, the captions, the judge and the loop. Chapter 1 starts the story of generation itself with
# the oldest idea that works: two networks playing a game — the GAN.
#
# **Check yourself.** (1) Why does the course keep images in [−1, 1] rather than [0, 1]? (2) What must a checkpoint
# store so that training resumes *exactly* where it stopped? (3) Why does a judge trained on real digits make a fair
# grader of generated ones only within this course?
