"""Counting objects by connected components: the part of the shapes judge that does not trust a network.

A classifier can only answer the questions it was trained on: a probe trained on scenes with one or two objects
reads a picture with three objects as one with two. Counting does not need learning at all. Shapes-world scenes
are bright objects on a black background, so

1. a pixel is *foreground* if its brightest channel exceeds :data:`FOREGROUND` (a third of full scale: an
   anti-aliased edge pixel half covered by the dimmest colour, green, is just above it, the background plus pixel
   noise is far below);
2. foreground pixels are labelled by *connected components* (4-neighbourhood: two pixels belong to one object if a
   path of foreground pixels, each a horizontal or vertical step from the last, joins them) -- the classic
   two-pass labelling of Rosenfeld and Pfaltz (1966), done here as a parallel min-label propagation so it runs
   on a batch on any device;
3. components smaller than :data:`MIN_AREA` pixels (at 32 x 32) are specks, not objects: the smallest object the
   renderer draws, a small triangle, covers about 23 pixels.

Every scene the renderer makes keeps its objects at least 0.04 canvas units (1.3 pixels at 32 px) apart, so on
true renders each object is its own component; :func:`counting_accuracy` checks that on scenes with 0-4 objects
(``python -m t2ilib.eval.shapes_count`` prints it). The attribute probe (:mod:`t2ilib.eval.shapes_probe`) then
reads what the objects are; the count decides which of its heads apply.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

FOREGROUND = 1 / 3  # brightest channel, as a fraction of full scale (images in [-1, 1]: x > -1 + 2 / 3)
MIN_AREA = 8  # pixels at RESOLUTION x RESOLUTION
RESOLUTION = 32
COUNT_WORDS = ("none", "one", "two", "more than two")


def foreground(images: torch.Tensor) -> torch.Tensor:
    """Boolean masks ``(N, H, W)``: pixels whose brightest channel is above :data:`FOREGROUND`."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected (N, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")
    return images.float().amax(1) > -1 + 2 * FOREGROUND


def connected_components(mask: torch.Tensor, max_iterations: int | None = None) -> torch.Tensor:
    """Label the 4-connected components of boolean masks ``(N, H, W)``.

    Returns int64 labels ``(N, H, W)``: 0 on background; on a component, one plus the flat index (``row * W +
    col``) of its first pixel in reading order, so the labels are canonical (equal masks give equal labels). Every
    foreground pixel starts with its own index and repeatedly takes the smallest label among itself and its four
    neighbours that are foreground; when nothing changes, each component carries its minimum everywhere.
    """
    if mask.ndim != 3 or mask.dtype != torch.bool:
        raise ValueError(f"mask: expected a bool tensor (N, H, W), got {mask.dtype} of shape {tuple(mask.shape)}")
    n, h, w = mask.shape
    if h * w >= 2**24:
        raise ValueError(f"mask: at most 2**24 pixels per image (labels are exact float32 integers), got {h} x {w}")
    big = float(h * w + 1)
    index = torch.arange(1, h * w + 1, device=mask.device, dtype=torch.float32).view(1, 1, h, w).expand(n, 1, h, w)
    m = mask[:, None]
    labels = torch.where(m, index, big)  # background: larger than any label, so a minimum never takes it
    for _ in range(max_iterations or h * w):
        # min over the 4-neighbourhood = -(max-pool of -labels) along rows and along columns
        across = -F.max_pool2d(-labels, (1, 3), stride=1, padding=(0, 1))
        down = -F.max_pool2d(-labels, (3, 1), stride=1, padding=(1, 0))
        new = torch.where(m, torch.minimum(across, down), big)
        if torch.equal(new, labels):
            break
        labels = new
    return torch.where(m, labels, 0.0)[:, 0].long()


def component_areas(labels: torch.Tensor) -> list[dict[int, int]]:
    """Per image, ``{label: number of pixels}`` for every component of :func:`connected_components`' output."""
    out = []
    for lab in labels:
        values, counts = torch.unique(lab[lab > 0], return_counts=True)
        out.append(dict(zip(values.tolist(), counts.tolist())))
    return out


