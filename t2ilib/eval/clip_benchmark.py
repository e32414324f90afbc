"""How good is a trained CLIP? Zero-shot classification, retrieval and binding, on data it never trained on.

    python -m t2ilib.eval.clip_benchmark [--model clip] [--n 1000]

* **shapes attributes**: single-object scenes of the ``test`` split (only seen (colour, shape) pairs) and of the
  ``held_out`` split (every scene shows a pair no training caption or image had). The classes are all 360
  single-object meanings (6 colours x 6 shapes x 2 sizes x 5 positions), each embedded from its 8 wordings
  (4 templates x 2 phrasings, prompt ensembling); an image gets the best-matching meaning, and each attribute of it
  is scored. Held-out pairs are among the candidates like any other.
* **digits / clothes**: the shipped MNIST and Fashion-MNIST *test* images, classes from all caption templates.
* **retrieval**: ``n`` test-split scenes (one or two objects) and their captions; image -> text and text -> image
  recall@1 and @5. A retrieved item counts when its caption states the same attributes as the query's (two scenes
  with equal captions cannot be told apart by the caption); ``strict`` counts only the paired item.
* **binding**: two-object scenes; how often CLIP scores the true caption above the same caption with the two
  objects swapped ("a blue square left of a red circle" for "a red circle left of a blue square"), or only their
  colours swapped. 50 % is chance: a model that reads a caption as a bag of words cannot tell them apart.
"""

from __future__ import annotations

import argparse
import itertools

import torch

from t2ilib.clip.data import SWAPS, as_clip_images, digit_prompts, fashion_prompts, meaning, swapped_caption
from t2ilib.clip.zero_shot import (class_embeddings, embed_in_batches, recall_at_k, same_meaning,
                                   zero_shot_predict)
from t2ilib.data import load_dataset
from t2ilib.data.shapes import ShapesWorld
from t2ilib.data.shapes_captions import COLORS, ONE_TEMPLATES, POSITIONS, SIZES, render_caption
from t2ilib.data.shapes_render import SHAPES

ATTRIBUTES = ("color", "shape", "size", "position")


def single_object_meanings() -> list[dict]:
    return [{"n_objects": 1, "color": c, "shape": s, "size": z, "position": p}
            for c, s, z, p in itertools.product(COLORS, SHAPES, SIZES, POSITIONS)]


