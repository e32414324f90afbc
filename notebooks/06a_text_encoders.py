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
# # Chapter 6a — Text conditioning I: tokens, text encoders and cross-attention
#
# Chapter 5 drew digits from noise, but we could not say *which* digit. From here on, a caption steers the
# denoiser. Chapter 6 comes in four notebooks:
#
# * **6a (this one)** — how a caption becomes numbers a UNet can use: tokenizers, padding and attention masks,
#   two text encoders (a frozen pretrained language model and a small one trained from scratch), and
#   cross-attention, the layer through which every pixel reads the words that concern it;
# * **6b** — classifier-free guidance on captioned digits: condition dropout, the guided prediction in its three
#   conventions, the fidelity-vs-diversity trade-off;
# * **6c** — text to image on the shapes world: the course's trained models, their attention maps, prompt
#   fidelity on seen and held-out combinations, frozen vs trained text encoder, a word-order test;
# * **6d** — large guidance scales, static vs Imagen's dynamic thresholding, and a live prompt box.
#
# **You will:** tokenize captions two ways, read a frozen pretrained encoder's states, build a BERT from a config,
# and check masked cross-attention against PyTorch's fused kernel. **Prerequisites:** 5 (the UNet denoiser);
# attention (softmax(QKᵀ/√d)V) at the level of any transformer introduction.
#
# The conditioning mechanisms, in order of power:
#
# | mechanism | what the UNet receives | can express | used by |
# |---|---|---|---|
# | class embedding | one learned vector per label, added to the time embedding | a fixed label set | class-conditional DDPM, chapter 6b |
# | pooled sentence embedding | one vector per caption, added to the time embedding | anything, but squeezed into one vector | GLIDE, Imagen (besides cross-attention) |
# | per-token cross-attention | one vector per token; each pixel attends over them | *which* word applies *where* | Latent Diffusion, Imagen, DALL-E 2's decoder |

# %%
import time

import matplotlib.pyplot as plt
import torch

from t2ilib import get_device, seed_everything
from t2ilib.nn import CrossAttention2d, UNet, masked_attention
from t2ilib.text.tokenizers import course_tokenizer, pretrained_model_path, pretrained_tokenizer
from t2ilib.text.encoders import FrozenPretrainedEncoder, ScratchTextEncoder, mean_pool, tokenize

device = get_device()
seed_everything(0)
print("device:", device)

# %% [markdown]
# ## 1. Tokens
#
# A network reads integers, not words. A **tokenizer** maps text to token ids. Two kinds:
#
# * **word-level**, trained on the course's own captions (`course_tokenizer`, ~70 entries): every caption word is
#   one token; any other word becomes `[UNK]` — the model cannot even tell "zebra" from "sofa";
# * **WordPiece**, the pretrained tokenizer of all-MiniLM-L6-v2 (30 522 pieces learned on English text): a
#   rare word is split into known pieces, so nothing is ever unknown.
#
# Both add `[CLS]` at the start and `[SEP]` at the end, as BERT does.

# %%
# NBVAL_CHECK_OUTPUT
words_tok, piece_tok = course_tokenizer(), pretrained_tokenizer()
print(f"course tokenizer: {len(words_tok)} tokens; all-MiniLM-L6-v2 WordPiece: {len(piece_tok)} tokens")
for caption in ("a small purple hexagon on the left", "a zebra above a sofa"):
    print(f"\n{caption!r}")
    print("  word-level:", words_tok.convert_ids_to_tokens(words_tok(caption)["input_ids"]))
    print("  WordPiece :", piece_tok.convert_ids_to_tokens(piece_tok(caption)["input_ids"]))

# %% [markdown]
# **Padding and attention masks.** Captions differ in length, but a batch is one rectangular tensor. So short
# captions are **padded** with `[PAD]` to a common length, and an **attention mask** (1 = real token, 0 =
# padding) travels with them. Every attention layer that reads the text must use the mask — otherwise a
# caption's meaning would depend on how long its neighbours in the batch were. The course pads every caption
# to a fixed `max_tokens`, so that a caption and the empty caption (needed for guidance in 6b) batch together.

# %%
# NBVAL_CHECK_OUTPUT
captions = ["a small red circle on the left", "a large blue square left of a small green triangle", ""]
batch = tokenize(words_tok, captions, max_tokens=16, device="cpu")
for c, ids, m in zip(captions, batch["input_ids"], batch["attention_mask"]):
    print(f"{c!r:55s} ids {ids.tolist()}\n{'':55s} mask {m.tolist()}")