def count_objects(images: torch.Tensor, min_area: int = MIN_AREA) -> torch.Tensor:
    """The number of objects in each image ``(N, 3, H, W)`` in [-1, 1]: connected foreground components of at least
    ``min_area`` pixels, after resizing to 32 x 32 (the resolution the thresholds are set for; smaller images are
    refused: at 16 px the renderer's 1.3 px gap between objects is 0.6 px, and neighbours merge)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images: expected (N, 3, H, W) in [-1, 1], got shape {tuple(images.shape)}")
    if min(images.shape[-2:]) < RESOLUTION:
        raise ValueError(f"images: expected at least {RESOLUTION} x {RESOLUTION} pixels (below that the gap between "
                         f"two objects is under a pixel and they merge), got {tuple(images.shape[-2:])}")
    if images.shape[-2:] != (RESOLUTION, RESOLUTION):
        images = F.interpolate(images.float(), size=(RESOLUTION, RESOLUTION), mode="bilinear", antialias=True,
                               align_corners=False)
    areas = component_areas(connected_components(foreground(images)))
    return torch.tensor([sum(a >= min_area for a in per.values()) for per in areas], dtype=torch.int64)


def count_word(n: int) -> str:
    """0 -> "none", 1 -> "one", 2 -> "two", 3 or more -> "more than two"."""
    if n < 0:
        raise ValueError(f"n: expected a count >= 0, got {n}")
    return COUNT_WORDS[min(n, 3)]


def counting_accuracy(n_per_count: int = 500, counts=(0, 1, 2, 3, 4), noise: float = 0.0, seed: int = 0,
                      resolution: int = RESOLUTION) -> dict[int, float]:
    """Fraction of true renders with ``k`` objects (:func:`t2ilib.data.shapes.scattered_objects`) that
    :func:`count_objects` counts as ``k``, per k; ``noise`` adds Gaussian pixel noise of that standard deviation
    (in [-1, 1] units) before counting."""
    from t2ilib.data.shapes import render_scenes, scattered_objects

    out = {}
    g = torch.Generator().manual_seed(seed)
    for k in counts:
        scenes = [scattered_objects(seed, i, k) for i in range(n_per_count)]
        x = render_scenes(scenes, resolution).float().div(127.5).sub(1)
        if noise:
            x = (x + noise * torch.randn(x.shape, generator=g)).clamp(-1, 1)
        out[k] = float((count_objects(x) == k).float().mean())
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m t2ilib.eval.shapes_count",
                                description="accuracy of the object counter on true renders with 0-4 objects")
    p.add_argument("--n", type=int, default=2000, help="scenes per count and noise level")
    p.add_argument("--noise", nargs="+", type=float, default=[0.0, 0.1, 0.2],
                   help="standard deviations of Gaussian pixel noise, in [-1, 1] units")
    p.add_argument("--resolution", nargs="+", type=int, default=[32, 64])
    args = p.parse_args(argv)
    if args.n < 1 or any(s < 0 for s in args.noise) or any(r < RESOLUTION for r in args.resolution):
        p.error(f"--n must be >= 1, --noise >= 0 and --resolution >= {RESOLUTION}, got {args.n}, {args.noise}, "
                f"{args.resolution}")
    counts = (0, 1, 2, 3, 4)
    print(f"object counter on true renders, {args.n} scenes per count (foreground: brightest channel > "
          f"{FOREGROUND:.2f} of full scale; components of >= {MIN_AREA} px at {RESOLUTION} px)\n")
    print("| resolution | pixel noise | " + " | ".join(f"{k} objects" for k in counts) + " |")
    print("|---" * (len(counts) + 2) + "|", flush=True)
    for r in args.resolution:
        for s in args.noise:
            acc = counting_accuracy(args.n, counts, s, resolution=r)
            print(f"| {r} px | {s} | " + " | ".join(f"{100 * acc[k]:.2f} %" for k in counts) + " |", flush=True)


if __name__ == "__main__":
    main()
