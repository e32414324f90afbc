"""Recipes for the Imagen chapter (9): a two-stage cascade on the shapes world, an upsampler without noise
conditioning augmentation to show what the augmentation is for, and two emoji models that differ in the text encoder.

* ``imagen_sr`` -- the text-conditioned super-resolution model, 16 -> 32 px (:class:`t2ilib.imagen.SuperResUNet`):
  trained on real training images shrunk to 16 px (box filter), noised at a level a ~ U[0, 0.5] it is told
  (noise conditioning augmentation). Graded on the cascade's ceiling: the shapes world's own 16 px pictures of
  the fidelity captions, upscaled at level 0 and read by the shapes probe.
* ``imagen_sr_noaug`` -- the same, trained on clean 16 px images only (a = 0 always). Graded the same way.
* ``imagen_base`` -- the 16 px text-to-image model (the shapes models' UNet and caption conditioning) trained on
  the same training images shrunk to 16 px. Graded as the cascade it heads: its samples, upscaled by the shipped
  ``imagen_sr`` at level ``LEVEL``, read by the shapes probe (so ``imagen_sr`` is trained first).

All three: the shapes models' UNet (channels 32/64/128, cross-attention at the lowest level with query positions,
v-prediction, cosine schedule, T = 1000), a 2-layer text transformer trained from scratch with the model, 10 %
condition dropout, EMA 0.999. Imagen's own text encoder is frozen (T5-XXL); the only frozen encoder offline here
(all-MiniLM-L6-v2), under a trained adapter, got two-object captions right 21 % of the time in chapter 6c
(``shapes_minilm``; ``shapes_scratch`` 96 %), so the cascade reads captions with the encoder ``shapes_scratch`` uses,
and the chapter measures what a frozen encoder buys on the emoji names instead.

* ``emoji_minilm`` / ``emoji_scratch`` -- what a frozen text encoder buys: text-to-image UNets on the emoji whose
  names are not held out (:func:`t2ilib.imagen.open_vocabulary.emoji_split`), 32 px, the same except for the text
  encoder: frozen all-MiniLM-L6-v2 token states read directly by cross-attention (Imagen reads T5-XXL's the same
  way), or a 2-layer transformer trained from scratch with the model over MiniLM's WordPiece vocabulary. Graded on
  the held-out names by :func:`t2ilib.eval.open_vocabulary.open_vocabulary` in the ``emoji_features`` space.

Same total training compute as the single-stage ``shapes_scratch`` (6000 steps of 64 at 32 px): per step of 64,
the 32 px model costs 155 GFLOP (forward + backward, counted by ``torch.utils.flop_counter``), the 16 px base
45.3 GFLOP and the upsampler 155 GFLOP, so 6890 base steps + 4000 upsampler steps = 932 TFLOP vs 932 TFLOP.

The base reads the caption by cross-attention at 8 x 8 and 4 x 4 (Imagen's base attends to the text in every
self-attention layer, App. D.3.1, not at one resolution). With the 32 px model's single level, which is 4 x 4 at
16 px, a first run (7400 steps) drew two-object captions right only 30 % seen / 18 % held-out through ``imagen_sr``
(100 per group), mostly one colour on both objects or the objects exchanged.
"""

from __future__ import annotations

from functools import partial

import torch

from t2ilib.diffusion import noised_batches
from t2ilib.imagen import Cascade, SuperResUNet, downsample, superres_batches
from t2ilib.imagen.cascade import LEVEL
from t2ilib.imagen.open_vocabulary import captioned_emoji
from t2ilib.recipes import Recipe, register
from t2ilib.recipes.diffusion import denoising_loss
from t2ilib.recipes.text import (QUICK_SHAPES, QUICK_SHAPES_TOLERANCE, SCHEDULE, SHAPES_BATCH, SHAPES_CONFIG,
                                 SHAPES_MODEL, captioned_shapes)
from t2ilib.text.denoiser import TextConditionedUNet

LOW, HIGH = 16, 32
MAX_LEVEL = 0.5  # training: a ~ U[0, MAX_LEVEL]
BASE_MODEL = {**SHAPES_MODEL, "resolution": LOW, "attention_levels": (1, 2)}  # cross-attention at 8 x 8 and 4 x 4
SR_MODEL = dict(SHAPES_MODEL)  # resolution 32
BASE_CONFIG = {**SHAPES_CONFIG, "steps": 6890}
SR_CONFIG = {**SHAPES_CONFIG, "steps": 4000}
EVAL = dict(n_per_group=100, guidance=3.0, steps=25, seed=0)
QUICK, QUICK_TOLERANCE = QUICK_SHAPES, QUICK_SHAPES_TOLERANCE  # the test suite's re-measurement, as for shapes_scratch


def build_base() -> TextConditionedUNet:
    return TextConditionedUNet("scratch", **SCHEDULE, **BASE_MODEL)


def build_upsampler() -> SuperResUNet:
    return SuperResUNet(low_resolution=LOW, encoder="scratch", **SCHEDULE, **SR_MODEL)