lengths = batch["attention_mask"].sum(1)
assert lengths.tolist() == [len(words_tok(c)["input_ids"]) for c in captions]
assert (batch["input_ids"][batch["attention_mask"] == 0] == words_tok.pad_token_id).all()
print("mask sums = token counts:", lengths.tolist())

# %% [markdown]
# ## 2. A frozen pretrained text encoder: all-MiniLM-L6-v2
#
# Imagen's central finding (Saharia et al. 2022, Sec. 4.4): conditioning on a **large frozen language model**
# (T5-XXL, 4.6 B parameters, never trained on images) helps text-image alignment more than making the diffusion
# model bigger. The text encoder already knows language; the image model only has to learn to draw what it says.
# No T5 exists offline here, so the course uses all-MiniLM-L6-v2 (a 6-layer BERT, 22.7 M parameters, trained by
# sentence-transformers on ~1 billion English sentence pairs), shipped as a package and loaded with
# `transformers.AutoModel.from_pretrained(<local folder>)`. It gives:
#
# * **per-token states** h_1 … h_L (384 numbers each) — what cross-attention reads;
# * a **pooled sentence vector** — the mean of the token states over the mask,
#   $\bar h = \sum_i m_i h_i / \sum_i m_i$, divided by its length (exactly what sentence-transformers computes
#   for this model: its `Pooling` + `Normalize` modules).
#
# Check our pooling against the sentence-transformers library itself:

# %%
from sentence_transformers import SentenceTransformer

frozen = FrozenPretrainedEncoder(max_tokens=24, precision="fp32")
print(f"all-MiniLM-L6-v2: {sum(p.numel() for p in frozen.model.parameters()):,} parameters, all frozen:",
      not any(p.requires_grad for p in frozen.model.parameters()))
enc = frozen(captions[:2])
print("token states", tuple(enc.states.shape), " mask", tuple(enc.mask.shape), " pooled", tuple(enc.pooled.shape))
reference = SentenceTransformer(str(pretrained_model_path()), device="cpu").encode(captions[:2], convert_to_tensor=True)
diff = (enc.pooled - reference.float()).abs().max().item()
print(f"max |ours - sentence-transformers| = {diff:.1e}")
assert diff < 1e-5

# padding does not change a caption's states: encode with 12 instead of 24 slots
short = FrozenPretrainedEncoder(max_tokens=12, precision="fp32")(captions[:1])
n = int(short.mask.sum())
pad_diff = (short.states[0, :n] - enc.states[0, :n]).abs().max().item()
print(f"same caption, 12 vs 24 slots: max state difference {pad_diff:.1e}")
assert pad_diff < 1e-5

# %% [markdown]
# **What does it know?** Cosine similarities of pooled vectors. Paraphrases the course's captions never use
# ("over" is in the grammar, "on top of" is not) come out close, because MiniLM has read English. But look at the
# last pair: swapping the colours changes the picture completely, yet the pooled vectors barely move. One
# averaged vector blurs *which* word goes with *which* object — that is why the per-token states and
# cross-attention are needed.

# %%
probe = ["a red circle above a blue square", "a red circle over a blue square",
         "a blue square below a red circle", "a red circle on top of a blue square",
         "a blue circle above a red square", "a handwritten digit seven"]
pooled = frozen(probe).pooled
sim = pooled @ pooled.T
fig, ax = plt.subplots(figsize=(7.5, 5))
im = ax.imshow(sim.numpy(), vmin=0, vmax=1, cmap="viridis")
ax.set_xticks(range(len(probe)), [f"({i})" for i in range(len(probe))])
ax.set_yticks(range(len(probe)), [f"({i}) {p}" for i, p in enumerate(probe)])
for i in range(len(probe)):
    for j in range(len(probe)):
        ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", color="w" if sim[i, j] < 0.6 else "k", fontsize=8)
plt.colorbar(im, ax=ax, shrink=0.8)
ax.set_title("MiniLM: cosine similarity of pooled sentence vectors")
plt.tight_layout()
plt.show()
print(f"paraphrase 'over'  : {sim[0, 1]:.3f}    colours swapped: {sim[0, 4]:.3f}    unrelated digit caption: "
      f"{sim[0, 5]:.3f}")
assert sim[0, 1] > sim[0, 5] and sim[0, 4] > 0.8

