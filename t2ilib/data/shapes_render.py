"""Rasterise shapes-world scenes with signed distance functions (SDFs), vectorised over a batch in torch.

Coordinates are normalised to the unit square, x to the right and y downwards; pixel centres sit at
``(i + 0.5) / resolution``. Each shape is a signed distance ``d(p)`` (negative inside, in canvas units), and its
anti-aliased coverage of a pixel is ``clamp(0.5 - d * resolution, 0, 1)``: one pixel of soft edge at any size.
So one scene renders sharply at 16, 32 or 64 px, and a batch of 128 scenes takes a few milliseconds on a CPU.
"""

from __future__ import annotations

import math

import torch

# RGB in [0, 255]. Chosen to stay distinguishable at 16 px and for colour-blind readers where possible.
COLOR_RGB = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "blue": (40, 90, 230),
    "purple": (150, 60, 200),
}
BACKGROUND_RGB = (0, 0, 0)
SHAPES = ("circle", "square", "triangle", "diamond", "hexagon", "cross")
# the radius of the smallest circle about an object's centre that holds all of it, in units of its nominal radius
# r (see shape_sdf: a square's corners, at 0.85 * sqrt(2) r, reach past r; the triangle sits 0.2 r low)
EXTENT = {"circle": 1.0, "square": 1.203, "triangle": 1.213, "diamond": 1.0, "hexagon": 1.04, "cross": 1.054}


def _box(dx: torch.Tensor, dy: torch.Tensor, hx: torch.Tensor, hy: torch.Tensor) -> torch.Tensor:
    """Exact SDF of an axis-aligned box with half-sizes (hx, hy)."""
    qx, qy = dx.abs() - hx, dy.abs() - hy
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    inside = torch.maximum(qx, qy).clamp(max=0)
    return outside + inside


def _regular_polygon(dx: torch.Tensor, dy: torch.Tensor, inradius: torch.Tensor, n: int, phase: float):
    """SDF (exact inside, slightly rounded outside corners) of a regular n-gon: max over its edges' half-planes."""
    d = None
    for k in range(n):
        a = phase + 2 * math.pi * k / n
        e = dx * math.cos(a) + dy * math.sin(a) - inradius
        d = e if d is None else torch.maximum(d, e)
    return d


def shape_sdf(shape: str, dx: torch.Tensor, dy: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Signed distance of ``shape`` of nominal radius ``r`` at offsets (dx, dy) from its centre.

    The nominal radius is half the object's extent; each shape is scaled so that shapes of one size look
    equally large.
    """
    if shape == "circle":
        return torch.sqrt(dx**2 + dy**2) - r
    if shape == "square":
        h = 0.85 * r
        return _box(dx, dy, h, h)
    if shape == "diamond":  # a square turned 45 degrees: L1 ball
        return (dx.abs() + dy.abs() - r) / math.sqrt(2)
    if shape == "triangle":  # equilateral, pointing up (y grows downwards), centred on its centroid
        circumradius = 1.1 * r
        # centroid offset so that the triangle sits centred in its box
        return _regular_polygon(dx, dy - 0.2 * r, circumradius / 2, 3, math.pi / 2)
    if shape == "hexagon":
        return _regular_polygon(dx, dy, 0.9 * r, 6, 0.0)
    if shape == "cross":  # a plus sign: union (min) of two bars
        thin = 0.33 * r
        return torch.minimum(_box(dx, dy, r, thin), _box(dx, dy, thin, r))
    raise ValueError(f"shape: expected one of {SHAPES}, got {shape!r}")


def render_objects(objects: list[list[tuple[str, str, float, float, float]]], resolution: int) -> torch.Tensor:
    """Render scenes given as lists of ``(shape, color, cx, cy, r)``; returns uint8 ``(N, 3, R, R)``.

    Objects are painted in order (later ones on top) with anti-aliased alpha.
    """
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution < 8:
        raise ValueError(f"resolution: expected an int >= 8, got {resolution!r}")
    n = len(objects)
    coords = (torch.arange(resolution, dtype=torch.float32) + 0.5) / resolution
    py, px = torch.meshgrid(coords, coords, indexing="ij")  # (R, R)
    bg = torch.tensor(BACKGROUND_RGB, dtype=torch.float32).view(1, 3, 1, 1)
    canvas = bg.expand(n, 3, resolution, resolution).clone()
    max_objects = max((len(o) for o in objects), default=0)
    for slot in range(max_objects):
        # group this slot's objects by shape so each SDF runs once, vectorised over the batch
        by_shape: dict[str, list[tuple[int, str, float, float, float]]] = {}
        for i, objs in enumerate(objects):
            if slot < len(objs):
                shape, color, cx, cy, r = objs[slot]
                by_shape.setdefault(shape, []).append((i, color, cx, cy, r))
        for shape, items in by_shape.items():
            idx = torch.tensor([it[0] for it in items])
            cx = torch.tensor([it[2] for it in items], dtype=torch.float32).view(-1, 1, 1)
            cy = torch.tensor([it[3] for it in items], dtype=torch.float32).view(-1, 1, 1)
            r = torch.tensor([it[4] for it in items], dtype=torch.float32).view(-1, 1, 1)
            try:
                rgb = torch.tensor([COLOR_RGB[it[1]] for it in items], dtype=torch.float32).view(-1, 3, 1, 1)
            except KeyError as e:
                raise ValueError(f"color: expected one of {tuple(COLOR_RGB)}, got {e.args[0]!r}") from None
            d = shape_sdf(shape, px - cx, py - cy, r)
            alpha = (0.5 - d * resolution).clamp(0, 1).unsqueeze(1)  # (k, 1, R, R)
            canvas[idx] = canvas[idx] * (1 - alpha) + rgb * alpha
    return canvas.round().clamp(0, 255).to(torch.uint8)
