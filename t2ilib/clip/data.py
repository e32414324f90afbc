"""Captioned images for CLIP: the shapes world (with paraphrases), captioned MNIST digits and Fashion-MNIST, all as
32 x 32 RGB in [-1, 1], and the altered captions used as hard negatives (one shape replaced; two objects or their
colours swapped).

Every caption also gets a *meaning*: the attributes it states (shapes world) or its class (digits, clothes). Two
captions with one meaning ("a handwritten digit seven", "the digit seven") describe the same images, and the loss
treats them as such (:func:`t2ilib.clip.loss.clip_loss`'s ``positives``).

Only the shapes world's ``"train"`` stream is used: the six held-out (colour, shape) pairs never appear in a
training caption or image, so zero-shot accuracy on them measures composition. The digit and clothing images come
from the shipped training subsets; their test subsets are for evaluation. (The emoji set is left out: each of its
1911 names occurs once, with one image, which a contrastive model can only memorise.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Hashable

import torch
import torch.nn.functional as F

from t2ilib.clip.zero_shot import same_meaning
from t2ilib.data import load_dataset
from t2ilib.data.digit_captions import TEMPLATES as DIGIT_TEMPLATES
from t2ilib.data.digit_captions import digit_caption
from t2ilib.data.datasets import FASHION_PHRASES
from t2ilib.data.shapes import HELD_OUT_PAIRS, ShapesWorld, render_scenes
from t2ilib.data.shapes_captions import render_caption, vocabulary
from t2ilib.data.shapes_render import SHAPES
from t2ilib.images import to_image_range
from t2ilib.text.tokenizers import SPECIAL_TOKENS, train_word_tokenizer

RESOLUTION = 32
FASHION_TEMPLATES = ("a photo of {x}", "{x}", "a picture of {x}", "a black and white photo of {x}")
SHAPES_SHARE, DIGIT_SHARE = 0.75, 0.125  # of each batch; the rest is Fashion-MNIST
SWAPS = ("objects", "colors")  # two-object hard negatives


def fashion_caption(label: int, template: int = 0) -> str:
    return FASHION_TEMPLATES[template % len(FASHION_TEMPLATES)].format(x=FASHION_PHRASES[label])


def digit_prompts(label: int) -> list[str]:
    return [digit_caption(label, k) for k in range(len(DIGIT_TEMPLATES))]


def fashion_prompts(label: int) -> list[str]:
    return [fashion_caption(label, k) for k in range(len(FASHION_TEMPLATES))]


def clip_vocabulary() -> tuple[str, ...]:
    """The special tokens, then every word of the shapes grammar, the digit and the clothing captions (ids in this
    order; deterministic)."""
    corpus = [" ".join(vocabulary()), "on the left, a small red circle"]
    corpus += [c for d in range(10) for c in digit_prompts(d)] + [c for k in range(10) for c in fashion_prompts(k)]
    vocab = train_word_tokenizer(corpus).get_vocab()
    words = sorted(set(vocab) - set(SPECIAL_TOKENS))
    return SPECIAL_TOKENS + tuple(words)


def as_clip_images(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] images (N, 1 or 3, H <= 32, W) -> (N, 3, 32, 32): grey replicated to RGB, padded with black."""
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    pad = RESOLUTION - images.shape[-1]
    if pad < 0:
        raise ValueError(f"images: expected at most {RESOLUTION} px, got {images.shape[-1]}")
    return F.pad(images, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), value=-1.0)


def meaning(attrs: dict) -> tuple:
    """A hashable key: the attributes a shapes caption states."""
    return ("shapes",) + tuple(sorted(attrs.items()))


def swapped(attrs: dict, what: str) -> dict:
    """A two-object scene's attributes with its two objects (``what="objects"``: shape, colour and size) or only
    their colours (``"colors"``) exchanged: the caption of a different scene that uses the same words."""
    if attrs.get("n_objects") != 2:
        raise ValueError("attrs: expected a two-object scene")
    keys = {"objects": ("shape", "color", "size"), "colors": ("color",)}[what]
    out = dict(attrs)
    for k in keys:
        out[f"{k}_a"], out[f"{k}_b"] = attrs[f"{k}_b"], attrs[f"{k}_a"]
    return out


def _names_held_out_pair(attrs: dict) -> bool:
    keys = [("color", "shape")] if attrs["n_objects"] == 1 else [("color_a", "shape_a"), ("color_b", "shape_b")]
    return any((attrs[c], attrs[s]) in HELD_OUT_PAIRS for c, s in keys)


def reshaped(attrs: dict, which: str, shape: str) -> dict:
    """The attributes with one object's shape replaced (``which``: "" for a one-object scene, "a" or "b")."""
    key = f"shape_{which}" if which else "shape"
    if key not in attrs:
        raise ValueError(f"which: expected {'a or b' if attrs.get('n_objects') == 2 else 'an empty string'} for this "
                         f"scene, got {which!r}")
    return {**attrs, key: shape}


def reshaped_caption(scene, which: str, shape: str) -> str | None:
    """The caption of ``scene`` (same wording) with one object's shape replaced by ``shape``: a hard negative that
    differs from the truth in the shape alone. None when nothing changes or, for a training scene, when it would
    name a held-out pair."""
    return _negative_caption(scene, reshaped(scene.attributes(), which, shape))