# %% [markdown]
# **Which object does a word belong to?** Cross-attention reads the token states through *linear* maps (keys and
# values). To draw "a red circle right of a blue square", the pixels on the right must find "red" and "circle":
# the state of "red" has to say "my object is the one on the right" — and that depends on other words ("right
# of", "left of", "with … on its left"). Test it with probes on the colour words of 2-object captions: can the
# frozen state tell whether its object is the left (or upper) one? A linear probe (what one attention map can
# use) against a small MLP (what a few trainable layers on top could compute), on captions never used to fit:

# %%
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from t2ilib.data.shapes import ShapesWorld
from t2ilib.data.shapes_captions import COLORS, parse_caption
from t2ilib.eval.shapes_probe import canonical

tokenizer = pretrained_tokenizer()
minilm = FrozenPretrainedEncoder(max_tokens=24)  # the course's precision policy, as the 6c models use it


def colour_word_states(n, seed, split):
    """States of the colour words of n two-object captions, and whether that object is the left/upper one."""
    world = ShapesWorld(n, 32, seed, split, n_objects=2)
    texts = [world.scene(i).caption for i in range(n)]
    states = minilm(texts).states
    xs, ys = [], []
    for i, text in enumerate(texts):
        first = canonical(parse_caption(text))  # object 0 = the left / upper one
        if first["color0"] == first["color1"]:
            continue  # same colour twice: the word does not say which object
        for j, tok in enumerate(tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])):
            if tok in COLORS:
                xs.append(states[i, j].float())
                ys.append(int(tok == first["color0"]))
    return torch.stack(xs).numpy(), torch.tensor(ys).numpy()


t0 = time.perf_counter()
x_fit, y_fit = colour_word_states(2000, seed=1, split="train")
x_new, y_new = colour_word_states(600, seed=2, split="test")
linear = LogisticRegression(max_iter=2000, C=10.0).fit(x_fit, y_fit)
with warnings.catch_warnings():  # 300 epochs of Adam are enough to show the point, not to converge fully
    warnings.simplefilter("ignore", ConvergenceWarning)
    mlp = MLPClassifier((64,), max_iter=300, random_state=0).fit(x_fit, y_fit)
acc_linear, acc_mlp = linear.score(x_new, y_new), mlp.score(x_new, y_new)
print(f"{len(y_fit)} colour words to fit, {len(y_new)} to test ({time.perf_counter() - t0:.0f} s)")
print(f"'is my object the left/upper one?'  linear probe {acc_linear:.2f}   MLP probe {acc_mlp:.2f}   (chance 0.50)")
assert acc_linear < 0.85 and acc_mlp > acc_linear + 0.1

# %% [markdown]
# The answer is in the frozen states, but not linearly, and cross-attention reads them through linear key and
# value maps: straight on MiniLM it has little to bind colours to places with (6c shows a second obstacle: the
# loss weighting). Imagen's frozen T5-XXL is 200x larger and needs no help; at toy scale the course puts a small
# **trainable adapter** — 2 transformer layers of 128 dimensions (`t2ilib.text.encoders.TextAdapter`) — between
# the frozen states and the UNet. The language knowledge stays frozen; the adapter learns to compute what the pictures need.

# %% [markdown]
# ## 3. A text encoder trained from scratch
#
# The alternative (GLIDE's choice, Nichol et al. 2021): a transformer with random weights, trained jointly with
# the denoiser on the image-caption pairs — in GLIDE a large one (24 blocks of width 2048, about 1.2 B
# parameters); ours is built from a `transformers` `BertConfig` with 2 layers, 4 heads and 128 dimensions, over
# the word-level course tokenizer. It knows nothing but what the denoiser's loss teaches it:
# it never saw "on top of", and it cannot, since that is `[UNK]` `[UNK]` `of` for its tokenizer. Chapter 6c
# compares the two encoders on held-out combinations.

# %%
scratch = ScratchTextEncoder(dim=128, layers=2, heads=4, max_tokens=24)
print(scratch.bert.config.model_type, "layers", scratch.bert.config.num_hidden_layers, "hidden",
      scratch.bert.config.hidden_size, f"-> {sum(p.numel() for p in scratch.parameters()):,} trainable parameters")
out = scratch(captions)
print("token states", tuple(out.states.shape), " pooled", tuple(out.pooled.shape))
assert torch.allclose(out.pooled, mean_pool(out.states, out.mask))

