"""The unCLIP decoder: a diffusion model that paints an image from a CLIP *image* embedding (Ramesh et al. 2022,
Sec. 2.1).

DALL-E 2 inverts CLIP's image encoder. Its decoder is GLIDE's UNet with the CLIP image embedding added twice:

    "projecting and adding CLIP embeddings to the existing timestep embedding, and by projecting CLIP embeddings
    into four extra tokens of context that are concatenated to the sequence of outputs from the GLIDE text encoder."

This decoder is text-free: it models P(x | z_i), so the four projected tokens are the whole context its
cross-attention reads. The paper's decoder models P(x | z_i, y): it keeps GLIDE's text path (the caption dropped 50 %
of the time in training), "but find that it offers little help in this regard" (Sec. 2.1). The course's UNet
(:class:`t2ilib.nn.UNet`) already has both paths: ``cond`` (an MLP of the vector added to the time embedding) and ``context`` (tokens read
by cross-attention at the lowest resolutions and in the middle).

Classifier-free guidance (as in the paper, "randomly setting the CLIP embeddings to zero ... 10% of the time",
Sec. 2.1; Sec. 5.1 and Fig. 8 say 5 %):
the null condition is the zero vector, so one network learns p(x | z_i) and p(x); sampling extrapolates from the
second towards the first (:func:`t2ilib.diffusion.guidance.guided_model`).

Where the miniature differs: DALL-E 2 decodes at 64 x 64 (3.5 B parameters) and two diffusion upsamplers take it to
256 and 1024 px; this decoder paints the shapes world's 32 x 32 images directly, with 3.1 M parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from t2ilib.diffusion.denoiser import DiffusionModel
from t2ilib.nn import UNet

P_UNCOND = 0.1


class UnclipDecoder(DiffusionModel):
    """UNet(x_t, t | z_i): ``embed_dim``-dim CLIP image embeddings -> ``resolution`` px images. ``context_tokens``
    tokens of ``context_dim`` are projected from the embedding for cross-attention; other keyword arguments go to
    the UNet."""

    def __init__(self, embed_dim: int = 96, context_tokens: int = 4, context_dim: int = 128, resolution: int = 32,
                 schedule: str = "cosine", num_steps: int = 1000, prediction: str = "v_prediction", **unet_kwargs):
        super().__init__(schedule, num_steps, prediction)
        if not (isinstance(context_tokens, int) and context_tokens >= 1):
            raise ValueError(f"context_tokens: expected an int >= 1, got {context_tokens!r}")
        self.embed_dim, self.context_tokens, self.context_dim, self.resolution = (embed_dim, context_tokens,
                                                                                  context_dim, resolution)
        self.to_context = nn.Linear(embed_dim, context_tokens * context_dim)
        self.unet = UNet(cond_dim=embed_dim, context_dim=context_dim, **unet_kwargs)

    def conditioning(self, image_embeds: torch.Tensor) -> dict[str, torch.Tensor]:
        """The UNet's keyword arguments for (N, D) image embeddings: the vector (added to the time embedding) and
        its ``context_tokens`` projected tokens (cross-attention)."""
        if image_embeds.ndim != 2 or image_embeds.shape[1] != self.embed_dim:
            raise ValueError(f"image_embeds: expected (N, {self.embed_dim}) CLIP image embeddings, got "
                             f"{tuple(image_embeds.shape)}")
        context = self.to_context(image_embeds).view(len(image_embeds), self.context_tokens, self.context_dim)
        return {"cond": image_embeds, "context": context}

    def forward(self, x: torch.Tensor, t, image_embeds: torch.Tensor) -> torch.Tensor:
        if len(image_embeds) != len(x):
            raise ValueError(f"image_embeds: expected one embedding per image ({len(x)}), got {len(image_embeds)}")
        return self.unet(x, t, **self.conditioning(image_embeds))

    @staticmethod
    def drop_embeddings(image_embeds: torch.Tensor, p_uncond: float, generator: torch.Generator) -> torch.Tensor:
        """Condition dropout: each embedding becomes the null condition (zeros) with probability ``p_uncond``."""
        if not 0.0 <= p_uncond < 1.0:
            raise ValueError(f"p_uncond: expected a probability in [0, 1), got {p_uncond!r}")
        keep = (torch.rand(len(image_embeds), generator=generator) >= p_uncond).to(image_embeds.device)
        return image_embeds * keep[:, None].to(image_embeds.dtype)

    @torch.no_grad()
    def generate(self, image_embeds: torch.Tensor, *, guidance: float = 3.0, steps: int = 25, eta: float = 0.0,
                 seed: int = 0, noise: torch.Tensor | None = None, progress: bool = False) -> torch.Tensor:
        """Images (N, C, R, R) in [-1, 1] painted from (N, D) image embeddings: DDIM ``steps`` (``eta``), guidance
        at Imagen/diffusers scale (1: none). ``noise``: the starting x_T (e.g. the same noise for every embedding of
        an interpolation); otherwise drawn from ``seed``."""
        from t2ilib.diffusion.guidance import guided_model

        if not (isinstance(guidance, (int, float)) and guidance >= 0):
            raise ValueError(f"guidance: expected a number >= 0 (1 = no guidance), got {guidance!r}")
        self.eval()
        z = image_embeds.to(self.device, torch.float32)
        shape = (len(z), self.unet.config["in_channels"], self.resolution, self.resolution)
        model = guided_model(self, {"image_embeds": z}, {"image_embeds": torch.zeros_like(z)}, float(guidance))
        x = self.sample(shape, model=model, sampler="ddim", steps=steps, eta=eta, clip_x0=True, x_T=noise,
                        generator=torch.Generator().manual_seed(seed), progress=progress)
        return x.float().cpu().clamp(-1, 1)