def swapped_caption(scene, what: str) -> str | None:
    """The caption of ``scene`` (same template and wording) with objects or colours swapped; None when the swap
    changes nothing (two identical objects, or two objects of one colour) or, for a training scene, would name a
    held-out (colour, shape) pair (swapping colours can make one: those pairs must not appear in training text)."""
    return _negative_caption(scene, swapped(scene.attributes(), what))


def _negative_caption(scene, new: dict) -> str | None:
    if new == scene.attributes() or (_names_held_out_pair(new) and not scene.is_held_out()):
        return None
    return render_caption(new, scene.template, scene.variant)


def _with_shape(scene, index: int, shape: str):
    """The scene with object ``index`` drawn as ``shape`` (same colour, size and place)."""
    objects = list(scene.objects)
    objects[index] = dataclasses.replace(objects[index], shape=shape)
    return dataclasses.replace(scene, objects=tuple(objects))


@dataclass
class CaptionedBatch:
    images: torch.Tensor  # (N, 3, 32, 32) in [-1, 1]
    captions: list[str]  # caption i describes image i
    meanings: list[Hashable]
    negatives: list[str]  # hard-negative captions (describe no image of the batch's pair)
    negative_meanings: list[Hashable]

    def positives(self) -> torch.Tensor:
        """(N, N + H) bool: caption (or negative) j states what image i shows."""
        return same_meaning(self.meanings, self.meanings + self.negative_meanings)


def clip_batches(batch: int = 128, seed: int = 0, hard_negatives: bool = True, image_twins: bool = False,
                 device: torch.device | str = "cpu") -> Callable[[int], CaptionedBatch]:
    """``step -> CaptionedBatch``: 3/4 shapes-world scenes (train stream), 1/8 captioned digits, 1/8 clothes, each
    caption from a random template. ``hard_negatives``: every shapes scene adds its caption with one object's shape
    replaced by a random other shape, and every two-object scene its objects-swapped and colours-swapped captions.
    ``image_twins`` (with ``hard_negatives``): the shape-replaced caption comes with its image -- the same scene
    rendered with that one shape changed -- as one more pair of the batch instead of a caption alone, so the image
    encoder too must tell two scenes apart by a shape and nothing else. A pure function of the step (resumable)."""
    n_shapes, n_digits = round(batch * SHAPES_SHARE), round(batch * DIGIT_SHARE)
    n_fashion = batch - n_shapes - n_digits
    scenes = ShapesWorld(10**8, RESOLUTION, seed, "train").batches(n_shapes)
    digits, fashion = load_dataset("mnist", "train"), load_dataset("fashion_mnist", "train")
    digit_x, fashion_x = (as_clip_images(d.tensors()[0]) for d in (digits, fashion))

    def at(step: int) -> CaptionedBatch:
        b = scenes(step)
        g = torch.Generator().manual_seed(seed * 1_000_003 + step + 5)
        di = torch.randint(len(digits), (n_digits,), generator=g)
        fi = torch.randint(len(fashion), (n_fashion,), generator=g)
        dt = torch.randint(len(DIGIT_TEMPLATES), (n_digits,), generator=g).tolist()
        ft = torch.randint(len(FASHION_TEMPLATES), (n_fashion,), generator=g).tolist()
        dl, fl = digits.labels[di].tolist(), fashion.labels[fi].tolist()
        captions = b.captions + [digit_caption(d, k) for d, k in zip(dl, dt)] + \
            [fashion_caption(c, k) for c, k in zip(fl, ft)]
        meanings = [meaning(a) for a in b.attributes] + [("digit", d) for d in dl] + [("fashion", c) for c in fl]
        negatives, negative_meanings, twins = [], [], []
        if hard_negatives:
            picks = torch.randint(2, (len(b.scenes),), generator=g).tolist()
            shapes = torch.randint(len(SHAPES) - 1, (len(b.scenes),), generator=g).tolist()
            for scene, pick, k in zip(b.scenes, picks, shapes):
                attrs = scene.attributes()
                which = "" if len(scene.objects) == 1 else "ab"[pick]
                old = attrs[f"shape_{which}" if which else "shape"]
                new_shape = [s for s in SHAPES if s != old][k]
                candidates = [(reshaped_caption(scene, which, new_shape), reshaped(attrs, which, new_shape))]
                if len(scene.objects) == 2:
                    candidates += [(swapped_caption(scene, what), swapped(attrs, what)) for what in SWAPS]
                if image_twins and candidates[0][0] is not None:
                    caption, new = candidates.pop(0)
                    twins.append(_with_shape(scene, "ab".index(which) if which else 0, new_shape))
                    captions.append(caption)
                    meanings.append(meaning(new))
                for caption, new in candidates:
                    if caption is not None:
                        negatives.append(caption)
                        negative_meanings.append(meaning(new))
        parts = [b.images, digit_x[di], fashion_x[fi]]
        if twins:
            parts.append(to_image_range(render_scenes(twins)))
        return CaptionedBatch(torch.cat(parts).to(device), captions, meanings, negatives, negative_meanings)
    return at