@torch.no_grad()
def shapes_attributes(model, split: str, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """Zero-shot accuracy of each attribute (and of all four at once) on ``n`` single-object scenes of ``split``."""
    candidates = single_object_meanings()
    prompts = [[render_caption(a, t, v) for t in range(len(ONE_TEMPLATES)) for v in range(2)] for a in candidates]
    classes = class_embeddings(model, prompts)
    batch = ShapesWorld(n, 32, seed, split, n_objects=1).batch(0, n)
    predicted = [candidates[i] for i in zero_shot_predict(model, batch.images, classes).tolist()]
    truth = batch.attributes
    out = {a: sum(p[a] == t[a] for p, t in zip(predicted, truth)) / n for a in ATTRIBUTES}
    out["all four"] = sum(all(p[a] == t[a] for a in ATTRIBUTES) for p, t in zip(predicted, truth)) / n
    return out


@torch.no_grad()
def class_accuracy(model, name: str) -> float:
    """Zero-shot accuracy on the shipped test images of ``mnist`` or ``fashion_mnist``."""
    data = load_dataset(name, "test")
    prompts = [digit_prompts(k) if name == "mnist" else fashion_prompts(k) for k in range(10)]
    images, labels = data.tensors()
    predicted = zero_shot_predict(model, as_clip_images(images), class_embeddings(model, prompts))
    return (predicted == labels).float().mean().item()


@torch.no_grad()
def retrieval(model, n: int = 1000, seed: int = 0) -> dict[str, float]:
    batch = ShapesWorld(n, 32, seed, "test").batch(0, n)
    sim = embed_in_batches(model.encode_images, batch.images) @ embed_in_batches(model.encode_text, batch.captions).T
    meanings = [meaning(a) for a in batch.attributes]
    relevant, strict = same_meaning(meanings, meanings), torch.eye(n, dtype=torch.bool)
    out = {}
    for direction, s in (("image->text", sim), ("text->image", sim.T)):
        for kind, rel in (("", relevant), (" strict", strict)):
            for k, v in recall_at_k(s, rel).items():
                out[f"{direction} R@{k}{kind}"] = v
    return out


@torch.no_grad()
def binding(model, split: str, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """Fraction of two-object scenes whose true caption scores above its swapped version, for each kind of swap
    (scenes where the swap changes nothing are skipped; ``n`` scenes are drawn)."""
    batch = ShapesWorld(n, 32, seed, split, n_objects=2).batch(0, n)
    scenes = batch.scenes
    images = embed_in_batches(model.encode_images, batch.images)
    out = {}
    for what in SWAPS:
        pairs = [(i, s.caption, swapped_caption(s, what)) for i, s in enumerate(scenes)]
        pairs = [p for p in pairs if p[2] is not None]
        idx = torch.tensor([p[0] for p in pairs])
        true = embed_in_batches(model.encode_text, [p[1] for p in pairs])
        false = embed_in_batches(model.encode_text, [p[2] for p in pairs])
        out[what] = ((images[idx] * true).sum(1) > (images[idx] * false).sum(1)).float().mean().item()
        out[f"{what} n"] = len(pairs)
    return out


def clip_benchmark(model, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """Every measurement above, as one flat dict (the recipes' metrics)."""
    out = attribute_metrics(model, n, seed)
    out["digits"], out["clothes"] = class_accuracy(model, "mnist"), class_accuracy(model, "fashion_mnist")
    out.update(retrieval(model, n, seed))
    for split, name in (("test", "seen"), ("held_out", "held-out")):
        out.update({f"binding {name} {k}": v for k, v in binding(model, split, n, seed).items()})
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def attribute_metrics(model, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """The zero-shot attribute part of :func:`clip_benchmark` alone (seen and held-out), with ``attributes worst``:
    the recipes' verified metric."""
    model.eval()
    out = {}
    for split, name in (("test", "seen"), ("held_out", "held-out")):
        out.update({f"attributes {name} {k}": v for k, v in shapes_attributes(model, split, n, seed).items()})
    out["attributes worst"] = min(out[f"attributes {s} {a}"] for s in ("seen", "held-out") for a in ATTRIBUTES)
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def format_report(metrics: dict) -> str:
    pct = lambda k: f"{100 * metrics[k]:6.2f} %"  # noqa: E731
    lines = ["zero-shot attributes of single-object scenes", f"{'':10s}" + "".join(f"{a:>10s}" for a in
                                                                                  ATTRIBUTES + ("all four",))]
    for name in ("seen", "held-out"):
        lines.append(f"{name:10s}" + "".join(f"{100 * metrics[f'attributes {name} {a}']:9.2f}%"
                                             for a in ATTRIBUTES + ("all four",)))
    lines += ["", f"zero-shot digits (MNIST test): {pct('digits')}", f"zero-shot clothes (Fashion-MNIST test): "
              f"{pct('clothes')}", "", "retrieval (recall; same attributes count / strict: the paired item only)"]
    for d in ("image->text", "text->image"):
        lines.append(f"  {d}: R@1 {pct(f'{d} R@1')}  R@5 {pct(f'{d} R@5')}   strict R@1 {pct(f'{d} R@1 strict')}"
                     f"  R@5 {pct(f'{d} R@5 strict')}")
    lines += ["", "binding: true caption scored above the swapped one (chance 50 %)"]
    for name in ("seen", "held-out"):
        lines.append(f"  {name:9s} objects swapped {pct(f'binding {name} objects')} (n={metrics[f'binding {name} objects n']})"
                     f"   colours swapped {pct(f'binding {name} colors')} (n={metrics[f'binding {name} colors n']})")
    return "\n".join(lines)


def main(argv=None) -> None:
    from t2ilib.checkpoint import load_pretrained

    p = argparse.ArgumentParser(prog="python -m t2ilib.eval.clip_benchmark", description=__doc__.split("\n")[0])
    p.add_argument("--model", default="clip", help="a shipped CLIP checkpoint (clip, clip_plain)")
    p.add_argument("--n", type=int, default=1000, help="scenes per measurement (default 1000)")
    args = p.parse_args(argv)
    if args.n < 10:
        p.error(f"--n: expected at least 10, got {args.n}")
    torch.manual_seed(0)
    model = load_pretrained(args.model)
    print(f"{args.model}: n = {args.n} scenes per measurement, MNIST / Fashion-MNIST: the 4000 shipped test images each")
    print(format_report(clip_benchmark(model, args.n)))


if __name__ == "__main__":
    main()