# %% [markdown]
# ## 4. Cross-attention
#
# The UNet's feature map h (C channels on an H × W grid) gives one **query** per pixel; the text states give one
# **key** and **value** per token (Rombach et al. 2022, Eq. 3):
#
# $$Q = W_Q\,\mathrm{norm}(h),\quad K = W_K\,\tau(y),\quad V = W_V\,\tau(y),\qquad
#   \mathrm{CrossAttn}(h, y) = \mathrm{softmax}\!\Big(\frac{QK^\top}{\sqrt d} + M\Big)V,$$
#
# with M = −∞ on padded tokens. Each pixel ends up with a weighted mix of word vectors — the weights are the
# **attention map** that 6c plots. The result is projected and *added* to h; the projection starts at zero, so an
# untrained block is the identity. Three checks: the written-out formula equals PyTorch's fused kernel, padding is
# invisible, and the block starts as the identity.

# %%
g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, 4, 64, 32, generator=g) for _ in range(3))  # 2 images, 4 heads, 8x8 pixels, 6+ tokens
k, v = k[:, :, :9], v[:, :, :9]
mask = torch.tensor([[1] * 6 + [0] * 3, [1] * 9])
out, weights = masked_attention(q, k, v, mask)
fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask.bool()[:, None, None, :])
unpadded, _ = masked_attention(q[:1], k[:1, :, :6], v[:1, :, :6])
print(f"written-out vs fused SDPA   : {(out - fused).abs().max():.1e}")
print(f"padded vs padding removed   : {(out[:1] - unpadded).abs().max():.1e}")
print(f"weight on padding           : {weights[0, :, :, 6:].abs().max():.1e}")
print(f"weights sum to 1 per pixel  : {torch.allclose(weights.sum(-1), torch.ones(2, 4, 64))}")
assert (out - fused).abs().max() < 1e-5 and (out[:1] - unpadded).abs().max() < 1e-5

block = CrossAttention2d(channels=64, context_dim=384, heads=4)
h = torch.randn(2, 64, 8, 8, generator=g)
print("untrained block is the identity:", torch.equal(block(h, enc.states, enc.mask), h))

# %% [markdown]
# ## 5. Three conditioned UNets
#
# The course's `UNet` takes all three signals: `num_classes` (class embedding), `cond_dim` (pooled vector →
# small MLP → added to the time embedding) and `context_dim` (cross-attention after every self-attention block).
# What each costs in parameters, at the shapes-world size used in 6c (32 px, channels 32/64/128):

# %%
# NBVAL_CHECK_OUTPUT
kw = dict(in_channels=3, channels=(32, 64, 128), attention_levels=(2,))
variants = {"unconditional": {}, "class embedding (10 labels)": dict(num_classes=10),
            "pooled sentence vector": dict(cond_dim=384), "pooled + cross-attention": dict(cond_dim=384, context_dim=384)}
sizes = {}
x, t = torch.randn(2, 3, 32, 32, generator=g), torch.tensor([10, 900])
for name, extra in variants.items():
    unet = UNet(**kw, **extra)
    sizes[name] = sum(p.numel() for p in unet.parameters())
    kwargs = {"y": torch.tensor([3, 7])} if "num_classes" in extra else {}
    if "cond_dim" in extra:
        kwargs["cond"] = enc.pooled
    if "context_dim" in extra:
        kwargs.update(context=enc.states, context_mask=enc.mask)
    assert unet(x, t, **kwargs).shape == x.shape
    print(f"{name:30s} {sizes[name]:>10,} parameters, {len(unet.cross_attention_blocks())} cross-attention blocks")

# %% [markdown]
# The text encoders are not in these counts: MiniLM's 22.7 M stay frozen outside the denoiser (and outside its
# checkpoint); the scratch BERT's 0.4 M — and, on the MiniLM side, the adapter's 0.45 M — train with it.
#
# ## Summary
#
# * Tokenizers turn captions into ids: a word-level vocabulary knows only its grammar ([UNK] otherwise), WordPiece
#   splits any word into known pieces. Padding plus an attention mask lets captions of different lengths share a
#   batch.
# * A frozen pretrained encoder (MiniLM) brings knowledge of English; a small encoder trained with the denoiser
#   learns exactly the captions it sees.
# * Cross-attention lets every pixel read the tokens that concern it; padded tokens must be masked out of the
#   softmax (checked against the fused kernel here; Exercise 6c.1 asks you to write it).
#
# **Check yourself.** (1) What goes wrong if padding is not masked? (2) Why can a pooled sentence vector not say
# which colour belongs to which shape? (3) What does a frozen encoder cost at training time, and what does it
# save?
#
# **Next, 6b:** train a class-conditional denoiser in a few minutes and guide it.
