"""A text-conditioned super-resolution diffusion model: Imagen's upsampler (Saharia et al. 2022, Sec. 2.4-2.5).

    x_t (N, C, R, R) --concat channels-- upsample(z_a) (N, C, R, R)   z_a: the low-resolution image, noised at a
        |                                                              (noise conditioning augmentation)
    UNet(., t, noise_level=a, cond=pooled caption, context=caption tokens) -> eps / x_0 / v at R x R

It is a :class:`t2ilib.text.denoiser.TextConditionedUNet` (same text encoders, same null caption for guidance)
whose UNet also reads the upsampled low-resolution image as extra input channels, as SR3 (Saharia et al. 2021) and
the cascaded diffusion models (Ho et al. 2021) do (Imagen's paper does not say how its upsamplers read the image),
and the augmentation level a through an embedding added to the time embedding (:mod:`t2ilib.imagen.augmentation`).
Classifier-free guidance drops only the caption: the conditional and the unconditional call see the same
low-resolution image (Imagen drops only the text in training, "for all three models", Sec. 4.1).

Training (:func:`superres_batches`): shrink each training image to the low resolution (box filter), noise it at
a ~ U[0, max_level], upsample it, and train the usual denoising loss on the full-resolution image.
"""

from __future__ import annotations

from typing import Callable

import torch

from t2ilib.diffusion.guidance import guided_model
from t2ilib.imagen.augmentation import (check_level, downsample, level_embedding_input, noise_augment,
                                        upsample)
from t2ilib.text.denoiser import NULL_CAPTION, TextConditionedUNet, sample_with_threshold


class SuperResUNet(TextConditionedUNet):
    """Caption + a ``low_resolution`` image -> a ``resolution`` image. Keyword arguments: those of
    :class:`TextConditionedUNet` (text encoder, conditioning, schedule, prediction, UNet sizes)."""

    def __init__(self, low_resolution: int = 16, **kwargs):
        resolution = kwargs.get("resolution", 32)
        if not isinstance(low_resolution, int) or not 0 < low_resolution < resolution or resolution % low_resolution:
            raise ValueError(f"low_resolution: expected an int that divides resolution={resolution} and is smaller, "
                             f"got {low_resolution!r}")
        for key in ("low_res_channels", "noise_level_embed"):
            if key in kwargs:
                raise ValueError(f"{key}: set by SuperResUNet itself (the low-resolution image has the image's "
                                 f"channels and its noise level is always embedded)")
        super().__init__(**kwargs, low_res_channels=kwargs.get("in_channels", 1), noise_level_embed=True)
        self.low_resolution = low_resolution
        self.config["low_resolution"] = low_resolution

    def condition(self, low_res: torch.Tensor, level, noise: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The UNet's image-conditioning arguments for ``low_res`` (N, C, low_resolution, low_resolution) in
        [-1, 1]: noised at ``level`` (float or (N,), in [0, 1]; ``noise`` of low_res's shape or a draw from
        ``generator``), upsampled to the model's resolution, and the level's embedding input."""
        lr = self.low_resolution
        if low_res.ndim != 4 or tuple(low_res.shape[1:]) != (self.config["in_channels"], lr, lr):
            raise ValueError(f"low_res: expected (N, {self.config['in_channels']}, {lr}, {lr}) images in [-1, 1], got "
                             f"{tuple(low_res.shape)}")
        low = low_res.float()
        if noise is None:
            noise = torch.randn(low.shape, generator=generator).to(low.device)
        z = noise_augment(low, check_level(level, len(low)).to(low.device), noise.to(low.device, low.dtype))
        return {"low_res": upsample(z, self.config["resolution"]),
                "noise_level": level_embedding_input(level, len(low), low.device)}

    def forward(self, x: torch.Tensor, t, captions: list[str] | None = None, low_res: torch.Tensor | None = None,
                noise_level: torch.Tensor | None = None, **encoded) -> torch.Tensor:
        """``model(x_t, t, captions, low_res, noise_level)`` with the output of :meth:`condition` (or the
        conditioning of ``encode(captions)`` as keywords instead of ``captions``)."""
        if low_res is None or noise_level is None:
            raise ValueError("low_res, noise_level: a super-resolution model needs its low-resolution image and its "
                             "noise level (see SuperResUNet.condition)")
        return self.unet(x, t, low_res=low_res, noise_level=noise_level, **self.encoded(x, captions, encoded))

    def guided(self, captions: list[str], scale: float, image_condition: dict | None = None):
        """``model(x, t)`` with classifier-free guidance on the caption; both calls read ``image_condition`` (the
        output of :meth:`condition`)."""
        if image_condition is None:
            raise ValueError("image_condition: expected the output of SuperResUNet.condition(low_res, level)")
        with torch.no_grad():
            cond = {**self.encode(list(captions)), **image_condition}
            null = {**self.encode([NULL_CAPTION] * len(captions)), **image_condition}
        return guided_model(self, cond, null, scale)


def superres_batches(captioned: Callable[[int], tuple], low_resolution: int, max_level: float,
                     seed: int = 0) -> Callable[[int], tuple]:
    """``step -> (x_0, captions, low_res, noise_level)`` from ``captioned(step) -> (x_0, captions)``: the low-resolution
    condition is x_0 shrunk to ``low_resolution``, noised at a ~ U[0, max_level] (``max_level`` 0: no
    augmentation) and upsampled back. A pure function of the step (resumable). Wrap with
    :func:`t2ilib.diffusion.noised_batches` for the denoising loss."""
    check_level(max_level)

    def at(step: int) -> tuple:
        x0, captions = captioned(step)
        g = torch.Generator().manual_seed(seed * 1_000_003 + step + 29)
        level = torch.rand(len(x0), generator=g) * max_level
        low = downsample(x0.float(), low_resolution)
        z = noise_augment(low, level.to(low.device), torch.randn(low.shape, generator=g).to(low.device))
        return x0, captions, upsample(z, x0.shape[-1]).to(x0.dtype), level_embedding_input(level, len(x0), x0.device)
    return at


@torch.no_grad()
def upscale(model: SuperResUNet, captions: list[str], low_res: torch.Tensor, *, level: float = 0.0,
            guidance: float = 3.0, steps: int = 25, seed: int = 0, threshold="static", batch: int = 250,
            precision: str | None = None, progress: bool = False) -> torch.Tensor:
    """Images (N, C, R, R) in [-1, 1]: ``low_res`` (N, C, r, r) upscaled under ``captions``, its noise level at
    sampling ``level``; guidance, steps, threshold as in :func:`t2ilib.text.denoiser.generate`."""
    if isinstance(captions, str) or len(captions) != len(low_res):
        raise ValueError(f"captions: expected a list of {len(low_res)} strings (one per low-resolution image)")
    device = model.vocab_checksum.device
    g = torch.Generator().manual_seed(seed)
    r, c = model.config["resolution"], model.config["in_channels"]
    out = []
    for i in range(0, len(captions), batch):
        chunk = list(captions[i:i + batch])
        image_condition = model.condition(low_res[i:i + batch].to(device), level, generator=g)
        out.append(sample_with_threshold(model, model.guided(chunk, guidance, image_condition), (len(chunk), c, r, r),
                                         steps=steps, threshold=threshold, generator=g, precision=precision,
                                         progress=progress).cpu())
    return torch.cat(out).clamp(-1, 1)
