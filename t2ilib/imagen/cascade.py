"""Imagen's cascade (Saharia et al. 2022, Sec. 2): a base text-to-image model at low resolution, then
text-conditioned super-resolution models, each sampled with classifier-free guidance and thresholding.

    caption --base model (16 px)--> x_low --noise at level a--> super-resolution model (16 -> 32 px) --> image

Imagen: a frozen T5-XXL encoder, a 64 px base model (2 B parameters) and two upsamplers (64 -> 256 -> 1024 px; 600 M
and 400 M parameters), trained on ~460 M internal image-text pairs and ~400 M from LAION (Sec. 4.1); guidance and
large guidance weights at every stage (App. D.2), dynamic thresholding at the base and the upsamplers (Fig. A.10). The
course's cascade: a small text encoder trained from scratch with each stage, a 16 px base and one 16 -> 32 px
upsampler on the shapes world.
"""

from __future__ import annotations

import torch
from torch import nn

from t2ilib.data.shapes import render_scenes, scene_for_caption
from t2ilib.imagen.augmentation import downsample
from t2ilib.imagen.superres import SuperResUNet, upscale
from t2ilib.text.denoiser import TextConditionedUNet, generate

LEVEL = 0.2  # the noise level the base model's samples get before upscaling (Imagen: aug_level in [0.1, 0.3])


@torch.no_grad()
def generate_cascade(base: TextConditionedUNet | None, upsampler: SuperResUNet, captions: list[str], *,
                     guidance: tuple[float, float] = (3.0, 3.0), steps: tuple[int, int] = (25, 25),
                     level: float = LEVEL,
                     threshold: tuple = ("static", "static"), seed: int = 0, batch: int = 250,
                     precision: str | None = None, stages: bool = False, progress: bool = False):
    """Images (N, C, R, R) in [-1, 1] for ``captions`` through ``base`` then ``upsampler``, which reads the base
    model's samples noised at ``level``; ``guidance``, ``steps``, ``threshold``: per stage (base, upsampler).
    ``base=None``: a perfect base model, the shapes world's own pictures of the captions shrunk to the upsampler's
    input size (:func:`rendered_low_res`): the cascade's ceiling. ``stages=True`` returns
    ``{"base": low-resolution images, "final": images}``."""
    if isinstance(captions, str) or not captions:
        raise ValueError("captions: expected a non-empty list of strings")
    for name, value in (("guidance", guidance), ("steps", steps), ("threshold", threshold)):
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            raise ValueError(f"{name}: expected a pair (base model, upsampler), got {value!r}")
    if base is None:
        low = rendered_low_res(captions, upsampler.low_resolution, seed)
    else:
        _check_stages(base, upsampler)
        low = generate(base, captions, guidance=guidance[0], steps=steps[0], seed=seed, threshold=threshold[0],
                       batch=batch, precision=precision, progress=progress)
    final = upscale(upsampler, captions, low, level=level, guidance=guidance[1], steps=steps[1], seed=seed + 1,
                    threshold=threshold[1], batch=batch, precision=precision, progress=progress)
    return {"base": low, "final": final} if stages else final


def rendered_low_res(captions: list[str], resolution: int, seed: int = 0) -> torch.Tensor:
    """(N, 3, r, r) in [-1, 1]: each caption's scene as the shapes world renders it (32 px), shrunk to ``resolution``
    the way the upsampler's training inputs are: what a perfect base model would draw."""
    scenes = [scene_for_caption(c, seed=seed) for c in captions]
    return downsample(render_scenes(scenes).float().div(127.5).sub(1), resolution)


def _check_stages(base, upsampler) -> None:
    if base.config.get("resolution") != upsampler.low_resolution or \
            base.config["in_channels"] != upsampler.config["in_channels"]:
        raise ValueError(f"upsampler: it reads {upsampler.config['in_channels']}-channel {upsampler.low_resolution} px "
                         f"images, but the base model draws {base.config['in_channels']}-channel "
                         f"{base.config.get('resolution')} px ones")


class Cascade(nn.Module):
    """The base model and the upsampler as one text-to-image model (each stage is its own checkpoint):
    ``Cascade.pretrained()`` loads the shipped ``imagen_base`` and ``imagen_sr``. ``base=None``: the upsampler fed
    the shapes world's own low-resolution pictures (a perfect base model, :func:`rendered_low_res`)."""

    def __init__(self, base: TextConditionedUNet | None, upsampler: SuperResUNet):
        super().__init__()
        if base is not None:
            _check_stages(base, upsampler)
        self.base, self.upsampler = base, upsampler

    @classmethod
    def pretrained(cls, device: torch.device | str = "cpu", upsampler: str = "imagen_sr") -> "Cascade":
        from t2ilib.checkpoint import load_pretrained

        return cls(load_pretrained("imagen_base", device), load_pretrained(upsampler, device)).eval()

    @property
    def tokenizer(self):
        return (self.base or self.upsampler).tokenizer

    @property
    def max_tokens(self) -> int:
        return (self.base or self.upsampler).max_tokens

    def generate(self, captions: list[str], **options):
        """:func:`generate_cascade` with these two stages."""
        return generate_cascade(self.base, self.upsampler, captions, **options)