def base_batches(model, device):
    """Step -> (x_0 at 16 px, t, eps, captions): the shapes training stream shrunk as the upsampler's inputs are."""
    shapes = captioned_shapes(device, SHAPES_BATCH)

    def at(step: int):
        images, captions = shapes(step)
        return downsample(images, LOW), captions
    return noised_batches(at, model.num_steps)


def upsampler_batches(max_level: float):
    def batches(model, device):
        return noised_batches(superres_batches(captioned_shapes(device, SHAPES_BATCH), LOW, max_level),
                              model.num_steps)
    return batches


def evaluate_cascade(base, upsampler, n_per_group: int, steps: int, level: float) -> dict:
    from t2ilib.eval.fidelity import shapes_fidelity

    return shapes_fidelity(Cascade(base, upsampler).eval(), n_per_group=n_per_group, guidance=EVAL["guidance"],
                           steps=steps, seed=EVAL["seed"], sampling={"level": level})


def evaluate_upsampler(model, device, n_per_group: int = EVAL["n_per_group"], steps: int = EVAL["steps"]) -> dict:
    return evaluate_cascade(None, model, n_per_group, steps, 0.0)


def evaluate_base(model, device, n_per_group: int = EVAL["n_per_group"], steps: int = EVAL["steps"]) -> dict:
    from t2ilib.checkpoint import load_pretrained

    return evaluate_cascade(model, load_pretrained("imagen_sr", device), n_per_group, steps, LEVEL)


for _name, _level, _desc in (("imagen_sr", MAX_LEVEL, f"noise conditioning augmentation, a ~ U[0, {MAX_LEVEL}]"),
                             ("imagen_sr_noaug", 0.0, "no augmentation (clean 16 px inputs only)")):
    register(Recipe(name=_name, description=f"Imagen's text-conditioned upsampler, 16 -> 32 px shapes; {_desc}",
                    build=build_upsampler, config=SR_CONFIG, loss=denoising_loss, batches=upsampler_batches(_level),
                    evaluate=evaluate_upsampler, metric="fidelity", tolerance=0.05, quick=QUICK,
                    quick_tolerance=QUICK_TOLERANCE, requires=("shapes_probe",)))
register(Recipe(name="imagen_base", description="Imagen's base model: text-to-image at 16 px (shapes); graded as the "
                                                "cascade with imagen_sr",
                build=build_base, config=BASE_CONFIG, loss=denoising_loss, batches=base_batches,
                evaluate=evaluate_base, metric="fidelity", tolerance=0.05, quick=QUICK, quick_tolerance=QUICK_TOLERANCE,
                requires=("imagen_sr", "shapes_probe")))


# ------------------------------------------------------------------ what a frozen text encoder buys: emoji names
EMOJI_MODEL = dict(conditioning="pooled+tokens", max_tokens=24, resolution=32, in_channels=3, channels=(32, 64, 128),
                   num_res_blocks=1, attention_levels=(2,), prediction="v_prediction")
EMOJI_CONFIG = {**SHAPES_CONFIG, "steps": 3000}
EMOJI_EVAL = dict(guidance=3.0, steps=25, seed=0)
QUICK_EMOJI = dict(n=32, steps=10)


def build_emoji(encoder: str) -> TextConditionedUNet:
    """The emoji text-to-image UNet with frozen MiniLM token states read directly by cross-attention (as Imagen reads
    T5's), or with a 2-layer text transformer trained from scratch over MiniLM's WordPiece vocabulary."""
    extra = {"scratch_tokenizer": "wordpiece"} if encoder == "scratch" else {}
    return TextConditionedUNet(encoder, **SCHEDULE, **EMOJI_MODEL, **extra)


def emoji_batches(model, device):
    return noised_batches(captioned_emoji(device, SHAPES_BATCH), model.num_steps)


def evaluate_emoji(model, device, n: int | None = None, steps: int = EMOJI_EVAL["steps"]) -> dict:
    """Open vocabulary on the held-out names (all of them, or the first ``n``): top-1 / top-10 % hit rates of the
    name's real emoji among all emoji in ``emoji_features``, beside the shuffled-name baseline."""
    from t2ilib.checkpoint import load_pretrained
    from t2ilib.eval.open_vocabulary import open_vocabulary

    return open_vocabulary(model, load_pretrained("emoji_features", device), n=n, guidance=EMOJI_EVAL["guidance"],
                           steps=steps, seed=EMOJI_EVAL["seed"])


for _enc, _desc in (("minilm", "frozen all-MiniLM-L6-v2 token states"),
                    ("scratch", "2-layer transformer trained from scratch (WordPiece tokens)")):
    register(Recipe(name=f"emoji_{_enc}", description=f"text-to-image UNet on the training emoji names, 32 px; text: "
                                                     f"{_desc}; graded on the held-out names",
                    build=partial(build_emoji, _enc), config=EMOJI_CONFIG, loss=denoising_loss,
                    batches=emoji_batches, evaluate=evaluate_emoji, metric="top-10 %", tolerance=0.05,
                    quick=QUICK_EMOJI, requires=("emoji_features",)))
