"""Noise conditioning augmentation (Ho et al. 2021, "Cascaded Diffusion Models", Sec. 3; Imagen, Saharia et al. 2022,
Sec. 2.4).

A super-resolution model in a cascade is *trained* on real low-resolution images (the training images, shrunk) but
*sampled* on the base model's samples, which are wrong in small ways the real ones never are. Trained on clean
inputs, the upsampler copies those errors faithfully (or is thrown by them). The fix: corrupt the low-resolution
conditioning image with Gaussian noise at a random level a during training, and tell the model a:

    z_a = sqrt(abar(a)) x_low + sqrt(1 - abar(a)) eps,    eps ~ N(0, I),   a ~ U[0, a_max]    (training)

at the low resolution, before the image is upsampled to meet x_t, with abar the continuous cosine schedule (Nichol &
Dhariwal 2021, Eq. 17): a = 0 leaves the image clean, a = 1 leaves pure noise. Imagen calls a the ``aug_level``,
draws it from [0, 1] in training and sweeps it at sampling ("for our best samples, we generally use aug_level in
[0.1, 0.3]", App. D.2): a little noise hides the base model's artefacts, too much erases what the base model drew
(chapter 9 sweeps it). The paper says only that the model is conditioned on a; here it is embedded like a
timestep and added to the time embedding (:class:`t2ilib.nn.UNet` ``noise_level_embed``). The embedding takes
``NOISE_LEVEL_SCALE * a``, on the scale of the timesteps (0..999).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from t2ilib.diffusion.forward import expand_like
from t2ilib.diffusion.schedules import cosine_alpha_bar

NOISE_LEVEL_SCALE = 1000.0  # a in [0, 1] -> the embedding's input, on the scale of the timesteps 0..999


def check_level(level, n: int | None = None) -> torch.Tensor:
    """``level`` (a float or (N,) tensor) as a float tensor, checked to lie in [0, 1]."""
    a = torch.as_tensor(level, dtype=torch.float32)
    if a.ndim > 1 or (a.ndim == 1 and n is not None and len(a) != n) or not bool(((a >= 0) & (a <= 1)).all()):
        raise ValueError(f"level: expected a noise level in [0, 1] (0 = clean, 1 = pure noise), one float or one per "
                         f"image{'' if n is None else f' ({n})'}, got {level!r}")
    return a


def noise_augment(low_res: torch.Tensor, level, noise: torch.Tensor) -> torch.Tensor:
    """z_a = sqrt(abar(a)) x + sqrt(1 - abar(a)) eps: ``low_res`` (N, C, H, W) noised at ``level`` a (float or
    (N,)) with ``noise`` eps of its shape."""
    if noise.shape != low_res.shape:
        raise ValueError(f"noise: expected the shape of low_res {tuple(low_res.shape)}, got {tuple(noise.shape)}")
    abar = expand_like(cosine_alpha_bar(check_level(level, len(low_res))).float(), low_res)
    return abar.sqrt() * low_res + (1 - abar).sqrt() * noise


def upsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear upsampling to ``size`` x ``size``: how the low-resolution image meets x_t (channels concatenated)."""
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area (box-filter) downsampling to ``size`` x ``size``: how a training image becomes a low-resolution one."""
    if images.shape[-1] % size or images.shape[-2] % size:
        raise ValueError(f"size: expected a divisor of the image size {tuple(images.shape[-2:])}, got {size}")
    return F.interpolate(images, size=(size, size), mode="area")


def level_embedding_input(level, n: int, device) -> torch.Tensor:
    """(N,) inputs of the noise-level embedding for ``level`` (float or (N,)): NOISE_LEVEL_SCALE * a."""
    a = check_level(level, n)
    return (a.expand(n) if a.ndim == 0 else a).to(device) * NOISE_LEVEL_SCALE
