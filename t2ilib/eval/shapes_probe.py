"""The shapes-world judge: an object counter and an attribute probe that together read, from an image, what a
caption would have to say.

Prompt fidelity is measured, not eyeballed: a generated image *matches* its caption when it holds as many objects
as the caption names and every attribute the probe reads equals the caption's (:func:`judge_images`,
:func:`caption_matches`). The count comes from :mod:`t2ilib.eval.shapes_count` (connected components of the
non-background pixels, no learning involved), because a network trained only on scenes with one or two objects
reads a picture with three as one with two. The probe is a small CNN with one classification head per attribute,
trained on rendered scenes. It sees the image in a *canonical* order, because a picture has no "first" object:

* ``count``: one or two objects (the probe's own guess; the judge uses the counter's);
* one object: ``shape0``, ``color0``, ``size0`` and its ``position`` (left/right/top/bottom/center);
* two objects: the ``axis`` of the relation (horizontal: "left of"/"right of", vertical: "above"/"below"),
  object 0 = the left (or upper) one, object 1 = the other, each with shape, colour and size.

"a red circle right of a blue square" therefore reads as axis = horizontal, object 0 = blue square, object 1 =
red circle -- the same as "a blue square left of a red circle", which is the same picture.

The probe is trained on renders from every (colour, shape) pair, including the pairs held out from the
generators: it is a measuring instrument, and must read the held-out combinations as well as the others.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from t2ilib.data.shapes import HELD_OUT_PAIRS
from t2ilib.data.shapes_captions import COLORS, POSITIONS, SIZES, parse_caption
from t2ilib.data.shapes_render import SHAPES
from t2ilib.model_spec import Describable
from t2ilib.train import evaluating

AXES = ("horizontal", "vertical")
HEADS = {"count": (1, 2), "position": POSITIONS, "axis": AXES,
         "shape0": SHAPES, "color0": COLORS, "size0": SIZES, "shape1": SHAPES, "color1": COLORS, "size1": SIZES}
OBJECT_HEADS = {1: ("position", "shape0", "color0", "size0"),  # the heads that apply to a scene of 1 or 2 objects
                2: ("axis", "shape0", "color0", "size0", "shape1", "color1", "size1")}
IGNORE = -100  # target of a head that does not apply (e.g. "axis" for a one-object scene)


def canonical(attrs: dict) -> dict:
    """Attributes of a scene (as :func:`parse_caption` gives them) in the probe's canonical form."""
    if attrs["n_objects"] == 1:
        return {"count": 1, "position": attrs["position"], "shape0": attrs["shape"], "color0": attrs["color"],
                "size0": attrs["size"]}
    a = tuple(attrs[f"{k}_a"] for k in ("shape", "color", "size"))
    b = tuple(attrs[f"{k}_b"] for k in ("shape", "color", "size"))
    first, second = (a, b) if attrs["relation"] in ("left of", "above") else (b, a)
    axis = "horizontal" if attrs["relation"] in ("left of", "right of") else "vertical"
    return {"count": 2, "axis": axis, **{f"{k}0": v for k, v in zip(("shape", "color", "size"), first)},
            **{f"{k}1": v for k, v in zip(("shape", "color", "size"), second)}}


def targets(attrs_list: list[dict]) -> dict[str, torch.Tensor]:
    """Class-index targets per head (IGNORE where a head does not apply)."""
    rows = [canonical(a) for a in attrs_list]
    return {h: torch.tensor([values.index(r[h]) if h in r else IGNORE for r in rows]) for h, values in HEADS.items()}


