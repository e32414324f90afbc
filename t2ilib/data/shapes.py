"""The shapes world: a procedural, captioned dataset for text conditioning, at any resolution.

A scene holds one or two objects. Each object has a shape (6), a colour (6) and a size (small/large); a
one-object scene also has a position (left/right/top/bottom/center), a two-object scene a relation
("a red circle left of a blue square"). Every image comes with its caption and its structured attributes.

Everything is deterministic: scene ``i`` of ``(seed, split)`` is always the same, whatever the batch size or
the order of requests, so training can resume mid-stream and evaluation sets are fixed.

Compositional generalisation: six (colour, shape) pairs are *held out*: no ``"train"`` or ``"test"`` scene
contains them, and every ``"held_out"`` scene contains at least one. Each colour and each shape still occurs
in training (the held-out pairs form a shifted diagonal of the 6 x 6 table), so a model that composes colour and
shape can draw a held-out pair it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from t2ilib.data.shapes_captions import (COLORS, ONE_TEMPLATES, POSITIONS, RELATIONS, SIZES, TWO_TEMPLATES,
                                         render_caption)
from t2ilib.data.shapes_render import EXTENT, SHAPES, render_objects

RADIUS = {"small": 0.12, "large": 0.2}  # in canvas units (the canvas is the unit square)
MARGIN = 0.03  # keep objects this far from the border
GAP = 0.04  # the least distance between two objects' nominal circles, in canvas units (1.3 px at 32 px)
HELD_OUT_PAIRS = frozenset((COLORS[i], SHAPES[(i + 2) % len(SHAPES)]) for i in range(len(COLORS)))
SPLITS = {"train": 0, "test": 1, "held_out": 2}


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    color: str
    size: str
    cx: float  # centre, canvas units, x to the right
    cy: float  # centre, canvas units, y downwards

    @property
    def radius(self) -> float:
        return RADIUS[self.size]


@dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeObject, ...]
    position: str | None = None  # one-object scenes
    relation: str | None = None  # two-object scenes: objects[0] <relation> objects[1]
    template: int = 0
    variant: int = 0
    caption: str = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "caption", render_caption(self.attributes(), self.template, self.variant))

    def attributes(self) -> dict:
        """The structured attributes a caption states (and a judge checks)."""
        if len(self.objects) == 1:
            o = self.objects[0]
            return {"n_objects": 1, "shape": o.shape, "color": o.color, "size": o.size, "position": self.position}
        a, b = self.objects
        return {"n_objects": 2, "shape_a": a.shape, "color_a": a.color, "size_a": a.size,
                "shape_b": b.shape, "color_b": b.color, "size_b": b.size, "relation": self.relation}

    def is_held_out(self) -> bool:
        return any((o.color, o.shape) in HELD_OUT_PAIRS for o in self.objects)


def _check_split(split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {tuple(SPLITS)}, got {split!r}")
    return SPLITS[split]


def _pair(rng: np.random.Generator, held_out: bool) -> tuple[str, str]:
    """A (colour, shape) pair, drawn uniformly from the held-out pairs or from the others."""
    while True:
        c, s = COLORS[rng.integers(len(COLORS))], SHAPES[rng.integers(len(SHAPES))]
        if ((c, s) in HELD_OUT_PAIRS) == held_out:
            return c, s


def _position_centre(rng: np.random.Generator, position: str, r: float) -> tuple[float, float]:
    lo, hi = r + MARGIN, 1 - r - MARGIN
    side = (lo, 0.35)  # within the left (or top) third
    mid = (0.42, 0.58)
    u = lambda a, b: float(rng.uniform(a, b))  # noqa: E731
    if position == "left":
        return u(*side), u(*mid)
    if position == "right":
        return u(1 - side[1], hi), u(*mid)
    if position == "top":
        return u(*mid), u(*side)
    if position == "bottom":
        return u(*mid), u(1 - side[1], hi)
    return u(0.45, 0.55), u(0.45, 0.55)


def _relation_centres(rng: np.random.Generator, relation: str, ra: float, rb: float):
    """Centres of A and B so that 'A <relation> B' holds unambiguously: separated along one axis with a gap,
    nearly aligned on the other."""
    gap = GAP
    first, second = (ra, rb) if relation in ("left of", "above") else (rb, ra)  # along the axis, low to high
    lo = first + MARGIN
    hi = 1 - MARGIN - second - (first + second + gap)
    p1 = float(rng.uniform(lo, hi))
    p2 = float(rng.uniform(p1 + first + second + gap, 1 - MARGIN - second))
    rmax = max(ra, rb)
    base = float(rng.uniform(rmax + MARGIN, 1 - rmax - MARGIN))
    off = [float(np.clip(base + rng.uniform(-0.04, 0.04), r + MARGIN, 1 - r - MARGIN)) for r in (ra, rb)]
    pa, pb = (p1, p2) if relation in ("left of", "above") else (p2, p1)
    if relation in ("left of", "right of"):
        return (pa, off[0]), (pb, off[1])
    return (off[0], pa), (off[1], pb)


def sample_scene(seed: int, split: str, index: int, n_objects: int | None = None) -> Scene:
    """Scene number ``index`` of the stream ``(seed, split)``; ``n_objects`` of 1 or 2 (None: either, 50/50)."""
    code = _check_split(split)
    if n_objects not in (None, 1, 2):
        raise ValueError(f"n_objects: expected 1, 2 or None (either), got {n_objects!r}")
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index: expected a non-negative int, got {index!r}")
    rng = np.random.default_rng([int(seed), code, int(index), {None: 0, 1: 1, 2: 2}[n_objects]])
    k = int(rng.integers(1, 3)) if n_objects is None else n_objects
    held = split == "held_out"
    # which objects carry a held-out pair (held-out split: at least one; others: none)
    held_flags = [held] if k == 1 else ([True, bool(rng.integers(2))] if held else [False, False])
    if k == 2 and held:
        rng.shuffle(held_flags)
    pairs = [_pair(rng, f) for f in held_flags]
    sizes = [SIZES[rng.integers(len(SIZES))] for _ in range(k)]
    variant = int(rng.integers(2))
    if k == 1:
        position = POSITIONS[rng.integers(len(POSITIONS))]
        cx, cy = _position_centre(rng, position, RADIUS[sizes[0]])
        obj = ShapeObject(pairs[0][1], pairs[0][0], sizes[0], cx, cy)
        return Scene((obj,), position=position, template=int(rng.integers(len(ONE_TEMPLATES))), variant=variant)
    relation = RELATIONS[rng.integers(len(RELATIONS))]
    (ax, ay), (bx, by) = _relation_centres(rng, relation, RADIUS[sizes[0]], RADIUS[sizes[1]])
    a = ShapeObject(pairs[0][1], pairs[0][0], sizes[0], ax, ay)
    b = ShapeObject(pairs[1][1], pairs[1][0], sizes[1], bx, by)
    return Scene((a, b), relation=relation, template=int(rng.integers(len(TWO_TEMPLATES))), variant=variant)


def scattered_objects(seed: int, index: int, n_objects: int) -> tuple[ShapeObject, ...]:
    """``n_objects`` (0 to 4) objects at random places, none closer to another than :data:`GAP` (the least spacing
    the captioned scenes keep; measured between the circles that hold the objects, ``EXTENT[shape] * r``): scenes
    with a known number of objects, for checking a counter. Crowded canvases are redrawn, so scenes with many
    objects hold more small ones. Any
    (colour, shape) pair may occur; there is no caption. Deterministic in ``(seed, index, n_objects)``."""
    if not isinstance(n_objects, (int, np.integer)) or isinstance(n_objects, bool) or not 0 <= n_objects <= 4:
        raise ValueError(f"n_objects: expected an int from 0 to 4, got {n_objects!r}")
    if not isinstance(index, (int, np.integer)) or index < 0:
        raise ValueError(f"index: expected a non-negative int, got {index!r}")
    rng = np.random.default_rng([int(seed), 7, int(index), int(n_objects)])
    while True:  # rejection sampling; restart with new sizes if a crowded canvas leaves no room
        placed: list[ShapeObject] = []
        for _ in range(n_objects):
            size, shape, color = SIZES[rng.integers(len(SIZES))], SHAPES[rng.integers(len(SHAPES))], \
                COLORS[rng.integers(len(COLORS))]
            r, e = RADIUS[size], RADIUS[size] * EXTENT[shape]
            for _try in range(200):
                cx, cy = (float(rng.uniform(e + MARGIN, 1 - e - MARGIN)) for _ in range(2))
                if all(np.hypot(cx - o.cx, cy - o.cy) >= e + o.radius * EXTENT[o.shape] + GAP for o in placed):
                    placed.append(ShapeObject(shape, color, size, cx, cy))
                    break
            else:
                break
        if len(placed) == n_objects:
            return tuple(placed)


def render_scenes(scenes: list[Scene] | list[tuple[ShapeObject, ...]], resolution: int = 32) -> torch.Tensor:
    """uint8 images ``(N, 3, R, R)`` of the scenes (each a :class:`Scene` or a tuple of objects)."""
    return render_objects([[(o.shape, o.color, o.cx, o.cy, o.radius) for o in getattr(s, "objects", s)]
                           for s in scenes], resolution)


@dataclass
class ShapesBatch:
    images: torch.Tensor  # float (N, 3, R, R) in [-1, 1]
    captions: list[str]
    scenes: list[Scene]

    @property
    def attributes(self) -> list[dict]:
        return [s.attributes() for s in self.scenes]


class ShapesWorld(torch.utils.data.Dataset):
    """A fixed-size, random-access view of the stream ``(seed, split)``: item ``i`` is scene ``start + i``.

    ``world[i]`` gives ``(image, caption)`` with the image as float ``[-1, 1]`` ``(3, R, R)``;
    :meth:`batch` renders many scenes at once (the fast path for on-the-fly training data).
    """

    def __init__(self, size: int = 10_000, resolution: int = 32, seed: int = 0, split: str = "train",
                 n_objects: int | None = None):
        _check_split(split)
        if not isinstance(size, int) or size <= 0:
            raise ValueError(f"size: expected a positive int, got {size!r}")
        if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 8:
            raise ValueError(f"resolution: expected an int >= 8, got {resolution!r}")
        self.size, self.resolution, self.seed, self.split, self.n_objects = size, resolution, seed, split, n_objects
        sample_scene(seed, split, 0, n_objects)  # validates n_objects early

    def __len__(self) -> int:
        return self.size

    def scene(self, i: int) -> Scene:
        if not 0 <= i < self.size:
            raise IndexError(f"index {i} out of range for a ShapesWorld of size {self.size}")
        return sample_scene(self.seed, self.split, i, self.n_objects)

    def __getitem__(self, i: int):
        s = self.scene(i)
        return render_scenes([s], self.resolution)[0].float().div(127.5).sub(1), s.caption

    def batch(self, start: int, n: int) -> ShapesBatch:
        """Scenes ``start .. start + n - 1`` (wrapping around the dataset size), rendered together."""
        scenes = [self.scene((start + j) % self.size) for j in range(n)]
        images = render_scenes(scenes, self.resolution).float().div(127.5).sub(1)
        return ShapesBatch(images, [s.caption for s in scenes], scenes)

    def batches(self, batch_size: int) -> Callable[[int], ShapesBatch]:
        """``step -> ShapesBatch`` of ``batch_size`` consecutive scenes (batch ``step`` starts at scene
        ``step * batch_size``): a pure function of the step, so a resumed run sees the batches it would have seen."""
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        return lambda step: self.batch(step * batch_size, batch_size)


def scene_from_attributes(attrs: dict, seed: int = 0) -> Scene:
    """A scene with the given attributes (as :func:`parse_caption` returns them); placement drawn from ``seed``."""
    rng = np.random.default_rng([int(seed), 7])
    if attrs.get("n_objects") == 1:
        r = RADIUS[attrs["size"]]
        cx, cy = _position_centre(rng, attrs["position"], r)
        return Scene((ShapeObject(attrs["shape"], attrs["color"], attrs["size"], cx, cy),), position=attrs["position"])
    (ax, ay), (bx, by) = _relation_centres(rng, attrs["relation"], RADIUS[attrs["size_a"]], RADIUS[attrs["size_b"]])
    a = ShapeObject(attrs["shape_a"], attrs["color_a"], attrs["size_a"], ax, ay)
    b = ShapeObject(attrs["shape_b"], attrs["color_b"], attrs["size_b"], bx, by)
    return Scene((a, b), relation=attrs["relation"])


def scene_for_caption(caption: str, seed: int = 0) -> Scene:
    """The ground-truth scene for a caption in the shapes-world grammar (clear error when it is not)."""
    from t2ilib.data.shapes_captions import parse_caption, vocabulary

    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("caption: expected a non-empty string such as 'a small red circle on the left'")
    attrs = parse_caption(caption)
    if attrs is None:
        unknown = sorted({w for w in caption.lower().replace(",", " ").split()} - set(vocabulary()))
        hint = f" Unknown words: {unknown}." if unknown else ""
        raise ValueError(f"caption {caption!r} is not in the shapes-world grammar.{hint} Examples: "
                         f"'a small red circle on the left', 'a large blue square left of a small green triangle'. "
                         f"Known colours {list(COLORS)}, shapes {list(SHAPES)}, sizes {list(SIZES)}.")
    return scene_from_attributes(attrs, seed)