class ShapesProbe(Describable, nn.Module):
    """Conv features on the 32 x 32 image (kept spatial: positions matter), then one linear head per attribute."""

    def __init__(self, width: int = 32, resolution: int = 32):
        super().__init__()
        self.resolution = resolution
        w = width
        block = lambda i, o, s=1: [nn.Conv2d(i, o, 3, stride=s, padding=1), nn.BatchNorm2d(o), nn.ReLU()]  # noqa
        self.body = nn.Sequential(*block(3, w), *block(w, w), *block(w, 2 * w, 2), *block(2 * w, 2 * w),
                                  *block(2 * w, 4 * w, 2), *block(4 * w, 4 * w), nn.Flatten(),
                                  nn.Linear(4 * w * (resolution // 4) ** 2, 256), nn.ReLU(), nn.Dropout(0.1))
        self.heads = nn.ModuleDict({h: nn.Linear(256, len(v)) for h, v in HEADS.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 256): the features every head reads (a judge FID's feature space on the shapes world)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"images: expected (N, 3, H, W) in [-1, 1], got shape {tuple(x.shape)}")
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            x = F.interpolate(x, size=(self.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.features(x)
        return {h: head(f) for h, head in self.heads.items()}

    @torch.no_grad()
    def read(self, images: torch.Tensor, batch_size: int = 500, heads: tuple[str, ...] | None = None) -> list[dict]:
        """The canonical attributes the probe reads from each image: the heads its own count implies, or the
        ``heads`` given (the judge reads them all and keeps those of the counter's count)."""
        dev = next(self.parameters()).device
        idx = {h: [] for h in HEADS}
        with evaluating(self):
            for i in range(0, len(images), batch_size):
                out = self(images[i:i + batch_size].to(dev).float())
                for h in HEADS:
                    idx[h].append(out[h].argmax(-1).cpu())
        idx = {h: torch.cat(v).tolist() for h, v in idx.items()}
        rows = []
        for j in range(len(images)):
            count = HEADS["count"][idx["count"][j]]
            keys = heads or ("count", *OBJECT_HEADS[count])
            rows.append({h: HEADS[h][idx[h][j]] for h in keys})
        return rows


def probe_loss(model: ShapesProbe, batch) -> tuple[torch.Tensor, dict]:
    x, y = batch
    out = model(x)
    losses = [F.cross_entropy(out[h].float(), y[h], ignore_index=IGNORE) for h in HEADS]
    acc = (out["color0"].argmax(-1) == y["color0"]).float().mean()
    return torch.stack(losses).sum(), {"color0_accuracy": acc}


def attribute_accuracy(probe: ShapesProbe, images: torch.Tensor, attrs_list: list[dict]) -> dict[str, float]:
    """Per-head accuracy of the probe on images with known attributes (only where the head applies)."""
    read = probe.read(images)
    out = {}
    for h in HEADS:
        pairs = [(r.get(h), canonical(a)[h]) for r, a in zip(read, attrs_list) if h in canonical(a)]
        out[h] = sum(p == t for p, t in pairs) / len(pairs) if pairs else float("nan")
    return out


def judge_images(probe: ShapesProbe, images: torch.Tensor) -> list[dict]:
    """What the judge reads from each image: ``count``, the number of objects the counter finds (0, 1, 2, 3, ...),
    and for one or two objects the probe's heads for that many objects, in :func:`canonical` form. An image with
    no object or more than two has only its count: it matches no caption of the shapes world."""
    from t2ilib.eval.shapes_count import count_objects

    counts = count_objects(images.cpu()).tolist()
    reads = probe.read(images, heads=tuple(HEADS))
    return [{"count": n, **{h: r[h] for h in OBJECT_HEADS[n]}} if n in OBJECT_HEADS else {"count": n}
            for n, r in zip(counts, reads, strict=True)]


def caption_readings(captions: list[str]) -> list[dict]:
    """What the judge must read from an image for each caption (:func:`canonical` of the parsed caption)."""
    wanted = []
    for c in captions:
        attrs = parse_caption(c)
        if attrs is None:
            raise ValueError(f"captions: {c!r} is not a shapes-world caption")
        wanted.append(canonical(attrs))
    return wanted


def caption_matches(probe: ShapesProbe, images: torch.Tensor, captions: list[str]) -> list[bool]:
    """For each image: does it hold as many objects as its caption names, and every attribute the probe reads
    equal what the caption says?"""
    wanted = caption_readings(captions)
    if len(wanted) != len(images):
        raise ValueError(f"captions: expected one per image ({len(images)}), got {len(wanted)}")
    return [r == w for r, w in zip(judge_images(probe, images), wanted)]


def is_held_out(attrs: dict) -> bool:
    """Does a caption's scene use a (colour, shape) pair that no generator saw in training?"""
    pairs = [(attrs["color"], attrs["shape"])] if attrs["n_objects"] == 1 else \
        [(attrs["color_a"], attrs["shape_a"]), (attrs["color_b"], attrs["shape_b"])]
    return any(p in HELD_OUT_PAIRS for p in pairs)
